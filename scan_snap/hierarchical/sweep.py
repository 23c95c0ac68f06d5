"""The hierarchical grid on the shared engine of evaluated grids (core.intervals): one group of
runs per depth, each trained, evaluated every train.eval_every steps and checkpointed under
checkpoints/depth<n>, so that a killed run resumes from its newest intact checkpoint.

  arguments(spec)(runs) -> (seed, η, *tree)      the per-run arrays; the tree drawn from the seed
  run(groups, run_config_of, …) -> [GroupResult]  every group trained to train.steps
"""

import dataclasses
import functools
import pathlib
from typing import Callable

import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import engine
from scan_snap.core import intervals
from scan_snap.hierarchical import config as hier_config
from scan_snap.hierarchical import data
from scan_snap.hierarchical import train


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """Every evaluation of every run of one depth: E evaluations × R runs."""

  run_config: train.RunConfig
  runs: list[dict]  # [R] {'seed', 'lr'}
  # 'step' [E], 'train/loss' [E, R] (NaN at step 0), 'eval/loss', 'eval/accuracy' [E, R],
  # 'attn/entropy' [E, R, blocks], 'attn/by_class' [E, R, blocks, classes, L],
  # 'score/centred', 'score/uncentred' [E, R, levels, blocks]
  history: dict[str, np.ndarray]
  steps_trained: int


def arguments(spec: data.LatentTree) -> intervals.Arguments:
  """The per-run arrays of core.intervals: the seed, η, and the levels of the run's tree
  (data.draw_tree of its seed)."""
  def of(runs: list[dict]) -> tuple[np.ndarray, ...]:
    trees = [data.draw_tree(spec, r['seed']) for r in runs]
    return (np.asarray([r['seed'] for r in runs]), np.asarray([r['lr'] for r in runs]),
            *(np.stack(level) for level in zip(*trees)))
  return of


def run(groups: list[hier_config.Group], run_config_of: Callable[[int], train.RunConfig],
        runs_per_device: int, checkpoint_every: int, workdir: pathlib.Path | None = None,
        on_start: intervals.OnStart = lambda: None) -> list[GroupResult]:
  """Trains each group (intervals.run) with the run config of its depth; on_start() is called
  once the first group's checkpoints are known to be this config's."""
  results = []
  for i, group in enumerate(groups):
    rc = run_config_of(group.num_layers)
    per_run = arguments(rc.spec)
    grid = intervals.Grid(functools.partial(train.grid_functions, rc), per_run, group.runs,
                          runs_per_device)
    # What the checkpoints' numbers depend on: the run config, the runs and their trees (drawn
    # by numpy on the host: a change of its generator must not resume on other trees).
    made_by = engine.fingerprint(rc, runs=group.runs,
                                 trees=checkpoints.checksum('', per_run(group.runs)))
    trained = intervals.run(
        grid, None, rc.steps, rc.eval_every, checkpoint_every, made_by, workdir,
        folder=f'depth{group.num_layers}', desc=f'{group.num_layers} blocks',
        on_start=on_start if i == 0 else lambda: None)
    results.append(GroupResult(rc, group.runs, trained.history, trained.steps_trained))
  return results
