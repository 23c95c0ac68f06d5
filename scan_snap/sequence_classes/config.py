"""Experiment configs: the declared keys, their validation, and the frozen run configs.

A config file in `configs/` starts from `sequence_classes_config()`, which declares every key,
and sets the experiment's values. Grid axes are tuples (`data.num_last`, `data.seq_len`,
`data.train_set_size`, `optimizer.lr_z`, `optimizer.lr_y`); a scalar override such as
`--config.data.num_last=5` becomes a one-value tuple. `check` records its out-of-range values
(core.pipeline.plan checks a whole config before anything is compiled); `run_config` turns it,
for one value of each non-learning-rate axis, into the frozen dataclass that jit sees.
"""

import dataclasses

import ml_collections
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import optimizer
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import train


def sequence_classes_config() -> ml_collections.ConfigDict:
  """Every key of a sequence-class experiment, at the values of the paper's reference runs."""
  c = ml_collections.ConfigDict()
  c.experiment = 'sequence_classes'  # which experiment module runs it (see scan_snap/main.py)

  c.data = ml_collections.ConfigDict()
  c.data.family = 'paper'  # one of data.FAMILIES: the family of classes the keys below build
  c.data.num_last = (1,)  # grid axis: query tokens; K = num_last × num_next_per_last
  c.data.num_next_per_last = 2
  c.data.num_common = 10  # common tokens shared by all classes
  c.data.num_common_per_last = 0  # common tokens shared by the classes of one query
  c.data.num_unique_per_next = 10  # distinct tokens per class
  c.data.num_shared_across = 0  # family 'shared_across_queries': tokens a class shares with the
                                # class in its place under every other query
  c.data.seq_len = (128,)  # grid axis: T, i.e. T − 1 contextual tokens and the query
  c.data.batch_size = 128
  c.data.train_set_size = (0,)  # grid axis: N samples drawn once per seed; 0: fresh (N = ∞)

  c.model = ml_collections.ConfigDict()
  c.model.init = 'uniform'  # one of model.INITS
  c.model.init_scale = 0.1  # std of init='normal' (read only by that init)
  c.model.l2_norm = True
  c.model.residual = False
  c.model.token_prior = False  # Sec. 7: learn b_l, added to z_{m,l} for every query, at η_Z

  c.optimizer = optimizer.config(momentum=0.9)  # the keys of core.optimizer.config, and:
  c.optimizer.lr_z = (1.0,)  # grid axis: η_Z
  c.optimizer.lr_y = (1.0,)  # grid axis: η_Y, or η_Y/η_Z when lr_y_relative
  c.optimizer.lr_y_relative = True

  c.train = ml_collections.ConfigDict()
  c.train.steps = 100
  c.train.log_every = 10  # c̃ is recorded at steps 0, log_every, …, steps
  c.train.dynamics = 'sampled'  # train.DYNAMICS: 'sampled', 'population' (T → ∞), 'flow'
  c.train.flow_rtol = 1e-6  # 'flow': relative tolerance of the adaptive ODE solver
  c.train.flow_max_steps = 200_000  # 'flow': solver steps before a run is marked diverged
  c.train.trajectories = True  # keep c̃ and z at every logged step; False: the last step only
  c.train.eval_batches = 0  # batches of fresh samples to evaluate the final parameters on

  c.sweep = ml_collections.ConfigDict()
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10  # seeds first_seed … first_seed + num_seeds − 1
  c.sweep.seeds_per_device = 2  # seeds (× all learning-rate pairs) per device per compiled call
  c.sweep.pairs_per_block = 64  # learning-rate pairs a device trains at once (more: in turn)

  c.figures = ml_collections.ConfigDict()
  c.figures.names = ('entropy_grid',)  # any of figures.FIGURES
  c.figures.snapshot_steps = (0, 2, 4, 6, 8, 10, 100)  # 'attention_snapshots': steps shown
  c.figures.snapshot_class = 0  # 'attention_snapshots': class index (0 is the paper's class 1)
  c.figures.recall_thresholds = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5)  # × 1/U ('recall')
  c.figures.recall_lr_y = 5.0  # 'recall': the fixed η_Y of the curves over η_Z
  c.figures.recall_lr_z = 1.0  # 'recall': the fixed η_Z of the curves over η_Y
  c.figures.marked_lr_z = (0.5, 1.0, 2.0, 3.0)  # 'phase_diagram': points drawn on top, η_Z …
  c.figures.marked_lr_y_over_lr_z = (1.0, 2.0, 5.0, 10.0)  # … × η_Y/η_Z (Syn-Medium's grid)

  c.report = ml_collections.ConfigDict()
  c.report.claims = ()  # checks written to report.md: any of claims.CLAIMS
  c.report.loss_threshold = 0.1  # nats: results' steps_to_loss, read by convergence_vs_sparsity
  return c


def set_syn_small_data(c: ml_collections.ConfigDict) -> None:
  """Syn-Small's classes: 2 queries, one class each, 10 common and 10 distinct tokens."""
  c.data.num_last = (2,)
  c.data.num_next_per_last = 1
  c.data.num_common = 10
  c.data.num_common_per_last = 0
  c.data.num_unique_per_next = 10


def set_syn_medium_data(c: ml_collections.ConfigDict) -> None:
  """Syn-Medium's classes: num_last ∈ {1, 3, 5, 10}, two classes per query, 10 common
  and 10 distinct tokens."""
  c.data.num_last = (1, 3, 5, 10)
  c.data.num_next_per_last = 2
  c.data.num_common = 10
  c.data.num_common_per_last = 0
  c.data.num_unique_per_next = 10


def check(problems: core_config.Problems) -> None:
  """Records each out-of-range value of the config in `problems` (the figures and claims it
  names are checked when its plan is made: core.pipeline.plan)."""
  c = problems.config
  is_int, is_real = core_config.is_int, core_config.is_real
  need = problems.need
  d, o, t = c.data, c.optimizer, c.train
  need(c.experiment == 'sequence_classes', 'experiment', "must be 'sequence_classes' here")
  need(d.family in data.FAMILIES, 'data.family', f'must be one of {tuple(data.FAMILIES)}')
  need(len(d.num_last) > 0 and all(is_int(v) and v >= 1 for v in d.num_last),
       'data.num_last', 'must be one or more positive integers')
  for key in ('num_next_per_last', 'num_unique_per_next', 'batch_size'):
    need(is_int(d[key]) and d[key] >= 1, f'data.{key}', 'must be a positive integer')
  for key in ('num_common', 'num_common_per_last', 'num_shared_across'):
    need(is_int(d[key]) and d[key] >= 0, f'data.{key}', 'must be a non-negative integer')
  if d.family in data.FAMILIES:
    need(d.num_shared_across == 0 or 'num_shared_across' in family_keys(d.family),
         'data.num_shared_across', "is read by data.family='shared_across_queries' only: "
         f'leave it 0 with {d.family!r}')
  need(not (is_int(d.num_shared_across) and d.num_shared_across > 0)
       or all(not is_int(v) or v >= 2 for v in d.num_last), 'data.num_last',
       'must be ≥ 2 with data.num_shared_across > 0: a token shared across queries needs two')
  need(len(d.seq_len) > 0 and all(is_int(v) and v >= 2 for v in d.seq_len), 'data.seq_len',
       'must be one or more integers ≥ 2 (at least one contextual token and the query)')
  need(len(d.train_set_size) > 0 and all(
      is_int(v) and (v == 0 or (is_int(d.batch_size) and v >= d.batch_size))
      for v in d.train_set_size), 'data.train_set_size',
       'must be one or more training-set sizes N: 0 (fresh samples every step, N = ∞) or '
       'integers ≥ data.batch_size')
  need(t.dynamics == 'sampled' or all(v == 0 for v in d.train_set_size), 'data.train_set_size',
       f"must be 0 unless train.dynamics = 'sampled' (got {t.dynamics!r})")

  need(c.model.init in model.INITS, 'model.init', f'must be one of {model.INITS}')
  need(c.model.init != 'normal' or (is_real(c.model.init_scale) and c.model.init_scale > 0),
       'model.init_scale', "must be a positive number with init='normal'")

  optimizer.check(problems)
  for key in ('lr_z', 'lr_y'):
    need(core_config.learning_rates_ok(o[key]), f'optimizer.{key}', core_config.LEARNING_RATES)
  if not problems.found and o.lr_y_relative:
    need(all(y * z <= core_config.FLOAT32_MAX for y in o.lr_y for z in o.lr_z), 'optimizer.lr_y',
         f'× optimizer.lr_z (lr_y_relative) must stay ≤ {core_config.FLOAT32_MAX:.4g} (float32)')
  if not problems.found:
    core_config.check_distinct(problems, 'optimizer.lr_y', learning_rate_pairs(c),
                               'the pairs (η_Y, η_Z)',
                               'η_Y = lr_y × lr_z with lr_y_relative' if o.lr_y_relative else '')

  need(is_int(t.steps) and t.steps >= 1, 'train.steps', 'must be a positive integer')
  logs_ok = (is_int(t.steps) and is_int(t.log_every) and t.log_every >= 1
             and t.steps % t.log_every == 0)
  need(logs_ok, 'train.log_every', 'must be a positive integer that divides train.steps')
  need(t.dynamics in train.DYNAMICS, 'train.dynamics', f'must be one of {train.DYNAMICS}')
  need(t.dynamics != 'flow' or (o.name == 'sgd' and o.momentum == 0 and o.weight_decay == 0),
       'train.dynamics', "'flow' integrates plain gradient descent: it needs optimizer.name='sgd' "
       'with momentum 0 and weight_decay 0')
  need(is_real(t.flow_rtol) and t.flow_rtol > 0, 'train.flow_rtol', 'must be a positive number')
  need(is_int(t.flow_max_steps) and t.flow_max_steps >= 1, 'train.flow_max_steps',
       'must be a positive integer')
  need(isinstance(t.trajectories, bool), 'train.trajectories', 'must be True or False')
  need(is_int(t.eval_batches) and t.eval_batches >= 0, 'train.eval_batches',
       'must be a non-negative integer')

  need(is_int(c.sweep.num_seeds) and c.sweep.num_seeds >= 1, 'sweep.num_seeds',
       'must be a positive integer')
  need(is_int(c.sweep.first_seed) and c.sweep.first_seed >= 0, 'sweep.first_seed',
       'must be a non-negative integer')
  need(core_config.seeds_fit(c), 'sweep.first_seed', core_config.SEEDS_FIT)
  need(is_int(c.sweep.seeds_per_device) and c.sweep.seeds_per_device >= 1,
       'sweep.seeds_per_device', 'must be a positive integer')
  need(is_int(c.sweep.pairs_per_block) and c.sweep.pairs_per_block >= 1,
       'sweep.pairs_per_block', 'must be a positive integer')

  need(len(c.figures.recall_thresholds) > 0
       and all(is_real(v) and v > 0 for v in c.figures.recall_thresholds),
       'figures.recall_thresholds', 'must be one or more positive multiples of 1/U')
  for key in ('recall_lr_y', 'recall_lr_z'):
    need(is_real(c.figures[key]), f'figures.{key}', 'must be a finite number')
  for key in ('marked_lr_z', 'marked_lr_y_over_lr_z'):
    need(all(is_real(v) and v > 0 for v in c.figures[key]), f'figures.{key}',
         'must be positive numbers')
  need(is_real(c.report.loss_threshold) and c.report.loss_threshold > 0,
       'report.loss_threshold', 'must be a positive number (nats)')


def run_config(c: ml_collections.ConfigDict, num_last: int, seq_len: int | None = None,
               train_set_size: int | None = None) -> train.RunConfig:
  """The frozen config of the runs with `num_last` query tokens, sequence length `seq_len` and
  training set size `train_set_size` (learning rates stay traced); seq_len and train_set_size
  may be left out when their axis has one value."""
  d, o = c.data, c.optimizer
  if seq_len is None:
    seq_len = _only_value(d, 'seq_len')
  if train_set_size is None:
    train_set_size = _only_value(d, 'train_set_size')
  return train.RunConfig(
      data=data.FAMILIES[d.family](num_last=num_last,
                                   **{key: d[key] for key in family_keys(d.family)}),
      seq_len=seq_len,
      batch_size=d.batch_size,
      model=model.ModelConfig(init=c.model.init, init_scale=c.model.init_scale,
                              l2_norm=c.model.l2_norm, residual=c.model.residual,
                              token_prior=c.model.token_prior),
      optimizer=optimizer.from_config(o),
      steps=c.train.steps,
      log_every=c.train.log_every,
      dynamics=c.train.dynamics,
      flow_rtol=c.train.flow_rtol,
      flow_max_steps=c.train.flow_max_steps,
      trajectories=c.train.trajectories,
      train_set_size=train_set_size,
      eval_batches=c.train.eval_batches,
  )


def family_keys(family: str) -> list[str]:
  """The keys of config.data that a family's generator reads, beside the num_last axis (its
  dataclass fields)."""
  return [f.name for f in dataclasses.fields(data.FAMILIES[family]) if f.name != 'num_last']


def _only_value(d: ml_collections.ConfigDict, axis: str) -> int:
  """The value of a one-value grid axis of c.data."""
  if len(d[axis]) != 1:
    raise core_config.ConfigError(f'data.{axis} = {d[axis]} has several values: name one')
  return d[axis][0]


def rate_pairs(lr_z, lr_y, lr_y_relative: bool) -> list[tuple[float, float]]:
  """(η_Y, η_Z) of each cell of the axes, η_Z-major; η_Y = lr_y·η_Z when lr_y_relative."""
  return [(float(y * z if lr_y_relative else y), float(z)) for z in lr_z for y in lr_y]


def learning_rate_pairs(c: ml_collections.ConfigDict) -> list[tuple[float, float]]:
  """(η_Y, η_Z) of the config's grid (rate_pairs of optimizer.lr_z, lr_y)."""
  o = c.optimizer
  return rate_pairs(o.lr_z, o.lr_y, o.lr_y_relative)


@dataclasses.dataclass(frozen=True)
class Grid:
  """A config's grid: one run config per data spec, over the same seeds and learning-rate cells.
  A cell is an index into the axes, (i_z, i_y), or its position in `pairs` (η_Z-major,
  i_z · len(lr_y) + i_y); two cells are the same cell when their indices are (the config refuses
  a pair given twice, so no two cells train the same rates)."""

  runs: list[train.RunConfig]  # per data spec
  seeds: list[int]
  lr_z: tuple[float, ...]  # the axes as the config gives them (optimizer.lr_z, optimizer.lr_y)
  lr_y: tuple[float, ...]
  lr_y_relative: bool  # lr_y holds η_Y/η_Z

  @property
  def shape(self) -> tuple[int, int]:
    """(len(lr_z), len(lr_y)): the cells of the plane."""
    return len(self.lr_z), len(self.lr_y)

  @property
  def pairs(self) -> list[tuple[float, float]]:
    """(η_Y, η_Z) of each cell, η_Z-major, as the runs train them."""
    return rate_pairs(self.lr_z, self.lr_y, self.lr_y_relative)

  def cell_rates(self) -> tuple[np.ndarray, np.ndarray]:
    """[len(lr_z), len(lr_y)] η_Z and absolute η_Y of each cell (float64)."""
    lr_z, lr_y = np.meshgrid(np.asarray(self.lr_z, float), np.asarray(self.lr_y, float),
                             indexing='ij')
    return lr_z, lr_y * lr_z if self.lr_y_relative else lr_y


def grid(c: ml_collections.ConfigDict) -> Grid:
  """The checked config's grid: a run config per data spec (data_specs), its seeds and axes."""
  o = c.optimizer
  return Grid([run_config(c, *spec) for spec in data_specs(c)], core_config.seeds(c),
              tuple(o.lr_z), tuple(o.lr_y), bool(o.lr_y_relative))


def data_specs(c: ml_collections.ConfigDict) -> list[tuple[int, int, int]]:
  """(num_last, seq_len, train_set_size) of each group of runs that shares one compiled
  program."""
  return [(num_last, seq_len, size) for num_last in c.data.num_last
          for seq_len in c.data.seq_len for size in c.data.train_set_size]
