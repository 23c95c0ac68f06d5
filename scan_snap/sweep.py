"""A grid of seeds × (η_Y, η_Z) trained by one jit(vmap(vmap(train))), and its result table."""

import dataclasses
import math
from typing import Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from scan_snap import config
from scan_snap import train as train_lib


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """The runs of one data spec: R = seeds × learning-rate pairs, seed-major."""

  run: config.RunConfig
  seed: np.ndarray  # [R]
  lr_y: np.ndarray  # [R]
  lr_z: np.ndarray  # [R]
  metrics: dict[str, np.ndarray]  # train.make_train's metrics, each with a leading [R] axis


def train_grid(run: config.RunConfig, seeds: list[int],
               lr_pairs: list[tuple[float, float]]) -> GroupResult:
  """Trains every (seed, η_Y, η_Z) of the grid in one compiled program."""
  train = train_lib.make_train(run)
  metrics_only = lambda key, lr_y, lr_z: train(key, lr_y, lr_z)[1]
  grid = jax.jit(jax.vmap(jax.vmap(metrics_only, (None, 0, 0)), (0, None, None)))
  lr_y, lr_z = (np.asarray(v, np.float32) for v in zip(*lr_pairs))
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
  metrics = jax.device_get(grid(keys, lr_y, lr_z))
  num_runs = len(seeds) * len(lr_pairs)
  return GroupResult(
      run=run,
      seed=np.repeat(np.asarray(seeds), len(lr_pairs)),
      lr_y=np.tile(lr_y, len(seeds)),
      lr_z=np.tile(lr_z, len(seeds)),
      metrics={k: v.reshape(num_runs, *v.shape[2:]) for k, v in metrics.items()})


def run_sweep(c: ml_collections.ConfigDict) -> Iterator[GroupResult]:
  """Yields the results of each data spec (one value of data.num_last) as it finishes."""
  for num_last in c.data.num_last:
    yield train_grid(config.run_config(c, num_last), config.seeds(c), config.learning_rate_pairs(c))


def result_rows(g: GroupResult) -> list[dict]:
  """One row per run; `entropy` is the distinct-token entropy at the last step (nats) and
  `final_loss` the mean training loss over the last logging interval."""
  run = g.run
  rows = []
  for r in range(len(g.seed)):
    rows.append({
        'num_last': run.data.num_last,
        'num_next_per_last': run.data.num_next_per_last,
        'lr_y': float(g.lr_y[r]),
        'lr_z': float(g.lr_z[r]),
        'seed': int(g.seed[r]),
        'optimizer': run.optimizer.name,
        'init': run.model.init,
        'steps': run.steps,
        'final_loss': float(g.metrics['train/loss'][r, -1]),
        'final_accuracy': float(g.metrics['train/accuracy'][r, -1]),
        'entropy': float(g.metrics['attn/entropy'][r, -1]),
        'diverged': bool(g.metrics['diverged'][r]),
    })
  return rows


def summarize(rows: list[dict]) -> list[dict]:
  """Mean ± sample std of the final entropy per (num_last, η_Z, η_Y) cell, diverged runs
  left out of the statistics and counted in `num_diverged`."""
  cells: dict[tuple, list[dict]] = {}
  for row in rows:
    cells.setdefault((row['num_last'], row['lr_z'], row['lr_y']), []).append(row)
  summary = []
  for (num_last, lr_z, lr_y), members in sorted(cells.items()):
    kept = np.array([m['entropy'] for m in members if not m['diverged']])
    summary.append({
        'num_last': num_last,
        'lr_z': lr_z,
        'lr_y': lr_y,
        'lr_y_over_lr_z': lr_y / lr_z if lr_z > 0 else math.nan,
        'num_runs': len(kept),
        'num_diverged': len(members) - len(kept),
        'entropy_mean': float(kept.mean()) if len(kept) else math.nan,
        'entropy_std': float(kept.std(ddof=1)) if len(kept) > 1 else math.nan,
    })
  return summary
