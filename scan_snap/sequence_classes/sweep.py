"""A grid of seeds × (η_Y, η_Z) trained by one compiled program per data spec; its results.

The seeds are processed in chunks, each device taking sweep.seeds_per_device seeds (a block
small enough to stay in cache is fastest on a CPU; accelerators want large blocks). All
learning-rate pairs of a seed share its sampled batches, which jax draws once per seed.
"""

import dataclasses
import math
import time
from typing import Callable, Iterator

from absl import logging
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import checkpoints
from scan_snap.sequence_classes import config
from scan_snap.core import runtime
from scan_snap.sequence_classes import train as train_lib


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """The runs of one data spec: R = seeds × learning-rate pairs, seed-major."""

  run: config.RunConfig
  seed: np.ndarray  # [R]
  lr_y: np.ndarray  # [R]
  lr_z: np.ndarray  # [R]
  metrics: dict[str, np.ndarray]  # train.make_train's metrics, each with a leading [R] axis
  seconds: dict[str, float]  # 'compile' and 'train' wall time


def _grid_program(run: config.RunConfig, mesh: jax.sharding.Mesh):
  """jit(shard_map over devices of vmap over seeds of vmap over (η_Y, η_Z)) of one run.

  shard_map gives every device the same per-device program whatever the number of devices.
  """
  train = train_lib.make_train(run)
  metrics_only = lambda seed, lr_y, lr_z: train(jax.random.key(seed), lr_y, lr_z)[1]
  block = jax.vmap(jax.vmap(metrics_only, (None, 0, 0)), (0, None, None))
  seeds, replicated = jax.sharding.PartitionSpec('seeds'), jax.sharding.PartitionSpec()
  return jax.jit(jax.shard_map(block, mesh=mesh, in_specs=(seeds, replicated, replicated),
                               out_specs=seeds))


def device_mesh() -> jax.sharding.Mesh:
  """A one-axis mesh over every device of every process (jax.distributed when initialized)."""
  return jax.make_mesh((jax.device_count(),), ('seeds',),
                       axis_types=(jax.sharding.AxisType.Auto,))


def chunks(seeds: list[int], seeds_per_device: int, num_devices: int) -> list[np.ndarray]:
  """Chunks of seeds_per_device × num_devices seeds; the last one is padded by repeating its
  last seed, so every device always trains the same shape with one compiled program."""
  size = seeds_per_device * num_devices
  padded = seeds + seeds[-1:] * (-len(seeds) % size)
  return [np.asarray(padded[i:i + size], np.int32) for i in range(0, len(padded), size)]


def group_name(run: config.RunConfig) -> str:
  """The name of a data spec's files: num_last<N>_T<T>."""
  return f'num_last{run.data.num_last}_T{run.seq_len}'


@dataclasses.dataclass(frozen=True)
class _Layout:
  """A data spec's grid as it is trained: the chunks of seeds, the learning-rate pairs (and their
  rates, padded to two pairs), and the fingerprint of each chunk's checkpoint."""

  run: config.RunConfig
  seeds: list[int]
  lr_pairs: list[tuple[float, float]]
  lr_y: np.ndarray
  lr_z: np.ndarray
  seed_chunks: list[np.ndarray]
  fingerprints: list[str]


def _layout(run: config.RunConfig, seeds: list[int], lr_pairs: list[tuple[float, float]],
            seeds_per_device: int, num_devices: int) -> _Layout:
  """The chunks of the grid; a chunk's fingerprint holds what its numbers and layout depend
  on: the run config, its seeds and the learning-rate pairs."""
  padded_pairs = lr_pairs * 2 if len(lr_pairs) == 1 else lr_pairs
  lr_y, lr_z = (np.asarray(v, np.float32) for v in zip(*padded_pairs))
  seed_chunks = chunks(seeds, max(2, seeds_per_device), num_devices)
  fingerprints = [checkpoints.fingerprint(run=dataclasses.asdict(run), seeds=chunk.tolist(),
                                          lr_y=lr_y.tolist(), lr_z=lr_z.tolist())
                  for chunk in seed_chunks]
  return _Layout(run, seeds, lr_pairs, lr_y, lr_z, seed_chunks, fingerprints)


def _restore(layout: _Layout, store: checkpoints.ChunkStore | None) -> dict[int, dict]:
  """The chunks of the layout that the store holds intact, by index."""
  if store is None:
    return {}
  found = {index: store.load(group_name(layout.run), index, made_by)
           for index, made_by in enumerate(layout.fingerprints)}
  return {index: part for index, part in found.items() if part is not None}


def train_grid(run: config.RunConfig, seeds: list[int], lr_pairs: list[tuple[float, float]],
               seeds_per_device: int, on_chunk: Callable[[int], None] = lambda num_runs: None,
               mesh: jax.sharding.Mesh | None = None,
               store: checkpoints.ChunkStore | None = None) -> GroupResult:
  """Trains every (seed, η_Y, η_Z) of the grid: one compiled program, run on chunks of seeds
  sharded over the mesh's devices.

  A run's result depends on its seed and rates alone: it is bit for bit the same whatever the
  grid around it, the chunking and the number of devices. (XLA compiles an axis of length one
  into another program, which rounds differently, so blocks of one seed and grids of one
  learning-rate pair are padded to two.) With a store, each finished chunk is saved, and a
  chunk found there is restored instead of trained; nothing is compiled when all are found.
  """
  mesh = mesh or device_mesh()
  layout = _layout(run, seeds, lr_pairs, seeds_per_device, mesh.size)
  return _train(layout, mesh, _restore(layout, store), store, on_chunk)


def _train(layout: _Layout, mesh: jax.sharding.Mesh, restored: dict[int, dict],
           store: checkpoints.ChunkStore | None,
           on_chunk: Callable[[int], None]) -> GroupResult:
  """train_grid on a layout, with the chunks already restored."""
  run, seeds, lr_pairs, lr_y, lr_z = (layout.run, layout.seeds, layout.lr_pairs, layout.lr_y,
                                      layout.lr_z)
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('seeds'))
  seed_chunks = [jax.make_array_from_callback(chunk.shape, sharding, lambda idx, c=chunk: c[idx])
                 for chunk in layout.seed_chunks]
  grid, seconds = None, {'compile': 0.0, 'train': 0.0}
  parts, remaining = [], len(seeds)
  for index, chunk_seeds in enumerate(seed_chunks):
    part = restored.get(index)
    if part is None:
      if grid is None:
        start = time.perf_counter()
        grid = _grid_program(run, mesh).lower(seed_chunks[0], lr_y, lr_z).compile(
            runtime.compiler_options())
        seconds['compile'] = time.perf_counter() - start
      start = time.perf_counter()
      part = multihost_utils.process_allgather(grid(chunk_seeds, lr_y, lr_z), tiled=True)
      seconds['train'] += time.perf_counter() - start
      if store:
        store.save(group_name(run), index, part, layout.fingerprints[index])
    parts.append(part)
    on_chunk(min(remaining, len(chunk_seeds)) * len(lr_pairs))
    remaining -= len(chunk_seeds)
  num_runs = len(seeds) * len(lr_pairs)
  metrics = {k: np.concatenate([p[k] for p in parts])[:len(seeds), :len(lr_pairs)]
             for k in parts[0]}
  return GroupResult(
      run=run,
      seed=np.repeat(np.asarray(seeds), len(lr_pairs)),
      lr_y=np.tile(lr_y[:len(lr_pairs)], len(seeds)),
      lr_z=np.tile(lr_z[:len(lr_pairs)], len(seeds)),
      metrics={k: v.reshape(num_runs, *v.shape[2:]) for k, v in metrics.items()},
      seconds=seconds)


def run_sweep(c: ml_collections.ConfigDict,
              on_chunk: Callable[[int], None] = lambda num_runs: None,
              store: checkpoints.ChunkStore | None = None) -> Iterator[GroupResult]:
  """The results of each data spec (num_last, seq_len), yielded as it finishes. The chunks found
  in the store are restored before this returns, so that one of another config stops the sweep
  before anything is compiled."""
  mesh = device_mesh()
  layouts = [_layout(config.run_config(c, num_last, seq_len), core_config.seeds(c),
                     config.learning_rate_pairs(c), c.sweep.seeds_per_device, mesh.size)
             for num_last, seq_len in config.data_specs(c)]
  restored = [_restore(layout, store) for layout in layouts]
  if any(restored):
    logging.info('resuming from %s: %d finished chunks are restored, not trained again',
                 store.directory, sum(map(len, restored)))
  return (_train(layout, mesh, parts, store, on_chunk)
          for layout, parts in zip(layouts, restored))


def footprint(c: ml_collections.ConfigDict) -> dict[str, int]:
  """An estimate of the grid's size: 'runs'; 'disk_bytes', its chunk checkpoints and
  trajectories (each about the runs' metrics); 'memory_bytes', the metrics held by the host
  (about three copies: the chunks, the groups, the files being written) and, on a CPU, the
  largest chunk's parameters, optimizer states and gradients."""
  pairs, seeds = len(config.learning_rate_pairs(c)), len(core_config.seeds(c))
  logged = c.train.steps // c.train.log_every + 1
  runs = metric_bytes = chunk_bytes = 0
  for num_last, seq_len in config.data_specs(c):
    spec = config.run_config(c, num_last, seq_len).data
    per_run = 4 * (2 * logged * spec.num_classes * spec.support_size + 3 * logged)
    runs += seeds * pairs
    metric_bytes += seeds * pairs * per_run
    chunk_runs = max(2, c.sweep.seeds_per_device) * max(2, pairs)
    chunk_bytes = max(chunk_bytes, chunk_runs * 4 * 6 * spec.vocab_size ** 2)
  on_cpu = jax.default_backend() == 'cpu'
  return {'runs': runs, 'disk_bytes': 2 * metric_bytes,
          'memory_bytes': 3 * metric_bytes + (chunk_bytes * jax.local_device_count() if on_cpu
                                              else 0)}


def result_rows(g: GroupResult) -> list[dict]:
  """One row per run; `entropy` is the distinct-token entropy at the last step (nats) and
  `final_loss` the mean training loss over the last logging interval."""
  run = g.run
  rows = []
  for r in range(len(g.seed)):
    rows.append({
        'num_last': run.data.num_last,
        'num_next_per_last': run.data.num_next_per_last,
        'seq_len': run.seq_len,
        'lr_y': float(g.lr_y[r]),
        'lr_z': float(g.lr_z[r]),
        'lr_y_over_lr_z': ratio(float(g.lr_y[r]), float(g.lr_z[r])),
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


def ratio(lr_y: float, lr_z: float) -> float:
  """η_Y/η_Z (NaN where η_Z = 0)."""
  return lr_y / lr_z if lr_z > 0 else math.nan


def summarize(rows: list[dict]) -> list[dict]:
  """Mean ± sample std of the final entropy per (num_last, T, η_Z, η_Y) cell, diverged runs
  left out of the statistics and counted in `num_diverged`."""
  cells: dict[tuple, list[dict]] = {}
  for row in rows:
    cells.setdefault((row['num_last'], row['seq_len'], row['lr_z'], row['lr_y']), []).append(row)
  summary = []
  for (num_last, seq_len, lr_z, lr_y), members in sorted(cells.items()):
    kept = np.array([m['entropy'] for m in members if not m['diverged']])
    summary.append({
        'num_last': num_last,
        'seq_len': seq_len,
        'lr_z': lr_z,
        'lr_y': lr_y,
        'lr_y_over_lr_z': ratio(lr_y, lr_z),
        'num_runs': len(kept),
        'num_diverged': len(members) - len(kept),
        'entropy_mean': float(kept.mean()) if len(kept) else math.nan,
        'entropy_std': float(kept.std(ddof=1)) if len(kept) > 1 else math.nan,
    })
  return summary
