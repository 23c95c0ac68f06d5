"""The grid of a sequence-class config trained: one compiled program per data spec (a group of
runs), run on chunks of seeds; and the reference runs that some claims compare the grid with.

The seeds go in chunks of sweep.seeds_per_device, fixed by the config alone: a chunk is what a
checkpoint holds, and each compiled call trains one chunk per device, with all learning-rate
pairs, which a device trains sweep.pairs_per_block at a time (a block small enough to stay in
cache is fastest on a CPU; accelerators want large blocks). The learning-rate pairs of a block
share their seed's sampled batches, which jax draws once per seed and block.
"""

import dataclasses
import pathlib
import time
from typing import Callable

from absl import logging
import jax
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import grid
from scan_snap.core import optimizer
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import train as train_lib

OnChunk = Callable[[int], None]  # called with the number of runs of each finished chunk


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """The runs of one data spec: R = seeds × learning-rate pairs, seed-major."""

  run_config: train_lib.RunConfig
  seed: np.ndarray  # [R]
  lr_y: np.ndarray  # [R]
  lr_z: np.ndarray  # [R]
  metrics: dict[str, np.ndarray]  # train.make_train's metrics, each with a leading [R] axis
  seconds: dict[str, float]  # 'compile' and 'train' wall time


def group_name(run_config: train_lib.RunConfig) -> str:
  """The name of a data spec's files: num_last<n>_T<T>, and _N<N> with a finite training set."""
  size = run_config.train_set_size
  return f'num_last{run_config.data.num_last}_T{run_config.seq_len}' + (f'_N{size}' if size else '')


def pair_block(num_pairs: int, pairs_per_block: int | None) -> int:
  """How many learning-rate pairs are trained together: the pairs split into the fewest blocks
  of at most pairs_per_block (None: one block), all of one size, the last padded; at least 2
  (see train_grid)."""
  num_blocks = 1 if pairs_per_block is None else -(-num_pairs // pairs_per_block)
  return max(2, -(-num_pairs // num_blocks))


def _device_program(run_config: train_lib.RunConfig, block: int) -> Callable:
  """One device's share of a chunk: vmap over its seeds of the (η_Y, η_Z) pairs, which go
  through blocks of `block` pairs one after another (lax.map), each a vmap of train."""
  train = train_lib.make_train(run_config)
  metrics_only = lambda seed, lr_y, lr_z: train(jax.random.key(seed), lr_y, lr_z)[1]
  over_block = jax.vmap(metrics_only, (None, 0, 0))

  def over_pairs(seed, lr_y, lr_z):
    if lr_y.shape[0] == block:
      return over_block(seed, lr_y, lr_z)
    blocks = jax.lax.map(lambda rates: over_block(seed, *rates),
                         (lr_y.reshape(-1, block), lr_z.reshape(-1, block)))
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), blocks)

  return jax.vmap(over_pairs, (0, None, None))


@dataclasses.dataclass(frozen=True)
class _Layout:
  """A data spec's grid as it is trained: the chunks of seeds, the learning-rate pairs (and their
  rates, padded to whole blocks of pairs), and the fingerprint of each chunk's checkpoint."""

  run_config: train_lib.RunConfig
  seeds: list[int]
  lr_pairs: list[tuple[float, float]]
  pair_block: int
  lr_y: np.ndarray
  lr_z: np.ndarray
  seed_chunks: list[np.ndarray]
  fingerprints: list[str]

  def num_runs(self, index: int) -> int:
    """The runs of chunk `index`, its padding left out."""
    size = len(self.seed_chunks[0])
    return min(size, len(self.seeds) - index * size) * len(self.lr_pairs)


def _layout(run_config: train_lib.RunConfig, seeds: list[int], lr_pairs: list[tuple[float, float]],
            seeds_per_device: int, pairs_per_block: int | None) -> _Layout:
  """The chunks of the grid: seeds_per_device seeds each (at least 2), the last padded with
  copies of the last seed, whatever the number of devices or processes, so that a work
  directory resumes on any of them. A chunk's fingerprint holds what its numbers and layout
  depend on: the run config, its seeds and the learning-rate pairs."""
  block = pair_block(len(lr_pairs), pairs_per_block)
  lr_y, lr_z = (np.asarray(v, np.float32) for v in zip(*grid.pad(lr_pairs, block)))
  size = max(2, seeds_per_device)
  padded = grid.pad(seeds, size)
  seed_chunks = [np.asarray(padded[i:i + size], np.int32) for i in range(0, len(padded), size)]
  fingerprints = [checkpoints.fingerprint(run=checkpoints.described(run_config), seeds=chunk.tolist(),
                                          lr_y=lr_y.tolist(), lr_z=lr_z.tolist())
                  for chunk in seed_chunks]
  return _Layout(run_config, seeds, lr_pairs, block, lr_y, lr_z, seed_chunks, fingerprints)


def _restore(layout: _Layout, store: checkpoints.Checkpoints | None) -> dict[int, dict]:
  """The chunks of the layout that the store holds intact, by index."""
  if store is None:
    return {}
  found = {}
  for index in set(store.steps()) & set(range(len(layout.fingerprints))):
    items = store.restore(index, layout.fingerprints[index], 'it is trained again',
                          {'chunk': None})
    if items is not None:
      found[index] = items['chunk']
  return found


def train_grid(run_config: train_lib.RunConfig, seeds: list[int],
               lr_pairs: list[tuple[float, float]], seeds_per_device: int,
               *, pairs_per_block: int | None = None, on_chunk: OnChunk = lambda num_runs: None,
               store: checkpoints.Checkpoints | None = None) -> GroupResult:
  """Trains every (seed, η_Y, η_Z) of the grid: one compiled program, each call of which trains
  one chunk of seeds on every device of every process (see core.grid).

  A run's result depends on its seed and rates alone: it is bit for bit the same whatever the
  grid around it, the chunking, the blocks of pairs (pairs_per_block; None: one block) and the
  number of devices. (XLA compiles an axis of length one into another program, which rounds
  differently, so chunks of one seed and blocks of one learning-rate pair are padded to two.)
  With a store, each finished chunk is saved, and a chunk found there is restored instead of
  trained; nothing is compiled when all are found.
  """
  layout = _layout(run_config, seeds, lr_pairs, seeds_per_device, pairs_per_block)
  return _train(layout, grid.mesh(), _restore(layout, store), store, on_chunk)


def _train(layout: _Layout, device_mesh: jax.sharding.Mesh, restored: dict[int, dict],
           store: checkpoints.Checkpoints | None, on_chunk: OnChunk) -> GroupResult:
  """train_grid on a layout, with the chunks already restored: the chunks left are trained, as
  many at a time as there are devices (the last call filled with copies of its last chunk,
  trained and dropped), and saved; then all are put together."""
  seconds = {'compile': 0.0, 'train': 0.0}
  for index in sorted(restored):
    on_chunk(layout.num_runs(index))
  parts = dict(restored)
  left = [i for i in range(len(layout.seed_chunks)) if i not in restored]
  program, size = None, len(layout.seed_chunks[0])
  for start in range(0, len(left), device_mesh.size):
    chunks = left[start:start + device_mesh.size]
    call_seeds = _sharded(np.concatenate([layout.seed_chunks[i] for i in
                                          grid.pad(chunks, device_mesh.size)]), device_mesh)
    if program is None:
      program, seconds['compile'] = _timed(_compile, layout, device_mesh, call_seeds)
    out, train_s = _timed(lambda: grid.gather(program(call_seeds, layout.lr_y, layout.lr_z)))
    seconds['train'] += train_s
    for j, index in enumerate(chunks):
      parts[index] = {k: v[j * size:(j + 1) * size] for k, v in out.items()}
      if store:
        store.save(index, {'chunk': parts[index]}, layout.fingerprints[index])
    on_chunk(sum(map(layout.num_runs, chunks)))
  return _group_result(layout, [parts[i] for i in range(len(layout.seed_chunks))], seconds)


def _timed(f: Callable, *args):
  """(f(*args), its wall time in seconds)."""
  start = time.perf_counter()
  out = f(*args)
  return out, time.perf_counter() - start


def _sharded(seeds: np.ndarray, device_mesh: jax.sharding.Mesh) -> jax.Array:
  """The seeds of one call as an array split over the mesh, one chunk per device."""
  sharding = jax.sharding.NamedSharding(device_mesh, jax.sharding.PartitionSpec(grid.AXIS))
  return jax.make_array_from_callback(seeds.shape, sharding, lambda idx: seeds[idx])


def _compile(layout: _Layout, device_mesh: jax.sharding.Mesh, call_seeds: jax.Array):
  """The compiled program of one call: each device's chunk of seeds × every pair."""
  program = grid.over_runs(_device_program(layout.run_config, layout.pair_block), device_mesh,
                           (0, None, None))
  return program.lower(call_seeds, layout.lr_y, layout.lr_z).compile(grid.compiler_options())


def _group_result(layout: _Layout, parts: list[dict], seconds: dict[str, float]) -> GroupResult:
  """The chunks' metrics [seeds, pairs, …] put together, the padding dropped, as [R, …]."""
  seeds, lr_pairs = layout.seeds, layout.lr_pairs
  num_runs = len(seeds) * len(lr_pairs)
  metrics = {k: np.concatenate([p[k] for p in parts])[:len(seeds), :len(lr_pairs)]
             for k in parts[0]}
  return GroupResult(
      run_config=layout.run_config,
      seed=np.repeat(np.asarray(seeds), len(lr_pairs)),
      lr_y=np.tile(layout.lr_y[:len(lr_pairs)], len(seeds)),
      lr_z=np.tile(layout.lr_z[:len(lr_pairs)], len(seeds)),
      metrics={k: v.reshape(num_runs, *v.shape[2:]) for k, v in metrics.items()},
      seconds=seconds)


class Sweep:
  """The grids of several data specs (one run config each) over the same seeds and learning-rate
  pairs. With a work directory, each finished chunk is checkpointed there, and the chunks found
  are restored, not trained again: all are restored when the Sweep is made, before anything is
  compiled, so that a checkpoint of another config stops it at once."""

  def __init__(self, runs: list[train_lib.RunConfig], seeds: list[int],
               lr_pairs: list[tuple[float, float]], seeds_per_device: int,
               *, pairs_per_block: int | None = None, workdir: pathlib.Path | None = None):
    self._mesh = grid.mesh()
    self._layouts = [_layout(run_config, seeds, lr_pairs, seeds_per_device, pairs_per_block)
                     for run_config in runs]
    self._stores = [checkpoints.Checkpoints(workdir, group_name(layout.run_config)) if workdir
                    else None for layout in self._layouts]
    self._restored = [_restore(layout, store) for layout, store in zip(self._layouts, self._stores)]
    if any(self._restored):
      logging.info('resuming from %s: %d finished chunks are restored, not trained again',
                   workdir, sum(map(len, self._restored)))

  def train(self, on_chunk: OnChunk = lambda num_runs: None) -> list[GroupResult]:
    """train_grid of every data spec, in order; returns once every checkpoint is written."""
    try:
      groups = []
      for layout, parts, store in zip(self._layouts, self._restored, self._stores):
        groups.append(_train(layout, self._mesh, parts, store, on_chunk))
        logging.info('%s: %d runs, compiled in %.2f s, trained in %.2f s',
                     group_name(layout.run_config), len(groups[-1].seed),
                     groups[-1].seconds['compile'], groups[-1].seconds['train'])
      return groups
    finally:
      for store in filter(None, self._stores):
        store.wait()


def population_references(groups: list[GroupResult]) -> dict[tuple, np.ndarray]:
  """The population (T → ∞) trajectory of c̃ [L+1, K, S] for each (num_last, η_Y, η_Z) of the
  groups, trained from the groups' init (a zero start makes it deterministic)."""
  references = {}
  for group in groups:
    run_config = dataclasses.replace(group.run_config, dynamics='population')
    for lr_y, lr_z in sorted(set(zip(group.lr_y.tolist(), group.lr_z.tolist()))):
      key = (run_config.data.num_last, lr_y, lr_z)
      if key not in references:
        _, m = jax.jit(train_lib.make_train(run_config))(jax.random.key(0), lr_y, lr_z)
        references[key] = np.asarray(m['attn/ctilde'])
  return references


def _solver_run_config(spec: data.SequenceClasses, steps: int,
                       dynamics: str) -> train_lib.RunConfig:
  """The run of a solver check: plain gradient descent or flow from a zero start, every step
  logged, the flow solved to rtol 10⁻⁸."""
  return train_lib.RunConfig(
      data=spec, seq_len=128, batch_size=128,
      model=model.ModelConfig(init='zeros', init_scale=0.1, l2_norm=True, residual=False),
      optimizer=optimizer.from_config(optimizer.config()),  # plain gradient descent
      steps=steps, log_every=1, dynamics=dynamics, flow_rtol=1e-8, flow_max_steps=200_000,
      trajectories=True, train_set_size=0, eval_batches=0)


def decoder_reduction_run(groups: list[GroupResult], lr_y: float = 1.0,
                          steps: int = 200) -> GroupResult:
  """Y alone (η_Z = 0, zero start) trained by gradient flow on classes whose features are
  orthonormal (one distinct token each, no common token): the run the decoder reduction's closed
  form describes (claims.decoder_reduction). It does not depend on the groups."""
  del groups  # A check of the solver, the same for every config.
  run_config = _solver_run_config(
      data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=0,
                           num_common_per_last=0, num_unique_per_next=1), steps, 'flow')
  _, metrics = jax.jit(train_lib.make_train(run_config))(jax.random.key(0), lr_y, 0.0)
  return GroupResult(run_config=run_config, seed=np.zeros(1, int), lr_y=np.full(1, lr_y),
                     lr_z=np.zeros(1),
                     metrics={k: np.asarray(v)[None] for k, v in metrics.items()},
                     seconds={'compile': 0.0, 'train': 0.0})


def flow_vs_steps_runs(groups: list[GroupResult], lr: float = 0.5,
                       steps: int = 100) -> dict[str, np.ndarray]:
  """The population dynamics of Syn-Small's classes from a zero start, η_Y = η_Z = `lr`, solved
  three ways: by gradient flow to time `steps` ('flow'), and by gradient descent with steps of
  1 ('h=1': `steps` steps at rate lr) and of 1/2 ('h=1/2': 2·`steps` steps at rate lr/2, the same
  flow time). Each is z [L+1, K, S] at t = 0, 1, …, `steps` (claims.flow_vs_steps)."""
  del groups  # A check of the solvers, the same for every config.
  run_config = _solver_run_config(
      data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=10,
                           num_common_per_last=0, num_unique_per_next=10), steps, 'population')
  runs = {}
  for name, config, rate in (
      ('flow', dataclasses.replace(run_config, dynamics='flow'), lr),
      ('h=1', run_config, lr),
      ('h=1/2', dataclasses.replace(run_config, steps=2 * steps, log_every=2), lr / 2)):
    _, metrics = jax.jit(train_lib.make_train(config))(jax.random.key(0), rate, rate)
    runs[name] = np.asarray(metrics['attn/logits'], np.float64)
  return runs


# The reference runs a claim or a figure may compare the grid with (their `references`), each
# trained from the grid's groups.
REFERENCES = {'population': population_references, 'decoder_reduction': decoder_reduction_run,
              'flow_vs_steps': flow_vs_steps_runs}


def references(groups: list[GroupResult], names: set[str]) -> dict:
  """The reference runs `names` (of REFERENCES) of the groups."""
  return {name: REFERENCES[name](groups) for name in sorted(names)}
