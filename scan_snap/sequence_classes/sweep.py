"""The grid of a sequence-class config trained: one compiled program per data spec (a group of
runs), run on chunks of seeds; and, by the same engine, the reference runs that some claims and
figures compare the grid with.

The seeds go in chunks of sweep.seeds_per_device, fixed by the config alone: a chunk is what a
checkpoint holds, and each compiled call trains one chunk per device, with all learning-rate
pairs, which a device trains sweep.pairs_per_block at a time (a block small enough to stay in
cache is fastest on a CPU; accelerators want large blocks). The learning-rate pairs of a block
share their seed's sampled batches, which jax draws once per seed and block.
"""

import dataclasses
import pathlib
import time
from typing import Any, Callable

from absl import logging
import jax
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import engine
from scan_snap.core import grid
from scan_snap.core import optimizer
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import train as train_lib

@dataclasses.dataclass(frozen=True)
class GroupResult:
  """The runs of one data spec: R = seeds × learning-rate pairs, seed-major."""

  run_config: train_lib.RunConfig
  seed: np.ndarray  # [R]
  cell: np.ndarray  # [R] the run's learning-rate cell: its pair's index in the grid's pairs
  lr_y: np.ndarray  # [R] the cell's rates, as trained (float32)
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

  @property
  def total_runs(self) -> int:
    """The runs of every chunk, the padding left out."""
    return len(self.seeds) * len(self.lr_pairs)


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
  fingerprints = [engine.fingerprint(run_config, seeds=chunk.tolist(), lr_y=lr_y.tolist(),
                                     lr_z=lr_z.tolist())
                  for chunk in seed_chunks]
  return _Layout(run_config, seeds, lr_pairs, block, lr_y, lr_z, seed_chunks, fingerprints)


def _restore(layout: _Layout, store: checkpoints.Checkpoints | None) -> dict[int, dict]:
  """The chunks of the layout that the store holds intact, by index (engine.restore_each)."""
  return {index: items['chunk'] for index, items in
          engine.restore_each(store, layout.fingerprints, {'chunk': None}).items()}


def train_grid(run_config: train_lib.RunConfig, seeds: list[int],
               lr_pairs: list[tuple[float, float]], seeds_per_device: int,
               *, pairs_per_block: int | None = None,
               store: checkpoints.Checkpoints | None = None) -> GroupResult:
  """Trains every (seed, η_Y, η_Z) of the grid: one compiled program, each call of which trains
  one chunk of seeds on every device of this process, each process its own share of the chunks
  (see core.grid).

  A run's result depends on its seed and rates alone: it is bit for bit the same whatever the
  grid around it, the chunking, the blocks of pairs (pairs_per_block; None: one block) and the
  number of devices. (XLA compiles an axis of length one into another program, which rounds
  differently, so chunks of one seed and blocks of one learning-rate pair are padded to two.)
  With a store, each finished chunk is saved, and a chunk found there is restored instead of
  trained; nothing is compiled when all are found. No progress bar is shown.
  """
  layout = _layout(run_config, seeds, lr_pairs, seeds_per_device, pairs_per_block)
  restored = _restore(layout, store)
  with engine.session(layout.total_runs, 'run', '', show=False) as job:
    return _train(layout, grid.mesh(), restored, store, job)


def _train(layout: _Layout, device_mesh: jax.sharding.Mesh, restored: dict[int, dict],
           store: checkpoints.Checkpoints | None, job: engine.Session) -> GroupResult:
  """train_grid on a layout, with the chunks already restored: the chunks left, cut into one
  share per process (core.grid.shares), are trained, as many at a time as the process has
  devices (each call filled with copies of its last chunk, trained and dropped), gathered from
  every process and saved, in the job's progress bar; then all are put together."""
  seconds = {'compile': 0.0, 'train': 0.0}
  parts = dict(restored)
  left = [i for i in range(len(layout.seed_chunks)) if i not in restored]
  per_call, size = device_mesh.size, len(layout.seed_chunks[0])
  program, share_of = None, grid.shares(left)
  for start in range(0, len(share_of[0]), per_call):
    # Each process's call: the chunks it trains; every process's come back in process order.
    calls = [grid.pad(share[start:start + per_call], per_call) for share in share_of]
    call_seeds = _sharded(np.concatenate([layout.seed_chunks[i] for i in
                                          calls[jax.process_index()]]), device_mesh)
    if program is None:
      program, seconds['compile'] = _timed(_compile, layout, device_mesh, call_seeds)
    out, train_s = _timed(lambda: grid.gather(program(call_seeds, layout.lr_y, layout.lr_z)))
    seconds['train'] += train_s
    finished = []
    for j, index in enumerate(i for call in calls for i in call):
      if index not in parts:  # Not a padding copy of a chunk already put in.
        parts[index] = {k: v[j * size:(j + 1) * size] for k, v in out.items()}
        finished.append(index)
        if store:
          job.save(store, index, {'chunk': parts[index]}, layout.fingerprints[index])
    job.advance(sum(map(layout.num_runs, finished)))
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
      cell=np.tile(np.arange(len(lr_pairs)), len(seeds)),
      lr_y=np.tile(layout.lr_y[:len(lr_pairs)], len(seeds)),
      lr_z=np.tile(layout.lr_z[:len(lr_pairs)], len(seeds)),
      metrics={k: v.reshape(num_runs, *v.shape[2:]) for k, v in metrics.items()},
      seconds=seconds)


@dataclasses.dataclass(frozen=True)
class Reference:
  """Runs that a claim or a figure compares the grid with (their `references`), trained by the
  engine after the grid, checkpointed and counted in its progress bar: `grids(runs, pairs)`
  gives, from the grid's run configs and learning-rate pairs, each reference grid's name (its
  checkpoints' folder), run config and pairs, all of seed 0, or of the grid's seeds with
  `paired` (a control run seed by seed beside the grid); `read(trained)` makes what the
  measurements read of those grids' results, by name."""

  grids: Callable[[list[train_lib.RunConfig], list[tuple[float, float]]],
                  dict[str, tuple[train_lib.RunConfig, list[tuple[float, float]]]]]
  read: Callable[[dict[str, GroupResult]], Any]
  paired: bool = False


@dataclasses.dataclass(frozen=True)
class Trained:
  """A config's grid trained: one GroupResult per data spec, and the reference runs, by name."""

  groups: list[GroupResult]
  references: dict[str, Any]
  seconds: dict[str, float]  # 'compile' and 'train' wall time, the reference runs' included


class Sweep:
  """The grids of several data specs (one run config each) over the same seeds and learning-rate
  pairs, then the reference runs `references` (names of REFERENCES). With a work directory,
  each finished chunk is checkpointed there, and the chunks found are restored, not trained
  again: all are restored when the Sweep is made, before anything is compiled, so that a
  checkpoint of another config stops it at once."""

  def __init__(self, runs: list[train_lib.RunConfig], seeds: list[int],
               lr_pairs: list[tuple[float, float]], seeds_per_device: int,
               *, pairs_per_block: int | None = None, workdir: pathlib.Path | None = None,
               references: tuple[str, ...] = ()):
    self._mesh = grid.mesh()
    self._references = {name: REFERENCES[name] for name in sorted(references)}
    self._reference_grids = {}  # reference name → the names of its grids
    named = [(group_name(run_config), run_config, seeds, lr_pairs) for run_config in runs]
    for name, reference in self._references.items():
      grids = reference.grids(runs, lr_pairs)
      self._reference_grids[name] = list(grids)
      named += [(grid_name, run_config, seeds if reference.paired else [0], pairs)
                for grid_name, (run_config, pairs) in grids.items()]
    self._num_groups = len(runs)
    self._names = [name for name, *_ in named]
    self._layouts = [_layout(run_config, grid_seeds, pairs, seeds_per_device, pairs_per_block)
                     for _, run_config, grid_seeds, pairs in named]
    self._stores = [checkpoints.Checkpoints(workdir, name) if workdir else None
                    for name in self._names]
    self._restored = [_restore(layout, store) for layout, store in zip(self._layouts, self._stores)]
    if any(self._restored):
      logging.info('resuming from %s: %d finished chunks are restored, not trained again',
                   workdir, sum(map(len, self._restored)))

  @property
  def num_runs(self) -> int:
    """The runs to train, the reference runs included (the progress bar's total)."""
    return sum(layout.total_runs for layout in self._layouts)

  def train(self, show_progress: bool = True) -> Trained:
    """train_grid of every data spec, in order, then of the reference grids, under one progress
    bar of runs (shown when `show_progress`); a first Ctrl-C stops after the call under way,
    its chunks saved (KeyboardInterrupt). Returns once every checkpoint is written."""
    restored = sum(layout.num_runs(i) for layout, parts in zip(self._layouts, self._restored)
                   for i in parts)
    trained = {}
    with engine.session(self.num_runs, 'run', 'sweep', initial=restored, show=show_progress,
                        interrupted=self._saved) as job:
      for name, layout, parts, store in zip(self._names, self._layouts, self._restored,
                                            self._stores):
        trained[name] = _train(layout, self._mesh, parts, store, job)
        logging.info('%s: %d runs, compiled in %.2f s, trained in %.2f s', name,
                     len(trained[name].seed), trained[name].seconds['compile'],
                     trained[name].seconds['train'])
    return Trained(
        groups=[trained[name] for name in self._names[:self._num_groups]],
        references={name: reference.read({g: trained[g] for g in self._reference_grids[name]})
                    for name, reference in self._references.items()},
        seconds={k: sum(group.seconds[k] for group in trained.values())
                 for k in ('compile', 'train')})

  def _saved(self) -> str:
    """What an interrupted train leaves: the chunks saved, of all (empty with no workdir)."""
    if self._stores[0] is None:
      return ''
    chunks = [len(layout.seed_chunks) for layout in self._layouts]
    saved = sum(len(set(store.steps()) & set(range(n))) for store, n in zip(self._stores, chunks))
    if saved == sum(chunks):
      return f'all {saved} chunks saved: the same command writes the results from them'
    return f'saved {saved} of {sum(chunks)} chunks: the same command trains the others'


def _population_grids(runs: list[train_lib.RunConfig],
                      pairs: list[tuple[float, float]]) -> dict[str, tuple]:
  """The population (T → ∞) dynamics of each num_last of the grid, at the grid's pairs, from the
  grid's init at seed 0 (a zero start makes it deterministic)."""
  grids = {}
  for run_config in runs:
    grids.setdefault(f'population_num_last{run_config.data.num_last}',
                     (dataclasses.replace(run_config, dynamics='population'), pairs))
  return grids


def _population_read(trained: dict[str, GroupResult]) -> dict[tuple[int, int], np.ndarray]:
  """The trajectory of c̃ [L+1, K, S] for each (num_last, cell of the grid), by num_last in the
  grid's order, then by the cells' rates (η_Y, η_Z)."""
  return {(group.run_config.data.num_last, int(group.cell[r])): group.metrics['attn/ctilde'][r]
          for group in trained.values()
          for r in sorted(range(len(group.cell)),
                          key=lambda r: (float(group.lr_y[r]), float(group.lr_z[r])))}


def _without_residual_grids(runs: list[train_lib.RunConfig],
                            pairs: list[tuple[float, float]]) -> dict[str, tuple]:
  """Each group of the grid again with the residual off (model.residual = False)."""
  return {f'without_residual_{group_name(run_config)}': (dataclasses.replace(
      run_config, model=dataclasses.replace(run_config.model, residual=False)), pairs)
          for run_config in runs}


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


def decoder_reduction(lr_y: float = 1.0, steps: int = 200) -> Reference:
  """Y alone (η_Z = 0, zero start) trained by gradient flow on classes whose features are
  orthonormal (one distinct token each, no common token): the run the decoder reduction's closed
  form describes (claims.decoder_reduction), read as its GroupResult. It does not depend on the
  grid: a check of the solver, the same for every config."""
  run_config = _solver_run_config(
      data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=0,
                           num_common_per_last=0, num_unique_per_next=1), steps, 'flow')
  return Reference(grids=lambda runs, pairs: {'solver_decoder_reduction':
                                              (run_config, [(lr_y, 0.0)])},
                   read=lambda trained: trained['solver_decoder_reduction'])


def flow_vs_steps(lr: float = 0.5, steps: int = 100) -> Reference:
  """The population dynamics of Syn-Small's classes from a zero start, η_Y = η_Z = `lr`, solved
  three ways: by gradient flow to time `steps` ('flow'), and by gradient descent with steps of
  1 ('h=1': `steps` steps at rate lr) and of 1/2 ('h=1/2': 2·`steps` steps at rate lr/2, the same
  flow time). Each is read as z [L+1, K, S] at t = 0, 1, …, `steps` (claims.flow_vs_steps). A
  check of the solvers, the same for every config."""
  run_config = _solver_run_config(
      data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=10,
                           num_common_per_last=0, num_unique_per_next=10), steps, 'population')
  # name: (its grid's name, run config, rate)
  solved = {'flow': ('flow', dataclasses.replace(run_config, dynamics='flow'), lr),
            'h=1': ('step1', run_config, lr),
            'h=1/2': ('step0.5', dataclasses.replace(run_config, steps=2 * steps, log_every=2),
                      lr / 2)}
  return Reference(
      grids=lambda runs, pairs: {f'solver_flow_vs_steps_{grid}': (config, [(rate, rate)])
                                 for grid, config, rate in solved.values()},
      read=lambda trained: {name: np.asarray(
          trained[f'solver_flow_vs_steps_{grid}'].metrics['attn/logits'][0], np.float64)
                            for name, (grid, _, _) in solved.items()})


# The reference runs a claim or a figure may compare the grid with (their `references`).
REFERENCES = {'population': Reference(_population_grids, _population_read),
              'decoder_reduction': decoder_reduction(), 'flow_vs_steps': flow_vs_steps(),
              # Each group's GroupResult without the residual, by the group's name: its runs in
              # the group's order (the same seeds and cells, so the same batches).
              'without_residual': Reference(_without_residual_grids, lambda trained: {
                  group_name(group.run_config): group for group in trained.values()},
                                            paired=True)}
