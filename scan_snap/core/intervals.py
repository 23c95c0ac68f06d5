"""A grid trained in intervals between evaluations, checkpointed, so that a killed run resumes
from its newest intact checkpoint: the engine of the experiments whose runs are evaluated as
they train (WikiText, hierarchical classes).

An experiment supplies its per-run arguments and its three programs, built for a mesh:
  init(*args) -> state                                   a run's parameters and optimizer state
  train(state, data, *args, first_step) -> (state, {'train/loss': …})   one interval of steps
  evaluate(params, data, *args) -> {name: array}         one evaluation of a run
each over a leading axis of runs split over the mesh's devices (core.grid.over_runs); args are
per-run arrays (the seed first), data is shared by every run.

  Grid(functions, args, runs, runs_per_device)    the runs' states on the devices
  run(grid, data, steps, …) -> Trained            the grid trained to `steps`
"""

import dataclasses
import pathlib
from typing import Any, Callable, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import engine
from scan_snap.core import grid as core_grid

Functions = Callable[[jax.sharding.Mesh], tuple[Callable, Callable, Callable]]
Arguments = Callable[[Sequence[dict]], tuple[np.ndarray, ...]]  # the runs → per-run arrays
OnStart = Callable[[], None]  # called once the checkpoints are known to be this config's
OnEvaluation = Callable[[dict[str, np.ndarray]], None]  # called with the history so far


@dataclasses.dataclass(frozen=True)
class Trained:
  """Every evaluation of every run: 'step' [E], 'train/loss' [E, R] (NaN at step 0), and each
  key of the experiment's evaluation [E, R, …]; and the steps this call trained (not restored
  from a checkpoint)."""

  history: dict[str, np.ndarray]
  steps_trained: int


class Grid:
  """The grid's runs, trained in groups of runs_per_device runs, each group on one device by a
  one-device program (the groups go round the devices, which run them at once): every run is
  computed by the same program, so its numbers do not depend on the other runs or on the number
  of devices. (A group split over several devices would round differently: XLA compiles a
  division by a broadcast value into a product with its reciprocal for one device, and keeps the
  division in a partitioned program.) The grid is padded to whole groups with copies of its
  last run, which are trained and left out of every result (core.grid).

  In a multi-process job (jax.distributed), the groups are split into equal contiguous shares,
  one per process (core.grid.shares), and each process trains its share on its own devices; the
  results (losses, evaluations, the state for checkpoints) are gathered so that every process
  holds those of the whole grid, bit for bit as one process training everything would.
  Checkpoints hold the runs without padding, so a job resumes from those of any number of
  processes and devices.
  """

  def __init__(self, functions: Functions, args: Arguments, runs: Sequence[dict],
               runs_per_device: int):
    num_processes, process = jax.process_count(), jax.process_index()
    mine = core_grid.shares(runs, runs_per_device)[process]  # The same groups on every process.
    share, num_groups = len(mine), len(mine) // runs_per_device
    local = jax.local_devices()
    self._devices = local[:min(num_groups, len(local))]
    logging.info('%d runs (+%d padding) in %d groups of %d runs, on %d of %d local devices%s',
                 len(runs), share * num_processes - len(runs),
                 num_groups * num_processes, runs_per_device, len(self._devices), len(local),
                 f'; process {process} of {num_processes} trains runs {process * share}–'
                 f'{(process + 1) * share - 1} of the padded grid' if num_processes > 1 else '')
    self.num_runs, self.num_devices = len(runs), len(self._devices)
    # Each device's programs (init, train, evaluate), for a mesh of that device alone.
    self._programs = [functions(core_grid.mesh([device])) for device in self._devices]
    self._args = [jax.device_put(tuple(jnp.asarray(a) for a in args(
        mine[g * runs_per_device:(g + 1) * runs_per_device])), self._device_of(g))
                  for g in range(num_groups)]
    self._states = [self._program(g)[0](*args) for g, args in enumerate(self._args)]
    self._data = (object(), [])  # the data last given (none yet), and its copy on each device

  def _device_of(self, group: int) -> jax.Device:
    return self._devices[group % len(self._devices)]

  def _program(self, group: int) -> tuple[Callable, Callable, Callable]:
    return self._programs[group % len(self._devices)]

  def _data_of(self, data: Any, group: int) -> Any:
    """data on the group's device (copied to each device once)."""
    if self._data[0] is not data:
      self._data = (data, [jax.device_put(data, device) for device in self._devices])
    return self._data[1][group % len(self._devices)]

  def train_interval(self, data: Any, first_step: int) -> np.ndarray:
    """Trains every group for one interval; returns each run's mean training loss."""
    losses = []
    for g, args in enumerate(self._args):  # Dispatched to every device before any is read.
      self._states[g], metrics = self._program(g)[1](self._states[g], self._data_of(data, g),
                                                     *args, first_step)
      losses.append(metrics['train/loss'])
    return core_grid.gather(np.concatenate([np.asarray(x) for x in losses]))[:self.num_runs]

  def evaluate(self, data: Any) -> dict[str, np.ndarray]:
    """The evaluation of every run, as numpy arrays with a leading axis of runs."""
    parts = [self._program(g)[2](state.params, self._data_of(data, g), *args)
             for g, (state, args) in enumerate(zip(self._states, self._args))]
    return {key: value[:self.num_runs] for key, value in core_grid.gather(
        {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0]}).items()}

  def state_arrays(self) -> Any:
    """Every run's parameters and optimizer state, as numpy arrays with a leading axis of runs
    (the padding left out: the same arrays whatever the number of processes)."""
    local = jax.tree_util.tree_map(lambda *groups: np.concatenate([np.asarray(x) for x in groups]),
                                   *self._states)
    return jax.tree_util.tree_map(lambda x: x[:self.num_runs], core_grid.gather(local))

  def load_state(self, arrays: Any) -> None:
    """Replaces the state with `arrays` (as state_arrays returns it); the padding copies of the
    last run take its state."""
    share = sum(len(args[0]) for args in self._args)
    start = jax.process_index() * share
    rows = np.minimum(np.arange(start, start + share), self.num_runs - 1)
    for g, state in enumerate(self._states):
      size = len(self._args[g][0])
      self._states[g] = jax.tree_util.tree_map(
          lambda old, new: jax.device_put(np.asarray(new)[rows[:size]], old.sharding),
          state, arrays)
      rows = rows[size:]


def run(grid: Grid, data: Any, steps: int, eval_every: int, checkpoint_every: int,
        made_by: str, workdir: pathlib.Path | None = None, folder: str = '',
        desc: str = '', on_start: OnStart = lambda: None,
        on_evaluation: OnEvaluation = lambda history: None) -> Trained:
  """Trains every run of `grid` to `steps`, evaluated at step 0 and every `eval_every` steps,
  with a progress bar named `desc` that shows the least evaluation loss ('eval/loss').

  The intervals are the chained pieces of core.engine: with a work directory, the grid's state
  and evaluations are checkpointed under workdir/checkpoints/<folder>/<step> every
  checkpoint_every steps and at the last step (the newest two kept), and training resumes from
  the newest intact checkpoint; one whose fingerprint is not `made_by` (another config or code
  version) raises outputs.WorkdirError. on_start() is called once the checkpoints are known to
  be this config's (before the evaluation of step 0), on_evaluation(history) after each
  evaluation. A first Ctrl-C stops the training after the evaluation under way, with a
  checkpoint of that step, from which the same call resumes (KeyboardInterrupt). Returns once
  every checkpoint is written.
  """
  store = (checkpoints.Checkpoints(workdir, folder, max_to_keep=2) if workdir is not None
           else None)
  restored = engine.restore_newest(store, made_by,
                                   lambda: {'state': grid.state_arrays(), 'history': None})
  on_start()
  if restored:
    step, items = restored
    grid.load_state(items['state'])
    history = items['history']
    logging.info('resuming %s from step %d', store.directory, step)
  else:
    step, history = 0, _evaluation(0, np.full(grid.num_runs, np.nan), grid.evaluate(data))
  first_step = step

  def interrupted() -> str:  # What a resume starts from: say it, rather than 'what was finished'.
    if store is None:
      return ''
    saved = store.steps()
    return (f'saved at step {saved[-1]} of {steps}: the same command resumes from it' if saved
            else 'no step was saved yet: the same command starts again from step 0')

  with engine.session(steps, 'step', desc, initial=step, interrupted=interrupted) as job:
    while step < steps:
      train_loss = grid.train_interval(data, step)
      step += eval_every
      evaluation = _evaluation(step, train_loss, grid.evaluate(data))
      history = {key: np.concatenate([history[key], v]) for key, v in evaluation.items()}
      on_evaluation(history)
      # A Ctrl-C stops at advance, after a checkpoint of this step: the same call resumes from it.
      if store and (step % checkpoint_every == 0 or step == steps or job.stopping):
        job.save(store, step, {'state': grid.state_arrays(), 'history': history}, made_by)
      job.advance(eval_every, val_loss=np.nanmin(history['eval/loss'][-1]))
  return Trained(history=history, steps_trained=step - first_step)


def _evaluation(step: int, train_loss: np.ndarray, evaluated: dict) -> dict[str, np.ndarray]:
  """One evaluation of every run, with a leading axis of length 1 to concatenate along."""
  return {'step': np.asarray([step]), 'train/loss': train_loss[None],
          **{key: value[None] for key, value in evaluated.items()}}
