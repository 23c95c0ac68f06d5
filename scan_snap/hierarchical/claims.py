"""Claims about hierarchical classes (after JoMA, Tian et al. 2023: the lower blocks of a trained
transformer encode the lower latent variables), each with a verdict (core.verdicts).

CLAIMS is the registry that config.report.claims names:

  'latents_learned'       per level l: training raises score_l in block l above the same
                          network's score at its initialization
  'levels_in_own_blocks'  per level l: at the end of training, level l scores highest in its
                          own block l, above its best other block
  'layers_snap_in_order'  the first layer's attention snaps before the second's: the snapping
                          step t₀ (metrics.snapping_step) of block 1 minus that of block 0 > 0

Both read the centred score (metrics.scores); the uncentred one is reported beside it. A seed
is the unit of each test (its tree, initialization and batches are its own); each (depth, η)
cell with a block l (and, for the second claim, another block) is one column of an
intersection-union test (verdicts.all_above): the claim passes when it passes in every cell.
Diverged runs are left out.
"""

import warnings

import numpy as np

from scan_snap.core import verdicts
from scan_snap.hierarchical import metrics
from scan_snap.hierarchical import results as results_lib


def learned_claim(level: int) -> str:
  return f'JoMA: training raises level {level}\'s score in block {level} above its score at init'


def own_block_claim(level: int) -> str:
  return f'JoMA: level {level} scores highest in its own block {level}'


SNAP_CLAIM = "JoMA: layer 1's attention snaps before layer 2's (t₀ of block 1 − block 0 > 0)"


def by_cell(values_R: np.ndarray, runs: list[dict], cells: list[tuple[int, float]]
            ) -> np.ndarray:
  """values [R] as [seeds, cells] (runs of other cells left out): NaN where a seed has no run
  of a cell."""
  seeds = sorted({r['seed'] for r in runs})
  out = np.full((len(seeds), len(cells)), np.nan)
  for value, r in zip(values_R, runs):
    if (r['num_layers'], r['lr']) in cells:
      out[seeds.index(r['seed']), cells.index((r['num_layers'], r['lr']))] = value
  return out


def cell_names(cells: list[tuple[int, float]]) -> list[str]:
  return [f'{depth} blocks, η = {lr:g}' for depth, lr in cells]


def latents_learned(init_R, final_R, runs: list[dict], level: int,
                    measured: str = '') -> verdicts.Verdict:
  """H₁: in every cell whose networks have a block `level`, the mean over seeds of
  final − init of level's score in that block is > 0. init_R, final_R: [R] (NaN for a run
  without the block, or diverged)."""
  cells = _cells(runs, lambda depth: depth > level)
  change = np.asarray(final_R, float) - np.asarray(init_R, float)
  return verdicts.all_above(learned_claim(level), by_cell(change, runs, cells),
                            cell_names(cells), measured=measured, columns='cells')


def levels_in_own_blocks(own_R, other_R, runs: list[dict], level: int,
                         measured: str = '') -> verdicts.Verdict:
  """H₁: in every cell whose networks have block `level` and another, the mean over seeds of
  own − best other block's score of the level is > 0. own_R, other_R: [R] at the end."""
  cells = _cells(runs, lambda depth: depth > level and depth >= 2)
  margin = np.asarray(own_R, float) - np.asarray(other_R, float)
  return verdicts.all_above(own_block_claim(level), by_cell(margin, runs, cells),
                            cell_names(cells), measured=measured, columns='cells')


def layers_snap_in_order(t0_Rx2, runs: list[dict], measured: str = '') -> verdicts.Verdict:
  """H₁: t₀ of the second block minus t₀ of the first, averaged over a seed's runs of two or
  more blocks in which both snapped, is > 0 by a one-sided t-test over seeds (its interval is
  the two-sided (1 − 2α) one, in steps). t0_Rx2: [R, 2] (NaN where a block did not snap)."""
  t0 = np.asarray(t0_Rx2, float)
  lag = t0[:, 1] - t0[:, 0]
  seeds = sorted({r['seed'] for r in runs})
  per_seed = []
  for s in seeds:
    mine = [lag[i] for i, r in enumerate(runs)
            if r['seed'] == s and r['num_layers'] >= 2 and np.isfinite(lag[i])]
    if mine:
      per_seed.append(float(np.mean(mine)))
  deep = [i for i, r in enumerate(runs) if r['num_layers'] >= 2]
  unsnapped = int(sum(not np.isfinite(lag[i]) for i in deep))
  text = (f'{unsnapped} of {len(deep)} runs of ≥ 2 blocks left out (a block whose entropy fell '
          f'by less than {metrics.MIN_FALL} nats did not snap)')
  return verdicts.above(SNAP_CLAIM, per_seed, measured='; '.join(t for t in (measured, text) if t))


def _cells(runs: list[dict], keep) -> list[tuple[int, float]]:
  return [cell for cell in results_lib.cells(runs) if keep(cell[0])]


def _means(values_ExRxL: np.ndarray, runs: list[dict], level: int, step: int) -> str:
  """Level's mean over seeds per depth (the first η) at evaluation `step`, in words."""
  lr = runs[0]['lr']
  parts = []
  for depth in dict.fromkeys(r['num_layers'] for r in runs):
    sel = [i for i, r in enumerate(runs) if (r['num_layers'], r['lr']) == (depth, lr)]
    value = values_ExRxL[step, sel, level]
    if np.isfinite(value).any():
      parts.append(f'{depth} blocks {np.nanmean(value):.3f}')
  return ', '.join(parts)


def _learned(results: results_lib.Results) -> list[verdicts.Verdict]:
  found = []
  kept = ~results.diverged
  own, raw = results.own_block(), results.own_block('uncentred')
  for level in range(results.num_levels):
    if not any(r['num_layers'] > level for r in results.runs):
      continue
    measured = (f'centred score, init → end (means over seeds, η = {results.runs[0]["lr"]:g}): '
                f'{_means(own, results.runs, level, 0)} → {_means(own, results.runs, level, -1)}'
                f'; uncentred: {_means(raw, results.runs, level, 0)} → '
                f'{_means(raw, results.runs, level, -1)}; {int((~kept).sum())} diverged runs '
                'left out')
    found.append(latents_learned(np.where(kept, own[0, :, level], np.nan),
                                 np.where(kept, own[-1, :, level], np.nan), results.runs,
                                 level, measured))
  return found


def _own_blocks(results: results_lib.Results) -> list[verdicts.Verdict]:
  found = []
  kept = ~results.diverged
  own, other = results.own_block(), results.best_other_block()
  for level in range(results.num_levels):
    if not any(r['num_layers'] > level and r['num_layers'] >= 2 for r in results.runs):
      continue
    measured = (f'centred score at the end (means over seeds): own block '
                f'{_means(own, results.runs, level, -1)}; best other block '
                f'{_means(other, results.runs, level, -1)}; {int((~kept).sum())} diverged runs '
                'left out')
    found.append(levels_in_own_blocks(np.where(kept, own[-1, :, level], np.nan),
                                      np.where(kept, other[-1, :, level], np.nan),
                                      results.runs, level, measured))
  return found


def _snapping(results: results_lib.Results) -> list[verdicts.Verdict]:
  kept = ~results.diverged
  t0 = np.where(kept[:, None], results.snapping_steps[:, :2], np.nan)
  entropy = results.history['attn/entropy']
  parts = []
  for depth, lr in results_lib.cells(results.runs):
    sel = [i for i, r in enumerate(results.runs)
           if (r['num_layers'], r['lr']) == (depth, lr) and kept[i]]
    if depth < 2 or not sel:
      continue
    with warnings.catch_warnings():  # A cell in which no block snapped: NaN, said as such.
      warnings.simplefilter('ignore', RuntimeWarning)
      t0_0, t0_1 = np.nanmean(t0[sel, 0]), np.nanmean(t0[sel, 1])
    parts.append(f'{depth} blocks, η = {lr:g}: t₀ {t0_0:.0f} and {t0_1:.0f} steps, entropy '
                 f'{entropy[0, sel, 0].mean():.2f} → {entropy[-1, sel, 0].mean():.2f} and '
                 f'{entropy[0, sel, 1].mean():.2f} → {entropy[-1, sel, 1].mean():.2f} nats')
  parts = ['blocks 0 and 1, means over seeds: ' + '; '.join(parts)] if parts else []
  return [layers_snap_in_order(t0, results.runs, '; '.join(
      parts + [f'{int((~kept).sum())} diverged runs left out']))]


CLAIMS = {
    'latents_learned': verdicts.Claim(_learned),
    'levels_in_own_blocks': verdicts.Claim(
        _own_blocks, applies=lambda c: max(c.model.num_layers) >= 2,
        applies_to='grids with a depth of at least 2 blocks (model.num_layers)'),
    'layers_snap_in_order': verdicts.Claim(
        _snapping, applies=lambda c: max(c.model.num_layers) >= 2,
        applies_to='grids with a depth of at least 2 blocks (model.num_layers)'),
}
