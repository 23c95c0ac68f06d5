"""What the WikiText experiment reports, computed once from the trained grid.

`Results(readings, trained, probe_words)` holds the rows of results.csv, the summary, the
freezing measure F of every evaluation, the frozen fractions of the attended words (metrics)
with their null, and the reference entropy of uniform attention, and gives
the lines of metrics.jsonl and the arrays of trajectories.npz; the figures (figures.FIGURES)
and claims (claims.CLAIMS) read them from here, and read nothing of the config but its
Readings. With a depth axis, a run's numbers for the layers it lacks are NaN (has_layer).
`metric_lines` also gives the lines of the evaluations so far, while the grid trains.
"""

import dataclasses
import math

import ml_collections
import numpy as np

from scan_snap.core import outputs
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import metrics
from scan_snap.wikitext import optimizer
from scan_snap.wikitext import sweep

# The name in trajectories.npz of each evaluation in the history.
_TRAJECTORIES = {'step': 'step', 'train/loss': 'train_loss', 'eval/loss': 'val_loss',
                 'attn/entropy': 'attn_entropy', 'attn/token_mass': 'attn_token_mass',
                 'attn/maps': 'attn_maps'}


@dataclasses.dataclass(frozen=True)
class Readings:
  """What the figures and claims read of a config beyond the trained grid."""

  map_steps: tuple[int, ...]  # figures.map_steps: the evaluations the attention maps show
  # optimizer.lr_groups (config.lr_groups): the figures name them; a tuple factor is an axis
  lr_groups: tuple[tuple[str, float | tuple[float, ...]], ...]
  attended_mass: float  # report.attended_mass: the share of attention an attended set holds
  depth_axis: bool = False  # model.depths is given: each run holds its depth, 'num_layers'

  @classmethod
  def of(cls, c: ml_collections.ConfigDict) -> 'Readings':
    return cls(tuple(c.figures.map_steps), text_config.lr_groups(c),
               float(c.report.attended_mass), text_config.depth_axis(c))

  @property
  def cell_keys(self) -> tuple[str, ...]:
    """The run keys of a cell: η, each axis group's factor and, with a depth axis, the depth."""
    return ('lr', *self.axis_keys, *(('num_layers',) if self.depth_axis else ()))

  @property
  def axis_keys(self) -> list[str]:
    """The run keys of the axis groups' factors (optimizer.axis_keys)."""
    return optimizer.axis_keys(self.lr_groups)

  @property
  def axis_patterns(self) -> list[str]:
    """The patterns of the groups whose factor is a grid axis, in the order of axis_keys."""
    return [pattern for pattern, _ in optimizer.axis_groups(self.lr_groups)]

  def factors(self, run: dict) -> list[tuple[str, float]]:
    """(pattern, factor) of each group, with the run's own factor for an axis group."""
    return [(pattern, run[optimizer.factor_key(pattern)] if optimizer.is_axis(factor) else factor)
            for pattern, factor in self.lr_groups]

  def rates(self, run: dict) -> str:
    """η of a run, and its groups' rates: 'η=5 (ff1|ff2: 10)'."""
    groups = ', '.join(f'{escaped(pattern)}: {factor * run["lr"]:g}'
                       for pattern, factor in self.factors(run))
    return f'$\\eta$={run["lr"]:g}' + (f' ({groups})' if groups else '')


def depth_label(n: int) -> str:
  """A depth in words: '1 layer', '2 layers'."""
  return f'{n} layer' + 's' * (n != 1)


def escaped(pattern: str) -> str:
  """A pattern as matplotlib text: its '$' (a regular expression's end) not read as math."""
  return pattern.replace('$', r'\$')


def mean_uniform_entropy(length: int) -> float:
  """The mean attention entropy of uniform causal attention: mean over i of ln i, i = 1…L."""
  return float(np.log(np.arange(1, length + 1)).mean())


@dataclasses.dataclass(frozen=True)
class AttendedWords:
  """The attended sets of the frequent query words (metrics), per run, layer and query word,
  among the key words of their context (the other positions: attention on the query's own
  position goes to no key word, and `own` says how much of it does), over the evaluations after
  the first: the first, at the random initialization, is left out, as every run's attention
  moves away from it at once (a change that would read as settling in any run)."""

  occurs: np.ndarray  # [Q] bool: the query word occurs in the evaluation windows
  frozen: np.ndarray  # [R, layers, Q] φ(a): the fraction of training its set stayed the final one
  null: np.ndarray  # [R, layers, Q] φ₀(a): φ(a) were its changes spread at random
  freeze_step: np.ndarray  # [R, layers, Q] the step of t*(a)
  # (φ, φ₀ and t* are NaN for a run whose masses are not finite: it diverged)
  changes: np.ndarray  # [E − 2, R, layers, Q] bool: the set changed since the evaluation before
  own: np.ndarray  # [R, layers, Q] the share of its attention on its own position, at the end

  @classmethod
  def of(cls, history: dict[str, np.ndarray], mass: float) -> 'AttendedWords':
    token_mass = history['attn/token_mass'][1:]  # [E − 1, R, layers, Q, K + 2]
    # [R, layers, Q]: a's occurrences, read at step 0, where no run has diverged yet.
    counts = history['attn/token_mass'][0].sum(axis=-1)
    occurs = counts[0, 0] > 0  # the data's: alike in all runs
    own = np.divide(history['attn/token_mass'][-1, ..., -1], counts,
                    out=np.full(counts.shape, np.nan), where=counts > 0)
    if len(token_mass) < 2:  # Fewer than two evaluations after the first: nothing to compare.
      nan = np.full(counts.shape, np.nan)
      return cls(occurs, nan, nan, nan, np.zeros((0, *nan.shape), bool), own)
    sets = metrics.attended_sets(token_mass[..., :-1], mass)  # over the context: not its own
    # A run that diverged has non-finite masses, read as no attention at all: its φ, φ₀ and t*
    # are NaN, not the numbers of sets that stopped changing when it diverged.
    finite = np.isfinite(token_mass).all(axis=(0, -1))
    mark = lambda x: np.where(finite, x, np.nan)
    return cls(occurs, mark(metrics.frozen_fraction(sets)),
               mark(metrics.shuffled_frozen_fraction(sets)),
               mark(metrics.freeze_step(sets, history['step'][1:])), metrics.changed(sets), own)

  def mean_frozen(self, r: int, layer: int) -> float:
    """φ's mean over the query words that occur."""
    return float(self.frozen[r, layer, self.occurs].mean())

  def mean_own(self, r: int, layer: int) -> float:
    """The share of attention on the query's own position, averaged over the query words."""
    return float(self.own[r, layer, self.occurs].mean())

  def median_freeze_step(self, r: int, layer: int) -> float:
    return float(np.median(self.freeze_step[r, layer, self.occurs]))


def _diverged(history: dict[str, np.ndarray]) -> np.ndarray:
  """Runs with a non-finite loss at any evaluation."""
  return ~(np.isfinite(history['eval/loss']).all(axis=0)
           & np.isfinite(history['train/loss'][1:]).all(axis=0))


def metric_lines(history: dict[str, np.ndarray], freezing_ExRxN: np.ndarray, runs: list[dict],
                 steps_per_epoch: int) -> list[dict]:
  """metrics.jsonl: one line per evaluation and run (freezing_ExRxN: freezing_of(history))."""
  lines = []
  for e, step in enumerate(history['step']):
    for r, run in enumerate(runs):
      line = {'step': int(step), 'epoch': step / steps_per_epoch, **run,
              'train_loss': outputs.finite_or_none(history['train/loss'][e, r]),
              'val_loss': outputs.finite_or_none(history['eval/loss'][e, r]),
              'val_ppl': outputs.finite_or_none(np.exp(np.float64(history['eval/loss'][e, r])))}
      for layer in range(history['attn/entropy'].shape[2]):
        line[f'attn_entropy/layer{layer}'] = outputs.finite_or_none(
            history['attn/entropy'][e, r, layer])
        line[f'attn_freezing/layer{layer}'] = outputs.finite_or_none(freezing_ExRxN[e, r, layer])
      lines.append(line)
  return lines


def result_rows(history: dict[str, np.ndarray], freezing_ExRxN: np.ndarray,
                attended: AttendedWords, runs: list[dict], steps_per_epoch: int) -> list[dict]:
  """results.csv: one row per run, at the last evaluation (freezing_ExRxN:
  metrics.freezing_of(history)), with its attended words' mean φ and median freeze step."""
  diverged = _diverged(history)
  rows = []
  for r, run in enumerate(runs):
    row = {**run, 'steps': int(history['step'][-1]),
           'epochs': round(float(history['step'][-1]) / steps_per_epoch, 3),
           'final_train_loss': float(history['train/loss'][-1, r]),
           'final_val_loss': float(history['eval/loss'][-1, r]),
           'final_val_ppl': float(np.exp(np.float64(history['eval/loss'][-1, r])))}
    for layer in range(history['attn/entropy'].shape[2]):
      row[f'attn_entropy/layer{layer}'] = float(history['attn/entropy'][-1, r, layer])
      row[f'attn_freezing/layer{layer}'] = float(freezing_ExRxN[-1, r, layer])
      row[f'attended_frozen/layer{layer}'] = attended.mean_frozen(r, layer)
      row[f'attended_freeze_step/layer{layer}'] = attended.median_freeze_step(r, layer)
      row[f'attended_own/layer{layer}'] = attended.mean_own(r, layer)
    row['diverged'] = bool(diverged[r])
    rows.append(row)
  return rows


def summarize(rows: list[dict], cell_keys: tuple[str, ...] = ('lr',)) -> list[dict]:
  """Per cell (the runs' values of cell_keys: η, and each axis group's factor): the number of
  runs and diverged runs, and mean ± sample std over the non-diverged seeds of the final
  validation loss and of each layer's attention entropy."""
  cells: dict[tuple, list[dict]] = {}
  for row in rows:
    cells.setdefault(tuple(row[k] for k in cell_keys), []).append(row)
  summary = []
  for values, members in cells.items():
    kept = [m for m in members if not m['diverged']]
    cell = {**dict(zip(cell_keys, values)), 'num_runs': len(kept),
            'num_diverged': len(members) - len(kept)}
    for key in [k for k in members[0] if k == 'final_val_loss' or k.startswith('attn_entropy/')]:
      values = np.array([m[key] for m in kept])
      cell[f'{key}_mean'] = float(values.mean()) if len(values) else math.nan
      cell[f'{key}_std'] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    summary.append(cell)
  return summary


class Results:
  """The trained grid and everything reported about it (see the module)."""

  def __init__(self, readings: Readings, trained: sweep.GridResult, probe_words: np.ndarray):
    """probe_words: [P, L] the words of the probe sequences whose attention maps are kept."""
    self.readings, self.probe_words = readings, probe_words
    self.runs, self.history = trained.runs, trained.history
    self.steps_per_epoch = trained.run_config.steps_per_epoch
    self.freezing = metrics.freezing_of(self.history)  # (evaluations, R, layers)
    self.attended = AttendedWords.of(self.history, readings.attended_mass)
    self.rows = result_rows(self.history, self.freezing, self.attended, self.runs,
                            self.steps_per_epoch)
    self.summary = summarize(self.rows, readings.cell_keys)
    self.num_diverged = sum(row['diverged'] for row in self.rows)
    self.uniform_entropy = mean_uniform_entropy(trained.run_config.model.max_len)
    # [R, layers]: the layers each run has (with a depth axis, a shallower run lacks the last).
    layers = self.history['attn/entropy'].shape[2]
    self.has_layer = np.arange(layers) < np.array([run.get('num_layers', layers)
                                                   for run in self.runs])[:, None]

  def metric_lines(self) -> list[dict]:
    """metrics.jsonl: one line per evaluation and run; with a depth axis, depth by depth, each
    depth's lines with its own layers, as they are written while it trains."""
    if not self.readings.depth_axis:
      return metric_lines(self.history, self.freezing, self.runs, self.steps_per_epoch)
    lines = []
    for depth in dict.fromkeys(run['num_layers'] for run in self.runs):
      members = [r for r, run in enumerate(self.runs) if run['num_layers'] == depth]
      history = {key: value if key == 'step' else value[:, members, :depth] if value.ndim > 2
                 else value[:, members] for key, value in self.history.items()}
      lines += metric_lines(history, self.freezing[:, members, :depth],
                            [self.runs[r] for r in members], self.steps_per_epoch)
    return lines

  def trajectories(self) -> dict[str, np.ndarray]:
    """trajectories.npz but for the probe sequences: every evaluation of every run, with the
    freezing measure, the attended words' φ, its null and freeze steps, and the runs' seeds and
    rates."""
    return {**{name: self.history[key] for key, name in _TRAJECTORIES.items()},
            'attn_freezing': self.freezing, 'attended_frozen': self.attended.frozen,
            'attended_null': self.attended.null, 'attended_freeze_step': self.attended.freeze_step,
            'attended_own': self.attended.own,
            **{key: np.asarray([run[key] for run in self.runs])
               for key in ('seed', *self.readings.cell_keys)}}
