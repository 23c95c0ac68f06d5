"""The loop that trains every grid: its work in numbered pieces, each a checkpoint bound to a
fingerprint, under one progress bar; a killed job resumes from the pieces saved, and a first
Ctrl-C stops it after the piece under way, with that piece's checkpoint.

A piece is one checkpoint of core.checkpoints. An experiment's work comes in pieces of one of
two kinds, both fixed by its config alone:
  independent: the sequence classes' chunks (sequence_classes/sweep.py), each trained whole in
    one call; every piece found intact is restored, the others are trained (`restore_each`);
  chained: the intervals of an evaluated grid (core.intervals), each going on from the state the
    one before left; training resumes after the newest intact piece (`restore_newest`).

  fingerprint(run_config, **depends_on)  what a piece's checkpoint is bound to
  restore_each(store, fingerprints)      the independent pieces found intact
  restore_newest(store, made_by, target) the newest intact chained piece
  session(total, unit, desc, …)          the progress bar, the saves and the stop on Ctrl-C
"""

import contextlib
from typing import Any, Callable, Iterator, Sequence

import jax
from jax.experimental import multihost_utils
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import runtime


def fingerprint(run_config: Any, **depends_on) -> str:
  """The fingerprint of a piece: its frozen run config (checkpoints.described) and the JSON
  values `depends_on` (its seeds and rates, its runs, a checksum of its data), with
  checkpoints.RESULTS_VERSION."""
  return checkpoints.fingerprint(run=checkpoints.described(run_config), **depends_on)


def restore_each(store: checkpoints.Checkpoints | None, fingerprints: Sequence[str],
                 target: dict[str, Any]) -> dict[int, dict[str, Any]]:
  """The items of the independent pieces 0, 1, … (piece i made by fingerprints[i]) that the
  store holds intact, by number. A damaged piece is reported, deleted and left out (it is
  trained again); one made by another fingerprint raises outputs.WorkdirError."""
  if store is None:
    return {}
  found = {}
  for number in sorted(set(store.steps()) & set(range(len(fingerprints)))):
    items = store.restore(number, fingerprints[number], 'it is trained again', target)
    if items is not None:
      found[number] = items
  return found


def restore_newest(store: checkpoints.Checkpoints | None, made_by: str,
                   target: Callable[[], dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
  """(its number, its items) of the newest intact chained piece, numbered by the step it ends
  at; None when there is none. target() gives the structure of its items, built only when a
  piece is found (it may gather the state of every process). A damaged piece is reported and
  deleted, and the one before it tried; one made by another fingerprint raises
  outputs.WorkdirError."""
  numbers = store.steps()[::-1] if store is not None else []
  structure = target() if numbers else None
  for i, number in enumerate(numbers):
    otherwise = f'resuming from step {numbers[i + 1]}' if i + 1 < len(numbers) else 'starting anew'
    items = store.restore(number, made_by, otherwise, structure)
    if items is not None:
      return number, items
  return None


class Session:
  """One job's progress bar and checkpoint writes (see `session`)."""

  def __init__(self, bar):
    self._bar = bar
    self._stores: list[checkpoints.Checkpoints] = []
    self._stopping: bool | None = None  # decided for the piece under way

  @property
  def stopping(self) -> bool:
    """Whether the job stops after the piece under way (save it, then): decided once per piece,
    the first time it is read, and in a job of several processes by all of them together (a
    Ctrl-C that reached any of them), so that they stop after the same piece."""
    if self._stopping is None:
      requested = runtime.stop_requested()
      if jax.process_count() > 1:
        requested = bool(np.any(multihost_utils.process_allgather(np.int32(requested))))
      self._stopping = requested
    return self._stopping

  def save(self, store: checkpoints.Checkpoints, number: int, items: dict[str, Any],
           made_by: str) -> None:
    """Starts writing piece `number` in the background (Checkpoints.save)."""
    if store not in self._stores:
      self._stores.append(store)
    store.save(number, items, made_by)

  def advance(self, amount: int, **postfix) -> None:
    """Moves the bar on by `amount` (and shows `postfix`) once a piece is done and saved; a
    job that stops after this piece (`stopping`) stops here (KeyboardInterrupt)."""
    self._bar.update(amount)
    if postfix:
      self._bar.set_postfix(**postfix)
    stopping, self._stopping = self.stopping, None
    if stopping:
      raise KeyboardInterrupt

  def wait(self) -> None:
    """Blocks until every checkpoint started is written."""
    for store in self._stores:
      store.wait()


@contextlib.contextmanager
def session(total: int, unit: str, desc: str, initial: int = 0, show: bool = True,
            interrupted: Callable[[], str] = lambda: '') -> Iterator[Session]:
  """Within the block, a progress bar of `total` units (shown by process 0 when `show`, from
  `initial`: what was restored), and a first Ctrl-C asks the job to stop after the piece under
  way (Session.stopping), at its Session.advance. However the block ends, the checkpoints
  started are written before it is left (a Ctrl-C meanwhile does not cut them short). A stop
  leaves as a KeyboardInterrupt whose text is interrupted(), read once the checkpoints are
  written: what was saved, and what the same command does next."""
  try:
    with runtime.progress_bar(total=total, initial=initial, unit=unit, desc=desc,
                              disable=not show or jax.process_index() != 0) as bar:
      job = Session(bar)
      with runtime.waiting_for(job.wait), runtime.stop_on_interrupt():
        yield job
  except KeyboardInterrupt:
    text = interrupted()
    if not text:
      raise
    raise KeyboardInterrupt(text) from None
