"""The WikiText grid trained: its runs in groups on the local devices, evaluated every
train.eval_every steps and checkpointed, so that a killed run resumes from its newest intact
checkpoint.

  Grid(run_config, runs, runs_per_device)         the runs' states on the devices: train, evaluate
  run(run_config, runs, tokens, …) -> GridResult  the grid trained to run_config.steps
"""

import dataclasses
import math
import pathlib
from typing import Callable

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import grid as core_grid
from scan_snap.core import runtime
from scan_snap.wikitext import train

OnStart = Callable[[], None]  # called once the checkpoints are known to be this config's
OnEvaluation = Callable[[dict[str, np.ndarray]], None]  # called with the history so far


@dataclasses.dataclass(frozen=True)
class GridResult:
  """Every evaluation of every run of the grid: E evaluations × R runs."""

  run_config: train.TextRunConfig
  runs: list[dict]  # [R] {'seed', 'lr'}
  # 'step' [E], 'train/loss' [E, R] (NaN at step 0), 'eval/loss' [E, R],
  # 'attn/entropy' [E, R, layers], 'attn/maps' [E, R, layers, probes, heads, L, L]
  history: dict[str, np.ndarray]
  steps_trained: int  # the steps trained by this call, not restored from a checkpoint


class Grid:
  """The grid's runs, trained in groups of runs_per_device runs on each device, one compiled
  call per group: every run is computed by the same per-device program, so its numbers do not
  depend on the other runs or on the number of devices. The grid is padded to whole groups with
  copies of its last run, which are trained and left out of every result (core.grid).

  In a multi-process job (jax.distributed), the groups are split into equal contiguous shares,
  one per process (padded with more copies of the last run to a multiple of the process count),
  and each process trains its share on its own devices; the results (losses, evaluations, the
  state for checkpoints) are gathered so that every process holds those of the whole grid, as
  one process training everything would. A run's numbers are bit for bit those of a one-process
  run when its group is trained on as many devices of the same kind (e.g. one each); otherwise
  they are equal up to float rounding, as between device counts. Checkpoints hold the runs
  without padding, so a job resumes from those of any number of processes.
  """

  def __init__(self, run_config: train.TextRunConfig, runs: list[dict], runs_per_device: int):
    num_processes, process = jax.process_count(), jax.process_index()
    # The same number of groups on every process.
    padded = core_grid.pad(runs, runs_per_device * num_processes)
    share = len(padded) // num_processes  # runs per process
    mine = padded[process * share:(process + 1) * share]
    devices = jax.local_devices()
    num_devices = math.gcd(len(mine) // runs_per_device, len(devices))
    logging.info('training %d runs (+%d padding) in groups of %d per device on %d of %d '
                 'local devices%s', len(runs), len(padded) - len(runs), runs_per_device,
                 num_devices, len(devices),
                 f'; process {process} of {num_processes} trains runs {process * share}–'
                 f'{(process + 1) * share - 1} of the padded grid' if num_processes > 1 else '')
    self.num_runs, self.num_devices = len(runs), num_devices
    size = runs_per_device * num_devices
    self._init, self._train, self._evaluate = train.grid_functions(
        run_config, core_grid.mesh(devices[:num_devices]))
    self._args = [tuple(jnp.asarray([r[key] for r in mine[i:i + size]])
                        for key in ('seed', 'lr'))
                  for i in range(0, len(mine), size)]
    self._states = [self._init(seeds) for seeds, _ in self._args]

  def train_interval(self, tokens: train.TextData, first_step: int) -> np.ndarray:
    """Trains every group for one interval (train.eval_every steps); returns each run's mean
    training loss."""
    losses = []
    for g, args in enumerate(self._args):
      self._states[g], metrics = self._train(self._states[g], tokens, *args, first_step)
      losses.append(np.asarray(metrics['train/loss']))
    return core_grid.gather(np.concatenate(losses))[:self.num_runs]

  def evaluate(self, tokens: train.TextData) -> dict[str, np.ndarray]:
    """train.evaluate of every run, as numpy arrays with a leading axis of runs."""
    parts = [self._evaluate(state.params, tokens) for state in self._states]
    return {key: value[:self.num_runs] for key, value in core_grid.gather(
        {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0]}).items()}

  def state_arrays(self) -> train.TrainState:
    """Every run's parameters and optimizer state, as numpy arrays with a leading axis of runs
    (the padding left out: the same arrays whatever the number of processes)."""
    local = jax.tree_util.tree_map(lambda *groups: np.concatenate([np.asarray(x) for x in groups]),
                                   *self._states)
    return jax.tree_util.tree_map(lambda x: x[:self.num_runs], core_grid.gather(local))

  def load_state(self, arrays: train.TrainState) -> None:
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


def run(run_config: train.TextRunConfig, runs: list[dict], tokens: train.TextData,
        runs_per_device: int, checkpoint_every: int, workdir: pathlib.Path | None = None,
        on_start: OnStart = lambda: None,
        on_evaluation: OnEvaluation = lambda history: None) -> GridResult:
  """Trains every run of the grid (a Grid) to run_config.steps, evaluated at step 0 and every
  run_config.eval_every steps, with a progress bar.

  With a work directory, the grid's state and evaluations are checkpointed under
  workdir/checkpoints/<step> every checkpoint_every steps and at the last step (the newest two
  kept), and training resumes from the newest intact checkpoint: a damaged one is reported and
  deleted, and the one before it tried; one made by another config or code version raises
  outputs.WorkdirError. on_start() is called once the checkpoints are known to be this config's
  (before the evaluation of step 0), on_evaluation(history) after each evaluation. A first
  Ctrl-C stops the training after the evaluation under way, with a checkpoint of that step,
  from which the same call resumes (KeyboardInterrupt). Returns once every checkpoint is
  written.
  """
  grid = Grid(run_config, runs, runs_per_device)
  # What the checkpoints' numbers depend on: the frozen run config, the runs and the tokens.
  made_by = checkpoints.fingerprint(run=checkpoints.described(run_config), runs=runs,
                                    tokens=checkpoints.checksum('', tokens))
  store = (checkpoints.Checkpoints(workdir, '', max_to_keep=2) if workdir is not None
           else None)
  restored = _restore(store, grid, made_by) if store else None
  on_start()
  if restored:
    step, history = restored
    logging.info('resuming %s from step %d', workdir, step)
  else:
    step, history = 0, _evaluation(0, np.full(len(runs), np.nan), grid.evaluate(tokens))
  first_step = step

  try:
    with runtime.progress_bar(total=run_config.steps, initial=step, unit='step',
                              desc='wikitext', disable=jax.process_index() != 0) as progress, \
         runtime.waiting_for(store.wait if store else None), runtime.stop_on_interrupt():
      while step < run_config.steps:
        train_loss = grid.train_interval(tokens, step)
        step += run_config.eval_every
        evaluation = _evaluation(step, train_loss, grid.evaluate(tokens))
        history = {key: np.concatenate([history[key], v]) for key, v in evaluation.items()}
        on_evaluation(history)
        # A Ctrl-C stops here, after a checkpoint of this step: the same call resumes from it.
        stopping = runtime.stop_requested()
        if store and (step % checkpoint_every == 0 or step == run_config.steps or stopping):
          store.save(step, {'state': grid.state_arrays(), 'history': history}, made_by)
        progress.update(run_config.eval_every)
        progress.set_postfix(val_loss=np.nanmin(history['eval/loss'][-1]))
        runtime.stop_point()
  except KeyboardInterrupt:
    if store is None:
      raise
    saved = store.steps()  # What a resume starts from: say it, rather than 'what was finished'.
    raise KeyboardInterrupt(f'saved at step {saved[-1]} of {run_config.steps}: the same command '
                            'resumes from it' if saved else 'no step was saved yet: the same '
                            'command starts again from step 0') from None
  return GridResult(run_config=run_config, runs=runs, history=history,
                    steps_trained=step - first_step)


def _restore(store: checkpoints.Checkpoints, grid: Grid, made_by: str
             ) -> tuple[int, dict[str, np.ndarray]] | None:
  """Loads the state of the newest intact checkpoint into grid, and returns its step and the
  evaluations so far (None when there is no such checkpoint). A damaged checkpoint is reported
  and deleted by the store, and the one before it tried."""
  target = {'state': grid.state_arrays(), 'history': None}
  steps = store.steps()[::-1]
  for i, step in enumerate(steps):
    otherwise = f'resuming from step {steps[i + 1]}' if i + 1 < len(steps) else 'starting anew'
    items = store.restore(step, made_by, otherwise, target)
    if items is not None:
      grid.load_state(items['state'])
      return step, items['history']
  return None


def _evaluation(step: int, train_loss: np.ndarray, evaluated: dict) -> dict[str, np.ndarray]:
  """One evaluation of every run, with a leading axis of length 1 to concatenate along."""
  return {'step': np.asarray([step]), 'train/loss': train_loss[None],
          'eval/loss': evaluated['eval/loss'][None],
          'attn/entropy': evaluated['attn/entropy'][None],  # (1, R, layers)
          'attn/maps': evaluated['attn/maps'][None]}  # (1, R, layers, P, H, L, L)
