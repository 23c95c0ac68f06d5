"""Orbax checkpoints of finished chunks, so that a killed sweep resumes where it stopped.

A chunk (a block of seeds × all learning-rate pairs of one data spec) is the unit of work: its
metrics are saved as soon as it is trained, under checkpoints/<group>/chunk_<i>. Orbax writes a
checkpoint to a temporary folder and renames it when complete, so a kill at any moment leaves
only whole checkpoints.
"""

import pathlib

import numpy as np
import orbax.checkpoint as ocp

_SLASH = '~'  # Metric keys hold '/', which orbax would read as nesting.


class ChunkStore:
  """Saves and restores the metrics of each chunk of each group."""

  def __init__(self, directory: pathlib.Path):
    self.directory = directory.resolve()
    self._checkpointer = ocp.StandardCheckpointer()

  def _path(self, group: str, chunk: int) -> pathlib.Path:
    return self.directory / group / f'chunk_{chunk}'

  def load(self, group: str, chunk: int) -> dict[str, np.ndarray] | None:
    """The chunk's metrics, or None when it was never finished."""
    path = self._path(group, chunk)
    if not path.exists():
      return None
    restored = self._checkpointer.restore(path)
    return {k.replace(_SLASH, '/'): np.asarray(v) for k, v in restored.items()}

  def save(self, group: str, chunk: int, metrics: dict[str, np.ndarray]) -> None:
    """Starts writing the chunk's checkpoint in the background (a save waits for the previous
    one); `wait` blocks until all are written."""
    self._checkpointer.save(self._path(group, chunk),
                            {k.replace('/', _SLASH): np.asarray(v) for k, v in metrics.items()})

  def wait(self) -> None:
    self._checkpointer.wait_until_finished()

  def num_saved(self) -> int:
    """Finished checkpoints (orbax writes to chunk_<i>.orbax-checkpoint-tmp-* first)."""
    return sum(p.name.removeprefix('chunk_').isdigit() for p in self.directory.glob('*/chunk_*'))
