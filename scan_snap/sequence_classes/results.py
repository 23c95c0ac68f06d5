"""What a sequence-class experiment reports, computed once from its trained groups.

`Results(grid, readings, groups, references)` holds the rows of results.csv, the summary, the
lines of metrics.jsonl, each group's trajectories, and the measurements that figures and claims
share: each run's snapping time t₀, recall at thresholds, the distance to the population
dynamics. The figures (figures.FIGURES) and the claims (claims.CLAIMS) read them from here, and
read nothing of the config but its grid (config.Grid) and its Readings; the measurements are
computed when first read. TABLES maps the measurements written as <name>.csv to their rows,
COLUMNS the per-run measurements a claim may add to results.csv to their values.

A learning-rate cell is an index (config.Grid): runs are of the same cell when their `cell` is.
A rate compared with a rate the config names, or a ratio of rates with a bound, is compared as
written (as_written), so that float32's rounding in training does not move it.
"""

import dataclasses
import functools
import math
from typing import Callable

import jax
import ml_collections
import numpy as np

from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import metrics
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train

# The first steps, in which the discrete updates from the start dominate a growth curve's
# log-log slope: the t₀ detector starts after them.
STARTUP = 5


@dataclasses.dataclass(frozen=True)
class Readings:
  """What the measurements, figures and claims read of a config beyond its grid."""

  recall_thresholds: tuple[float, ...]  # × 1/U (figures.recall_thresholds)
  recall_lr_y: float  # the fixed rates of the recall curves
  recall_lr_z: float
  loss_threshold: float  # report.loss_threshold, nats
  snapshot_steps: tuple[int, ...]  # figures.snapshot_steps, snapshot_class
  snapshot_class: int
  marked_lr_z: tuple[float, ...]  # the points marked on the phase diagram
  marked_lr_y_over_lr_z: tuple[float, ...]

  @classmethod
  def of(cls, c: ml_collections.ConfigDict) -> 'Readings':
    f = c.figures
    return cls(tuple(f.recall_thresholds), f.recall_lr_y, f.recall_lr_z, c.report.loss_threshold,
               tuple(f.snapshot_steps), f.snapshot_class, tuple(f.marked_lr_z),
               tuple(f.marked_lr_y_over_lr_z))


def ratio(lr_y: float, lr_z: float) -> float:
  """η_Y/η_Z (NaN where η_Z = 0)."""
  return lr_y / lr_z if lr_z > 0 else math.nan


def as_written(rate):
  """A rate, a ratio of rates, or an array of them, at the 6 significant digits a config
  writes: float32's rounding undone (0.3 trains as 0.30000001…, and 0.03/0.003 is 9.99999…)."""
  written = np.vectorize(lambda x: float(f'{x:.6g}'), otypes=[float])(rate)
  return float(written) if np.ndim(rate) == 0 else written


def same_rate(a: float, b: float) -> bool:
  """Whether two rates are the same as written (as_written)."""
  return as_written(a) == as_written(b)


def cells_by_rate(group: sweep.GroupResult) -> list[tuple[int, float, float]]:
  """(cell, η_Y, η_Z) of each learning-rate cell of a group, the rates as trained, in the order
  of (η_Y, η_Z)."""
  first = np.unique(group.cell, return_index=True)[1]  # each cell's first run
  return sorted(((int(group.cell[r]), float(group.lr_y[r]), float(group.lr_z[r])) for r in first),
                key=lambda cell: cell[1:])


def result_rows(g: sweep.GroupResult) -> list[dict]:
  """One row per run; `entropy` is the distinct-token entropy at the last step (nats),
  `final_loss` the mean training loss over the last logging interval; with
  run_config.eval_batches, `fresh_loss` and `fresh_accuracy` of the final parameters on fresh
  samples."""
  run_config = g.run_config
  rows = []
  for r in range(len(g.seed)):
    rows.append({
        'num_last': run_config.data.num_last,
        'num_next_per_last': run_config.data.num_next_per_last,
        'seq_len': run_config.seq_len,
        'train_set_size': run_config.train_set_size,
        'lr_y': float(g.lr_y[r]),
        'lr_z': float(g.lr_z[r]),
        'lr_y_over_lr_z': ratio(float(g.lr_y[r]), float(g.lr_z[r])),
        'seed': int(g.seed[r]),
        'optimizer': run_config.optimizer.name,
        'init': run_config.model.init,
        'steps': run_config.steps,
        'final_loss': float(g.metrics['train/loss'][r, -1]),
        'final_accuracy': float(g.metrics['train/accuracy'][r, -1]),
        **({'fresh_loss': float(g.metrics['eval/loss'][r]),
            'fresh_accuracy': float(g.metrics['eval/accuracy'][r])}
           if run_config.eval_batches else {}),
        'entropy': float(g.metrics['attn/entropy'][r, -1]),
        'diverged': bool(g.metrics['diverged'][r]),
    })
  return rows


def summarize(groups: list[sweep.GroupResult]) -> list[dict]:
  """Mean ± sample std of the final entropy per data spec and learning-rate cell, in the order of
  (num_last, T, N, η_Z, η_Y), diverged runs left out of the statistics and counted in
  `num_diverged`."""
  summary = []
  for group in groups:
    spec = group.run_config
    entropy = np.asarray(group.metrics['attn/entropy'][:, -1], np.float64)
    for cell, lr_y, lr_z in cells_by_rate(group):
      members = group.cell == cell
      kept = entropy[members & ~group.metrics['diverged']]
      summary.append({
          'num_last': spec.data.num_last,
          'seq_len': spec.seq_len,
          'train_set_size': spec.train_set_size,
          'lr_z': lr_z,
          'lr_y': lr_y,
          'lr_y_over_lr_z': ratio(lr_y, lr_z),
          'num_runs': len(kept),
          'num_diverged': int(members.sum()) - len(kept),
          'entropy_mean': float(kept.mean()) if len(kept) else math.nan,
          'entropy_std': float(kept.std(ddof=1)) if len(kept) > 1 else math.nan,
      })
  return sorted(summary, key=lambda s: (s['num_last'], s['seq_len'], s['train_set_size'],
                                        s['lr_z'], s['lr_y']))


def local_slopes(t: np.ndarray, growth: np.ndarray, points_per_decade: int = 10):
  """d ln(growth) / d ln(t) between points of a log-spaced grid of t (t ≥ 1, growth > 0).

  Returns (t at the middle of each interval, slopes); the curve is read at the logged times
  nearest the grid.
  """
  t, growth = np.asarray(t, float), np.asarray(growth, float)
  keep = (t >= 1) & (growth > 0)
  t, growth = t[keep], growth[keep]
  if len(t) < 3:
    return np.array([]), np.array([])
  grid = np.logspace(np.log10(t[0]), np.log10(t[-1]),
                     max(3, int(points_per_decade * np.log10(t[-1] / t[0])) + 1))
  index = np.unique(np.searchsorted(t, grid).clip(0, len(t) - 1))
  tt, gg = t[index], growth[index]
  slopes = np.diff(np.log(gg)) / np.diff(np.log(tt))
  return np.sqrt(tt[1:] * tt[:-1]), slopes


def transition_time(t: np.ndarray, growth: np.ndarray, drop: float = 0.5,
                    start: float = STARTUP) -> float:
  """The snapping time t₀ of a growth curve, or NaN when there is none.

  Polynomial growth c·t^p has a constant log-log slope p; growth that has turned logarithmic
  (a·ln t, or the (ln t)² of Theorem 4) has a slope that decays like 1/ln t. t₀ is the first
  time at which the slope falls below `drop` × the largest slope seen before it (10 slopes per
  decade of t), counting from t ≥ `start`, after the start-up steps. A pure power law never
  does, and gives NaN. A transition before `start` cannot be resolved: the detector then
  reports the next bend it sees, or none.
  """
  mid, slopes = local_slopes(t, growth)
  after = mid >= start
  mid, slopes = mid[after], slopes[after]
  if len(slopes) < 2:
    return math.nan
  below = np.flatnonzero(slopes < drop * np.maximum.accumulate(slopes))
  return float(mid[below[0]]) if len(below) else math.nan


def first_step_below(steps: np.ndarray, loss: np.ndarray, threshold: float) -> float:
  """The first logged step at which the training loss (the mean over the interval ending
  there) is at most `threshold`, NaN when none is; steps [L+1], loss [L]."""
  below = np.flatnonzero(loss <= threshold)
  return float(steps[1:][below[0]]) if len(below) else math.nan


def dominant_growth(group: sweep.GroupResult) -> np.ndarray:
  """[R, L+1] z_{m,l*}(t) − z_{m,l*}(0) for the most frequent distinct token l* of class 1."""
  logits = group.metrics['attn/top_logit']
  return logits - logits[:, :1]


def training_set(run_config: train.RunConfig, seed: int) -> data.CountsBatch:
  """The training set that make_train(run_config)(key(seed), …) reads (train_set_size > 0)."""
  data_key = train.run_keys(jax.random.key(seed))[1]
  return data.sample_counts(data.held_out_keys(data_key)[0], run_config.data.tables(),
                            run_config.train_set_size, run_config.seq_len)


def spurious_distinctness(cls_N: np.ndarray, counts_NxS: np.ndarray, support_KxS: np.ndarray,
                          is_distinct_S: np.ndarray) -> np.ndarray:
  """[K, common slots] d_{l,n} = ln(P̂(l|n) / P̄(l)) of each common token l of each class n in a
  training set: P̂(l|n) is l's share of the contextual tokens of the set's class-n sequences,
  P̄(l) the mean of P̂(l|n') over the classes n' that hold l. Measured against the other classes
  rather than against P(l|m,n): the decoder Y is shared by every class, so a common token over-
  represented in all of them tells none apart; one over-represented in n alone looks distinct
  for n (d > 0) and is then attended in n (Theorem 2's discriminative bias)."""
  num_classes = len(support_KxS)
  share = np.stack([counts_NxS[cls_N == k].sum(0) / counts_NxS[cls_N == k].sum()
                    for k in range(num_classes)])[:, ~is_distinct_S]
  tokens = support_KxS[:, ~is_distinct_S]
  by_token = np.zeros(tokens.max() + 1)
  holders = np.zeros(tokens.max() + 1)
  np.add.at(by_token, tokens, share)
  np.add.at(holders, tokens, 1)
  return np.log(share * holders[tokens] / by_token[tokens])


def spurious_measures(distinctness_KxC: np.ndarray, ctilde_KxS: np.ndarray,
                      change_KxS: np.ndarray, is_distinct_S: np.ndarray) -> dict[str, float]:
  """A run's response to its training set's spurious distinctness d [K, common slots]:
  'spurious_attention', mean over classes of Σ_l c̃_{l|n} sign(d_{l,n}) over the common tokens
  (the final attention on those that looked distinct minus on those that looked rarer, 0 when
  attention ignores d); 'correlation', Pearson's r over (class, common token) between d and the
  logit change z_{m,l}(end) − z_{m,l}(0), both centred within each class."""
  common = ~is_distinct_S
  attention = float((ctilde_KxS[:, common] * np.sign(distinctness_KxC)).sum(-1).mean())
  centred = lambda x: (x - x.mean(-1, keepdims=True)).ravel()
  d, z = centred(distinctness_KxC), centred(change_KxS[:, common])
  correlation = float(np.corrcoef(d, z)[0, 1]) if d.std() > 0 and z.std() > 0 else math.nan
  return {'spurious_attention': attention, 'correlation': correlation}


def cell_runs(group: sweep.GroupResult, cell: int) -> np.ndarray:
  """[R] the non-diverged runs of one learning-rate cell of a group."""
  return (group.cell == cell) & ~group.metrics['diverged']


def _mean(x: np.ndarray) -> float:
  """The mean of the finite values (NaN when none is)."""
  x = x[np.isfinite(x)]
  return float(x.mean()) if len(x) else math.nan


def _se(x: np.ndarray) -> float:
  """The standard error of the mean of the finite values (NaN below two)."""
  x = x[np.isfinite(x)]
  return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def _found(x: np.ndarray, n: int) -> float:
  """The fraction of the n runs kept whose value is finite (NaN when n = 0)."""
  return float(np.isfinite(x).sum() / n) if n else math.nan


class Results:
  """The trained groups of a config and everything reported about them (see the module)."""

  def __init__(self, grid: config.Grid, readings: Readings, groups: list[sweep.GroupResult],
               references: dict | None = None, columns: tuple[str, ...] = ()):
    """grid: what the groups trained; references: the reference runs the measurements need, as
    sweep.REFERENCES names them; columns: the per-run measurements (of COLUMNS) added to each
    row."""
    self.grid, self.readings, self.groups = grid, readings, groups
    self.references = references or {}
    self.rows = []
    for g, group in enumerate(groups):
      rows = result_rows(group)
      for column in columns:
        for row, value in zip(rows, COLUMNS[column](self)[g]):
          row[column] = value
      self.rows += rows
    self.summary = summarize(groups)
    self.num_diverged = [int(group.metrics['diverged'].sum()) for group in groups]
    self._distinctness: dict[tuple[int, int], np.ndarray] = {}  # see distinctness

  @functools.cached_property
  def t0(self) -> list[np.ndarray]:
    """Per group, [R] each run's snapping time (NaN: none found), see transition_time."""
    return [np.array([transition_time(train.logged_steps(group.run_config), g)
                      for g in dominant_growth(group)]) for group in self.groups]

  @functools.cached_property
  def recall_thresholds(self) -> list[np.ndarray]:
    """Per group, the recall thresholds (Readings.recall_thresholds × 1/U)."""
    return [np.asarray(self.readings.recall_thresholds)
            / group.run_config.data.num_unique_per_next for group in self.groups]

  @functools.cached_property
  def run_recall(self) -> list[np.ndarray]:
    """Per group, [R, thresholds] each run's final recall at the recall thresholds."""
    return [np.asarray(metrics.recall_at_thresholds(
        group.metrics['attn/logits'][:, -1], group.run_config.data.probs(),
        group.run_config.data.num_unique_per_next, thresholds))
            for group, thresholds in zip(self.groups, self.recall_thresholds)]

  @functools.cached_property
  def steps_to_loss(self) -> list[np.ndarray]:
    """Per group, [R] the step at which each run's training loss first reaches
    Readings.loss_threshold (NaN: never), see first_step_below."""
    return [np.array([first_step_below(train.logged_steps(group.run_config), loss,
                                       self.readings.loss_threshold)
                      for loss in group.metrics['train/loss']]) for group in self.groups]

  @functools.cached_property
  def attended(self) -> list[np.ndarray]:
    """Per group, [R, K, U] whether each distinct token ends attended: its renormalized
    distinct attention (metrics.distinct_attention) at the last logged step is ≥ 1/U."""
    found = []
    for group in self.groups:
      spec = group.run_config.data
      share = metrics.distinct_attention(group.metrics['attn/logits'][:, -1], spec.probs(),
                                         spec.num_unique_per_next)
      found.append(np.asarray(share) >= 1 / spec.num_unique_per_next)
    return found

  @functools.cached_property
  def recall_curves(self) -> list[dict]:
    """Per group and learning-rate cell with a non-diverged run: num_last, lr_y, lr_z,
    thresholds and the final recall at each, mean over the cell's runs, and num_runs."""
    curves = []
    for group, thresholds, recall in zip(self.groups, self.recall_thresholds, self.run_recall):
      for cell, lr_y, lr_z in cells_by_rate(group):
        runs = cell_runs(group, cell)
        if runs.any():
          curves.append({'num_last': group.run_config.data.num_last, 'lr_y': lr_y, 'lr_z': lr_z,
                         'thresholds': thresholds, 'recall': recall[runs].mean(axis=0),
                         'num_runs': int(runs.sum())})
    return curves

  @functools.cached_property
  def recall(self) -> list[dict]:
    """recall_curves as a table: one row per curve and threshold (× 1/U)."""
    return [{'num_last': c['num_last'], 'lr_y': c['lr_y'], 'lr_z': c['lr_z'],
             'threshold': float(th), 'recall': float(r), 'num_runs': c['num_runs']}
            for c in self.recall_curves for th, r in zip(c['thresholds'], c['recall'])]

  @staticmethod
  def mean_ctilde(group: sweep.GroupResult, cell: int) -> np.ndarray:
    """[L+1, K, S] c̃ of a group's cell, the mean over its non-diverged runs."""
    return group.metrics['attn/ctilde'][cell_runs(group, cell)].mean(axis=0)

  def limit_distance(self, group: sweep.GroupResult, cell: int) -> float:
    """The largest distance over the logged steps between a cell's seed-mean c̃ and the
    population c̃: d = max_t mean_n ‖E_seeds c̃_n(t) − c̃_n^pop(t)‖₁."""
    reference = self.references['population'][group.run_config.data.num_last, cell]
    return float(np.abs(self.mean_ctilde(group, cell) - reference).sum(-1).mean(-1).max())

  @functools.cached_property
  def long_sequence_limit(self) -> list[dict]:
    """Per group and learning-rate cell, limit_distance."""
    return [{'num_last': group.run_config.data.num_last, 'seq_len': group.run_config.seq_len,
             'lr_y': lr_y, 'lr_z': lr_z, 'num_runs': int(cell_runs(group, cell).sum()),
             'distance': self.limit_distance(group, cell)}
            for group in self.groups for cell, lr_y, lr_z in cells_by_rate(group)]

  def cells(self, group: sweep.GroupResult, values: np.ndarray) -> np.ndarray:
    """Per-run `values` [R, …] of a group as [seeds, len(lr_z), len(lr_y), …]: the grid's cells
    by their indices (i_z, i_y) on its axes."""
    values = np.asarray(values)
    if len(values) != len(self.grid.seeds) * len(self.grid.pairs):
      raise ValueError('the group is not the config\'s grid')
    seed_index = {seed: i for i, seed in enumerate(self.grid.seeds)}
    out = np.empty((len(self.grid.seeds), *self.grid.shape, *values.shape[1:]), values.dtype)
    out[([seed_index[seed] for seed in group.seed.tolist()],
         *np.unravel_index(group.cell, self.grid.shape))] = values
    return out

  def kept_cells(self, group: sweep.GroupResult, values: np.ndarray) -> np.ndarray:
    """cells(group, values) with NaN in place of the diverged runs."""
    diverged = self.cells(group, group.metrics['diverged'])
    return np.where(diverged.reshape(diverged.shape + (1,) * (np.ndim(values) - 1)), np.nan,
                    self.cells(group, values))

  def distinctness(self, group: sweep.GroupResult, seed: int) -> np.ndarray:
    """spurious_distinctness of the training set that `seed` trains on in a finite-N group,
    computed once per group and seed."""
    key = (id(group), seed)
    if key not in self._distinctness:
      spec, train_set = group.run_config.data, training_set(group.run_config, seed)
      self._distinctness[key] = spurious_distinctness(
          np.asarray(train_set.cls), np.asarray(train_set.counts), spec.support(),
          spec.is_distinct())
    return self._distinctness[key]

  @functools.cached_property
  def phase_diagram(self) -> list[dict]:
    """One row per data spec and cell (i_z, i_y) of the learning-rate grid, keyed by the
    indices: over the cell's seeds, the fraction of diverged runs, and over the others the
    final distinct-token entropy (mean and standard error), the steps to reach
    Readings.loss_threshold (mean over the runs that reach it, and their fraction) and
    the snapping time t₀ (mean over the runs where it is found, and their fraction)."""
    lr_z, lr_y = self.grid.cell_rates()
    rows = []
    for group, t0, steps in zip(self.groups, self.t0, self.steps_to_loss):
      diverged = self.cells(group, group.metrics['diverged'])
      entropy = self.kept_cells(group, group.metrics['attn/entropy'][:, -1])
      t0_cells, steps_cells = self.kept_cells(group, t0), self.kept_cells(group, steps)
      for i_z, i_y in np.ndindex(diverged.shape[1:]):
        e, n = entropy[:, i_z, i_y], int((~diverged[:, i_z, i_y]).sum())
        rows.append({
            'num_last': group.run_config.data.num_last, 'seq_len': group.run_config.seq_len,
            'train_set_size': group.run_config.train_set_size,
            'lr_z_index': i_z, 'lr_y_index': i_y,
            'lr_z': float(lr_z[i_z, i_y]), 'lr_y': float(lr_y[i_z, i_y]),
            'num_runs': n, 'diverged_fraction': float(diverged[:, i_z, i_y].mean()),
            'entropy_mean': _mean(e), 'entropy_se': _se(e),
            'steps_to_loss_mean': _mean(steps_cells[:, i_z, i_y]),
            'reached_loss_fraction': _found(steps_cells[:, i_z, i_y], n),
            't0_mean': _mean(t0_cells[:, i_z, i_y]),
            't0_found_fraction': _found(t0_cells[:, i_z, i_y], n)})
    return rows

  @functools.cached_property
  def finite_data(self) -> list[dict]:
    """One row per run: its training set size N (0: ∞), rates and seed; the final attention on
    common tokens (`common_attention`: their c̃ mass, mean over classes); with a finite set,
    the spread of its common tokens' distinctness (`distinctness_sd`, the sd of d over classes
    and tokens) and the run's spurious_measures; the final training and fresh-sample losses."""
    rows = []
    for group in self.groups:
      run_config, m = group.run_config, group.metrics
      spec = run_config.data
      is_distinct = spec.is_distinct()
      for r in range(len(group.seed)):
        seed = int(group.seed[r])
        measured = {'distinctness_sd': math.nan, 'spurious_attention': math.nan,
                    'correlation': math.nan}
        if run_config.train_set_size and not m['diverged'][r]:
          d = self.distinctness(group, seed)
          measured = {'distinctness_sd': float(d.std()), **spurious_measures(
              d, m['attn/ctilde'][r, -1], m['attn/logits'][r, -1] - m['attn/logits'][r, 0],
              is_distinct)}
        rows.append({
            'num_last': spec.num_last, 'seq_len': run_config.seq_len,
            'train_set_size': run_config.train_set_size, 'lr_y': float(group.lr_y[r]),
            'lr_z': float(group.lr_z[r]), 'seed': seed,
            'common_attention': float(m['attn/ctilde'][r, -1][:, ~is_distinct].sum(-1).mean()),
            **measured,
            'final_loss': float(m['train/loss'][r, -1]),
            'fresh_loss': float(m['eval/loss'][r]) if 'eval/loss' in m else math.nan,
            'diverged': bool(m['diverged'][r])})
    return rows

  def metric_lines(self) -> list[dict]:
    """metrics.jsonl: one line per learning-rate cell of a data spec and logged step, with the
    means over the cell's non-diverged runs (its seeds)."""
    lines = []
    for group in self.groups:
      steps = train.logged_steps(group.run_config)
      for cell, lr_y, lr_z in sorted(cells_by_rate(group)):  # in the grid's order
        kept = cell_runs(group, cell)
        m = {k: v[kept] for k, v in group.metrics.items()}
        for i, step in enumerate(steps):
          line = {'group': sweep.group_name(group.run_config), 'lr_z': lr_z, 'lr_y': lr_y,
                  'lr_y_over_lr_z': ratio(lr_y, lr_z), 'step': int(step),
                  'num_runs': int(kept.sum()),
                  'attn/entropy': float(m['attn/entropy'][:, i].mean()) if kept.any() else None}
          if i > 0 and kept.any():  # Training metrics average the interval ending at this step.
            line['train/loss'] = float(m['train/loss'][:, i - 1].mean())
            line['train/accuracy'] = float(m['train/accuracy'][:, i - 1].mean())
          lines.append(line)
    return lines

  def trajectories(self, group: sweep.GroupResult) -> dict[str, np.ndarray]:
    """trajectories/<group>.npz: c̃ and z of every run at every logged step (at the last one,
    'attn_steps', when the config keeps no trajectories), the distinct-token entropy, the
    losses, the divergence marks, and the run's axes and classes."""
    spec, m = group.run_config.data, group.metrics
    steps = train.logged_steps(group.run_config)
    return {'steps': steps, 'attn_steps': steps[-len(m['attn/logits'][0]):],
            'seed': group.seed, 'lr_y': group.lr_y,
            'lr_z': group.lr_z, 'ctilde': m['attn/ctilde'], 'logits': m['attn/logits'],
            'top_logit': m['attn/top_logit'],
            'entropy': m['attn/entropy'], 'train_loss': m['train/loss'],
            'train_accuracy': m['train/accuracy'], 'diverged': m['diverged'],
            'support': spec.support(), 'probs': spec.probs(), 'is_distinct': spec.is_distinct()}


# The measurements written as <name>.csv, each a Results → its rows.
TABLES: dict[str, Callable[[Results], list[dict]]] = {
    'recall': lambda results: results.recall,
    'long_sequence_limit': lambda results: results.long_sequence_limit,
    'phase_diagram': lambda results: results.phase_diagram,
    'finite_data': lambda results: results.finite_data}
# The per-run measurements a claim may add to results.csv, each a Results → per group, [R].
COLUMNS: dict[str, Callable[[Results], list[np.ndarray]]] = {
    't0': lambda results: results.t0, 'steps_to_loss': lambda results: results.steps_to_loss}
