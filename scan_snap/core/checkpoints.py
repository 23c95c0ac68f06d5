"""Numbered orbax checkpoints that a killed run resumes from, bound to what made them.

Both experiments save through `Checkpoints`, one folder of numbered checkpoints managed by
orbax's CheckpointManager: the sequence classes number the chunks of a data spec
(checkpoints/<group>/<chunk>), WikiText its steps (checkpoints/<step>). Orbax writes a checkpoint
to a temporary folder and renames it when complete, so a kill at any moment leaves only whole
checkpoints.

Each checkpoint records, in its orbax metadata, a fingerprint of what its numbers depend on
(the resolved config's result-relevant part and RESULTS_VERSION) and a checksum of its arrays.
A checkpoint is restored only when both hold: one that fails its checksum or cannot be read is
reported, deleted and computed again, and one of another fingerprint stops the run.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import typing
from typing import Any, Iterator

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from scan_snap.core import outputs
from scan_snap.core import runtime

# The version of what the code computes. Bump it with any change that alters a run's numbers
# (or the layout of its checkpoints): the checkpoints of earlier versions are then refused.
RESULTS_VERSION = 2

_SLASH = '~'  # Metric keys hold '/', which orbax would read as nesting.


def fingerprint(**made_by) -> str:
  """The sha256 of RESULTS_VERSION and `made_by` (JSON values: what a checkpoint's numbers
  depend on)."""
  text = json.dumps({'results_version': RESULTS_VERSION, **made_by}, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def described(run_config: Any, declared: type | None = None) -> Any:
  """A frozen run config as its fingerprint holds it: each dataclass (nested too) as the dict of
  its fields, leaving out every field that has a default and is at it, and with its class's
  name under '__class__' when that is not the class its field declares (`declared`; a family of
  sequence classes other than the paper's, say). A field added to a run config later gets the
  default that reproduces the runs made before it existed (and keeps it), so that their
  checkpoints are still this code's."""
  if dataclasses.is_dataclass(run_config) and not isinstance(run_config, type):
    hints = typing.get_type_hints(type(run_config))
    fields = ((f, getattr(run_config, f.name)) for f in dataclasses.fields(run_config))
    out = {f.name: described(value, hints.get(f.name)) for f, value in fields
           if value != _default(f)}
    if declared is not None and type(run_config) is not declared:
      out['__class__'] = f'{type(run_config).__module__}.{type(run_config).__qualname__}'
    return out
  if isinstance(run_config, (list, tuple)):
    return [described(v) for v in run_config]
  if isinstance(run_config, dict):
    return {k: described(v) for k, v in run_config.items()}
  return run_config


_NO_DEFAULT = object()


def _default(field: dataclasses.Field) -> Any:
  """A dataclass field's default value, or _NO_DEFAULT."""
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return _NO_DEFAULT


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


@contextlib.contextmanager
def _orbax_silenced() -> Iterator[None]:
  """Drops what orbax logs meanwhile (its notes on the files of a damaged checkpoint)."""
  marker = f'{os.sep}orbax{os.sep}'
  drop = lambda record: marker not in record.pathname
  logger = logging.get_absl_logger()
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)


def _not_orbax_reporting_a_failure_we_report(record) -> bool:
  """False for orbax's log of a write that failed on a full disk or because a process of the
  job was lost (its background thread logs the whole traceback): Checkpoints.wait and the
  pipeline report a full disk in one line, and core.supervisor a lost process."""
  failure = record.exc_info[1] if record.exc_info else None
  return not (failure is not None and f'{os.sep}orbax{os.sep}' in record.pathname
              and (outputs.disk_full(failure) is not None
                   or (runtime.in_a_job_of_several_processes() and runtime.lost_peer(failure))))


def _escaped(tree: Any, old: str, new: str) -> Any:
  """tree with `old` replaced by `new` in the keys of its (nested) plain dicts."""
  if type(tree) is dict:  # pylint: disable=unidiomatic-typecheck  # not nnx.State and the like
    return {k.replace(old, new): _escaped(v, old, new) for k, v in tree.items()}
  return tree


class Checkpoints:
  """The numbered checkpoints of workdir/checkpoints/<folder>; each holds named pytrees."""

  def __init__(self, workdir: pathlib.Path, folder: str = '', max_to_keep: int | None = None):
    """max_to_keep: the newest checkpoints kept (None: all)."""
    self.workdir = workdir.resolve()
    self.directory = self.workdir / 'checkpoints' / folder
    logger = logging.get_absl_logger()
    if _not_orbax_reporting_a_failure_we_report not in logger.filters:
      logger.addFilter(_not_orbax_reporting_a_failure_we_report)
    with _orbax_silenced():  # It reads the metadata of every checkpoint found.
      self._manager = ocp.CheckpointManager(
          self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))

  def steps(self) -> list[int]:
    """The numbers of the finished checkpoints, in increasing order."""
    with _orbax_silenced():
      self._manager.reload()
      return sorted(self._manager.all_steps())

  def save(self, step: int, items: dict[str, Any], made_by: str) -> None:
    """Starts writing checkpoint `step` of `items` (name → pytree) in the background, recording
    the fingerprint `made_by`; a save waits for the previous one."""
    items = jax.tree.map(np.asarray, items)
    with self._disk_full_named():
      self._manager.save(
          step, args=ocp.args.Composite(**{name: ocp.args.StandardSave(_escaped(tree, '/', _SLASH))
                                           for name, tree in items.items()}),
          custom_metadata=record(made_by, items), force=True)

  def restore(self, step: int, made_by: str, otherwise: str,
              targets: dict[str, Any]) -> dict[str, Any] | None:
    """The items of checkpoint `step` (targets: name → a pytree of its structure, or None for
    dicts of arrays) when its checksum holds and it was made by `made_by`. A checkpoint that
    cannot be read or fails its checksum gives None, is deleted, and is reported in one warning
    ending with what happens `otherwise`; one of another fingerprint raises
    outputs.WorkdirError."""
    path = self.directory / str(step)
    try:
      with _orbax_silenced():  # A damaged checkpoint is reported here, in one line.
        restored = self._manager.restore(step, args=ocp.args.Composite(**{
            name: ocp.args.StandardRestore(_escaped(target, '/', _SLASH))
            for name, target in targets.items()}))
        saved = self._manager.metadata(step).custom_metadata
      items = {name: jax.tree.map(np.asarray, _escaped(restored[name], _SLASH, '/'))
               for name in targets}
      damage = None if saved.get('sha256') == checksum(saved.get('fingerprint', ''), items) else (
          'its arrays do not match their checksum')
    except Exception as error:  # pylint: disable=broad-except  # Damaged files fail in many ways.
      damage = f'{type(error).__name__}: {(str(error).splitlines() or [""])[0]}'
    if damage:
      logging.warning('checkpoint %s is damaged (%s); %s', path, damage, otherwise)
      with _orbax_silenced():
        self._manager.delete(step)
      return None
    if saved['fingerprint'] != made_by:
      raise outputs.WorkdirError(
          f'{self.workdir} holds checkpoints made by another config or code version '
          f'({path.relative_to(self.workdir)}): pass --overwrite to replace them, or choose '
          'another --workdir')
    return items

  def wait(self) -> None:
    """Blocks until every checkpoint started is written."""
    with self._disk_full_named():
      self._manager.wait_until_finished()

  @contextlib.contextmanager
  def _disk_full_named(self) -> Iterator[None]:
    """A write that failed on a full disk (orbax's error of whatever kind) raised as one
    OSError naming the file, else this folder."""
    try:
      yield
    except Exception as error:  # pylint: disable=broad-except
      full = outputs.disk_full(error)
      if full is None:
        raise
      raise OSError(full.errno, full.strerror, full.filename or str(self.directory)) from None
