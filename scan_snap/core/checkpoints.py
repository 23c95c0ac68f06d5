"""Orbax checkpoints of finished chunks, so that a killed sweep resumes where it stopped; and
what binds every checkpoint (these and WikiText's) to what made it.

A chunk (a block of seeds × all learning-rate pairs of one data spec) is the unit of work: its
metrics are saved as soon as it is trained, under checkpoints/<group>/chunk_<i>. Orbax writes a
checkpoint to a temporary folder and renames it when complete, so a kill at any moment leaves
only whole checkpoints.

Each checkpoint records, in its orbax metadata, a fingerprint of what its numbers depend on
(the resolved config's result-relevant part and RESULTS_VERSION) and a checksum of its arrays.
A checkpoint is restored only when both hold: one that fails its checksum or cannot be read is
reported and computed again, and one of another fingerprint stops the run.
"""

import hashlib
import json
import pathlib
from typing import Any, Callable

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from scan_snap.core import outputs

# The version of what the code computes. Bump it with any change that alters a run's numbers
# (or the layout of its checkpoints): the checkpoints of earlier versions are then refused.
RESULTS_VERSION = 1

_SLASH = '~'  # Metric keys hold '/', which orbax would read as nesting.


def fingerprint(**made_by) -> str:
  """The sha256 of RESULTS_VERSION and `made_by` (JSON values: what a checkpoint's numbers
  depend on)."""
  text = json.dumps({'results_version': RESULTS_VERSION, **made_by}, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def checksum(made_by: str, tree: Any) -> str:
  """The sha256 of a fingerprint and of every array of a pytree: its path, dtype, shape and
  bytes."""
  digest = hashlib.sha256(made_by.encode())
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    array = np.ascontiguousarray(leaf)
    digest.update(f'{jax.tree_util.keystr(path)} {array.dtype.str} {array.shape}\n'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def record(made_by: str, tree: Any) -> dict[str, str]:
  """The custom metadata that binds a checkpoint of `tree` to its fingerprint."""
  return {'fingerprint': made_by, 'sha256': checksum(made_by, tree)}


def verified(workdir: pathlib.Path, path: pathlib.Path,
             read: Callable[[], tuple[Any, dict]], made_by: str, otherwise: str) -> Any | None:
  """The tree of read() → (tree, the checkpoint's record) when its checksum holds and it was
  made by `made_by`. A checkpoint that cannot be read or fails its checksum gives None and one
  warning, which ends with what happens `otherwise`; one of another fingerprint raises
  outputs.WorkdirError."""
  try:
    tree, saved = read()
    damage = None if saved.get('sha256') == checksum(saved.get('fingerprint', ''), tree) else (
        'its arrays do not match their checksum')
  except Exception as error:  # pylint: disable=broad-except  # Damaged files fail in many ways.
    damage = f'{type(error).__name__}: {(str(error).splitlines() or [""])[0]}'
  if damage:
    logging.warning('checkpoint %s is damaged (%s); %s', path, damage, otherwise)
    return None
  if saved['fingerprint'] != made_by:
    raise outputs.WorkdirError(
        f'{workdir} holds checkpoints made by another config or code version '
        f'({path.relative_to(workdir)}): pass --overwrite to replace them, or choose another '
        '--workdir')
  return tree


class ChunkStore:
  """Saves and restores the metrics of each chunk of each group."""

  def __init__(self, directory: pathlib.Path):
    self.directory = directory.resolve()
    self._checkpointer = ocp.StandardCheckpointer()

  def _path(self, group: str, chunk: int) -> pathlib.Path:
    return self.directory / group / f'chunk_{chunk}'

  def load(self, group: str, chunk: int, made_by: str) -> dict[str, np.ndarray] | None:
    """The chunk's metrics; None when it was never finished, or when its checkpoint is damaged
    (reported: the chunk is trained again). Raises outputs.WorkdirError when the checkpoint was
    made by another fingerprint."""
    path = self._path(group, chunk)
    if not path.exists():
      return None

    def read():
      restored = self._checkpointer.restore(path)
      return ({k.replace(_SLASH, '/'): np.asarray(v) for k, v in restored.items()},
              self._checkpointer.metadata(path).custom_metadata)

    return verified(self.directory.parent, path, read, made_by, 'it is trained again')

  def save(self, group: str, chunk: int, metrics: dict[str, np.ndarray], made_by: str) -> None:
    """Starts writing the chunk's checkpoint in the background, replacing a damaged one (a save
    waits for the previous one); `wait` blocks until all are written."""
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    self._checkpointer.save(self._path(group, chunk),
                            {k.replace('/', _SLASH): v for k, v in metrics.items()},
                            force=True, custom_metadata=record(made_by, metrics))

  def wait(self) -> None:
    self._checkpointer.wait_until_finished()

  def num_saved(self) -> int:
    """Finished checkpoints (orbax writes to chunk_<i>.orbax-checkpoint-tmp-* first)."""
    return sum(p.name.removeprefix('chunk_').isdigit() for p in self.directory.glob('*/chunk_*'))
