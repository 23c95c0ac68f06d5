"""The hierarchical grid's results, built once from its groups: every run's evaluations on one
axis of runs, the per-run rows of results.csv, the per-cell summary, and metrics.jsonl's lines.

A run's scores are [levels, blocks] (metrics.scores) and its attention entropies [blocks]; runs
shallower than the deepest have NaN in the blocks they lack. Level l's own block is block l.
"""

import warnings

import numpy as np

from scan_snap.core import outputs
from scan_snap.hierarchical import metrics
from scan_snap.hierarchical import sweep

READINGS = ('centred', 'uncentred')
# The evaluations with an axis of blocks, and which: [E, R, levels, blocks], [E, R, blocks],
# [E, R, blocks, classes, L].
PER_BLOCK = {'score/centred': 3, 'score/uncentred': 3, 'attn/entropy': 2, 'attn/by_class': 2}


def cells(runs: list[dict]) -> list[tuple[int, float]]:
  """The grid's (depth, η) cells, in the order of the runs."""
  return list(dict.fromkeys((r['num_layers'], r['lr']) for r in runs))


class Results:
  """runs [R] {'num_layers', 'seed', 'lr'}; history: 'step' [E] and each evaluated key
  [E, R, …]; diverged [R] (a loss that is not finite at some evaluation); snapping_steps
  [R, blocks] (each block's t₀: metrics.snapping_step of its attention entropy, NaN for a block
  that did not snap or that the run lacks); rows (results.csv) and summary (one row per
  (depth, η) cell)."""

  def __init__(self, groups: list[sweep.GroupResult]):
    blocks = max(g.run_config.model.num_layers for g in groups)
    self.num_levels = groups[0].run_config.spec.num_levels
    self.seq_len = groups[0].run_config.spec.seq_len
    self.runs = [{'num_layers': g.run_config.model.num_layers, **r} for g in groups
                 for r in g.runs]
    self.history = {'step': groups[0].history['step']}
    for key in groups[0].history:
      if key == 'step':
        continue
      parts = [g.history[key] for g in groups]
      if key in PER_BLOCK:  # NaN in the blocks a run lacks
        axis = PER_BLOCK[key]
        parts = [np.pad(p, [(0, blocks - p.shape[axis]) if a == axis else (0, 0)
                            for a in range(p.ndim)], constant_values=np.nan) for p in parts]
      self.history[key] = np.concatenate(parts, axis=1)
    self.diverged = ~np.isfinite(self.history['eval/loss']).all(axis=0)
    entropy = self.history['attn/entropy']
    self.snapping_steps = np.array([[metrics.snapping_step(self.history['step'], entropy[:, i, b])
                                     for b in range(entropy.shape[-1])]
                                    for i in range(entropy.shape[1])])
    self._own, self._other = self.own_block(), self.best_other_block()
    self.rows = [self._row(i) for i in range(len(self.runs))]
    self.summary = self._summary()

  @property
  def num_diverged(self) -> int:
    return int(self.diverged.sum())

  def own_block(self, reading: str = 'centred') -> np.ndarray:
    """[E, R, levels]: each level's score in its own block (NaN where the run has no block l)."""
    score = self.history[f'score/{reading}']
    own = np.full(score.shape[:3], np.nan)
    for level in range(min(self.num_levels, score.shape[-1])):
      own[..., level] = score[..., level, level]
    return own

  def best_other_block(self, reading: str = 'centred') -> np.ndarray:
    """[E, R, levels]: each level's highest score in a block other than its own (NaN for a run
    without block l, or with block l alone)."""
    score = self.history[f'score/{reading}']
    other = np.full(score.shape[:3], np.nan)
    for level in range(min(self.num_levels, score.shape[-1])):
      rest = np.delete(score[..., level, :], level, axis=-1)
      if rest.shape[-1]:
        with warnings.catch_warnings():  # No other block: NaN, as documented.
          warnings.simplefilter('ignore', RuntimeWarning)
          other[..., level] = np.where(np.isfinite(score[..., level, level]),
                                       np.nanmax(rest, axis=-1), np.nan)
    return other

  def _row(self, i: int) -> dict:
    h = self.history
    own, other = self._own, self._other
    row = {**self.runs[i], 'train_loss': float(h['train/loss'][-1, i]),
           'eval_loss': float(h['eval/loss'][-1, i]),
           'eval_accuracy': float(h['eval/accuracy'][-1, i])}
    for level in range(self.num_levels):
      row[f'level{level}_own_block_init'] = float(own[0, i, level])
      row[f'level{level}_own_block'] = float(own[-1, i, level])
      row[f'level{level}_best_other_block'] = float(other[-1, i, level])
    for block in range(h['attn/entropy'].shape[-1]):  # NaN in the blocks the run lacks
      row[f'block{block}_entropy'] = float(h['attn/entropy'][-1, i, block])
      row[f'block{block}_snapping_step'] = float(self.snapping_steps[i, block])
    row['diverged'] = bool(self.diverged[i])
    return row

  def _summary(self) -> list[dict]:
    """Per (depth, η): the rows' numbers averaged over seeds, with the number of seeds."""
    out = []
    for depth, lr in cells(self.runs):
      rows = [row for row in self.rows if (row['num_layers'], row['lr']) == (depth, lr)]
      numbers = [k for k in rows[0] if k not in ('num_layers', 'lr', 'seed', 'diverged')]
      out.append({'num_layers': depth, 'lr': lr, 'seeds': len(rows),
                  **{k: float(np.nanmean([row[k] for row in rows]))
                     if np.isfinite([row[k] for row in rows]).any() else float('nan')
                     for k in numbers},
                  'diverged': sum(row['diverged'] for row in rows)})
    return out

  def metric_lines(self) -> list[dict]:
    """metrics.jsonl: one line per evaluation and run, the attention entropies as
    attn_entropy/block<b> and the scores as score/<reading>/level<l>/block<b> (the blocks the
    run has); a value that is not finite (the training loss at step 0) is null."""
    h, lines = self.history, []
    for e, step in enumerate(h['step']):
      for i, run in enumerate(self.runs):
        line = {'step': int(step), **run,
                **{k.replace('/', '_'): outputs.finite_or_none(h[k][e, i])
                   for k in ('train/loss', 'eval/loss', 'eval/accuracy')}}
        for block in range(run['num_layers']):
          line[f'attn_entropy/block{block}'] = outputs.finite_or_none(
              h['attn/entropy'][e, i, block])
        for reading in READINGS:
          for level in range(self.num_levels):
            for block in range(run['num_layers']):
              line[f'score/{reading}/level{level}/block{block}'] = outputs.finite_or_none(
                  h[f'score/{reading}'][e, i, level, block])
        lines.append(line)
    return lines

  def trajectories(self) -> dict[str, np.ndarray]:
    """trajectories.npz: the runs' keys and every evaluation."""
    return {**{k: np.asarray([r[k] for r in self.runs]) for k in self.runs[0]},
            **{k.replace('/', '_'): v for k, v in self.history.items()}}
