"""The WikiText grid on the shared engine of evaluated grids (core.intervals): its runs in
groups on the local devices, evaluated every train.eval_every steps and checkpointed, so that a
killed run resumes from its newest intact checkpoint.

  Grid(run_config, runs, runs_per_device)         the runs' states on the devices: train, evaluate
  run(run_config, runs, tokens, …) -> GridResult  the grid trained to run_config.steps
  joined(results) -> GridResult                   the groups of a depth axis as one grid
"""

import dataclasses
import functools
import pathlib

import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import engine
from scan_snap.core import intervals
from scan_snap.wikitext import optimizer
from scan_snap.wikitext import train


@dataclasses.dataclass(frozen=True)
class GridResult:
  """Every evaluation of every run of the grid: E evaluations × R runs."""

  run_config: train.TextRunConfig  # of its first depth, when joined: they differ in depth alone
  # [R] {'seed', 'lr'}, each axis group's factor (optimizer.axis_keys) and, with a depth axis,
  # 'num_layers'
  runs: list[dict]
  # 'step' [E], 'train/loss' [E, R] (NaN at step 0), 'eval/loss' [E, R],
  # 'attn/entropy' [E, R, layers], 'attn/maps' [E, R, layers, probes, heads, L, L],
  # 'attn/token_mass' [E, R, layers, Q, K + 2]; joined, the layers a run lacks are NaN
  history: dict[str, np.ndarray]
  steps_trained: int  # the steps trained by this call, not restored from a checkpoint


class Grid(intervals.Grid):
  """The WikiText runs as an intervals.Grid of train.grid_functions."""

  def __init__(self, run_config: train.TextRunConfig, runs: list[dict], runs_per_device: int):
    super().__init__(functools.partial(train.grid_functions, run_config),
                     functools.partial(_arguments, optimizer.axis_keys(run_config.lr_groups)),
                     runs, runs_per_device)


def _arguments(axis_keys: list[str],
               runs: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per run: the seed, the learning rate η and the factors of the axis groups [R, A]."""
  return (np.asarray([r['seed'] for r in runs]), np.asarray([r['lr'] for r in runs]),
          np.asarray([[r[key] for key in axis_keys] for r in runs], np.float32).reshape(
              len(runs), len(axis_keys)))


def run(run_config: train.TextRunConfig, runs: list[dict], tokens: train.TextData,
        runs_per_device: int, checkpoint_every: int, workdir: pathlib.Path | None = None,
        on_start: intervals.OnStart = lambda: None,
        on_evaluation: intervals.OnEvaluation = lambda history: None, folder: str = '',
        desc: str = 'wikitext') -> GridResult:
  """Trains every run of the grid to run_config.steps, evaluated at step 0 and every
  run_config.eval_every steps, checkpointed under workdir/checkpoints/<folder> every
  checkpoint_every steps, and resumed from them (intervals.run), with a progress bar named
  `desc`."""
  # What the checkpoints' numbers depend on: the frozen run config, the runs and the tokens.
  made_by = engine.fingerprint(run_config, runs=runs, tokens=checkpoints.checksum('', tokens))
  trained = intervals.run(Grid(run_config, runs, runs_per_device), tokens, run_config.steps,
                          run_config.eval_every, checkpoint_every, made_by, workdir,
                          folder=folder, desc=desc, on_start=on_start,
                          on_evaluation=on_evaluation)
  return GridResult(run_config, runs, trained.history, trained.steps_trained)


def joined(results: list[GridResult]) -> GridResult:
  """Grids of the same steps (the depths of a depth axis) as one: their runs one after the
  other, the layers a run lacks NaN in its per-layer evaluations, the steps trained summed."""
  if len(results) == 1:
    return results[0]
  if any(not np.array_equal(r.history['step'], results[0].history['step']) for r in results):
    raise ValueError('the grids joined must be evaluated at the same steps')
  history = {}
  for key in results[0].history:
    parts = [r.history[key] for r in results]
    if key == 'step':
      history[key] = parts[0]
    elif parts[0].ndim == 2:  # [E, R]
      history[key] = np.concatenate(parts, axis=1)
    else:  # [E, R, layers, …]
      layers = max(p.shape[2] for p in parts)
      history[key] = np.concatenate([np.pad(
          p, [(0, 0), (0, 0), (0, layers - p.shape[2])] + [(0, 0)] * (p.ndim - 3),
          constant_values=np.nan) for p in parts], axis=1)
  return GridResult(results[0].run_config, [run for r in results for run in r.runs], history,
                    sum(r.steps_trained for r in results))
