"""What the claims share: the reading of Theorems 3–4's assumption η_Y ≫ η_Z, statistics
helpers (rank correlation, per-seed contrasts, per-line slopes) and how verdicts name runs."""

import math

import ml_collections
import numpy as np
from scipy import stats

from scan_snap.core import verdicts
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep


# Theorems 3 and 4 assume that the decoder learns much faster than attention, η_Y ≫ η_Z: read
# as η_Y/η_Z ≥ 10. Theorem 4's t₀ is read on runs whose predicted t₀ = 2K ln M / η_Y spans
# at least this many start-up intervals (results.STARTUP).
DECODER_FASTER = 10.0
SNAPPING_MIN_STARTUPS = 4


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  """Spearman's rank correlation of a and b (scipy's; 0 when either is constant)."""
  if np.ptp(a) == 0 or np.ptp(b) == 0:
    return 0.0
  return float(stats.spearmanr(a, b).statistic)


def deterministic(group: sweep.GroupResult) -> bool:
  return group.run_config.dynamics != 'sampled'


def where(group: sweep.GroupResult, runs: np.ndarray | None = None) -> str:
  """The group and, for a cell, its rates, as report rows name them."""
  text = f'{sweep.group_name(group.run_config)}'
  if runs is not None and runs.any():
    r = np.flatnonzero(runs)[0]
    text += f', η_Y={float(group.lr_y[r]):g}, η_Z={float(group.lr_z[r]):g}'
  return text


def every_token_above(claim: str, part: np.ndarray, names: list[str], deterministic: bool,
                      moved: str, where: str = '') -> verdicts.Verdict:
  """The claim that every token's `part` [R, tokens] (a change, signed to be above 0 where the
  claim holds; `moved` words it, 'rise' or 'fall') is above 0: exact in every run on
  deterministic dynamics, else a one-sided t-test over seeds per token (verdicts.all_above)."""
  if deterministic:
    worst = float(part.min())
    return verdicts.exact(claim, worst, bool(worst > 0), f'exact: the smallest {moved} over runs '
                          'and tokens is above 0', n=len(part), measured=where)
  return verdicts.all_above(claim, part, names, measured=where)


def by_cell(group: sweep.GroupResult, test) -> list[verdicts.Verdict]:
  """test(runs, num_diverged, where, exact) -> verdicts, on the group's non-diverged runs all at
  once (deterministic dynamics, exact) or on each learning-rate cell's (sampled: its seeds)."""
  if deterministic(group):
    kept = ~group.metrics['diverged']
    return test(kept, int((~kept).sum()), where(group), True)
  return [v for _, _, runs, num_diverged in cells(group)
          for v in test(runs, num_diverged, where(group, runs), False)]


def decoder_faster(lr_y, lr_z):
  """Whether η_Y/η_Z ≥ DECODER_FASTER, the ratio as written (results.as_written)."""
  return results_lib.as_written(lr_y / lr_z) >= DECODER_FASTER


def cells(group: sweep.GroupResult):
  """(η_Y, η_Z, [R] non-diverged runs, number diverged) per learning-rate cell, in the order of
  the rates (results.cells_by_rate)."""
  for cell, lr_y, lr_z in results_lib.cells_by_rate(group):
    runs = results_lib.cell_runs(group, cell)
    yield lr_y, lr_z, runs, int((group.cell == cell).sum() - runs.sum())


def left_out(num_diverged: int) -> str:
  return f'{num_diverged} diverged runs left out' if num_diverged else ''


def zero_start(c: ml_collections.ConfigDict) -> bool:
  return c.model.init == 'zeros'


def seed_contrasts(rows: list[dict], line_keys: tuple[str, ...], axis: str, low: int,
                   high: int, value: str = 'entropy') -> dict[tuple, dict[int, float]]:
  """{line: {seed: `value` at the `high`-th − at the `low`-th value of `axis`}} over the lines
  (rows sharing `line_keys`) with at least two values of `axis`; a seed is left out of a line
  when either run diverged. Rates and ratios are compared as written (results.as_written)."""
  key = results_lib.as_written
  lines: dict[tuple, dict[float, dict[int, float]]] = {}
  for row in rows:
    if row['diverged'] or not math.isfinite(row[axis]):
      continue
    line = lines.setdefault(tuple(key(row[k]) for k in line_keys), {})
    line.setdefault(key(row[axis]), {})[row['seed']] = row[value]
  contrasts = {}
  for line, by_value in lines.items():
    if len(by_value) < 2:
      continue
    values = sorted(by_value)
    a, b = by_value[values[low]], by_value[values[high]]
    contrasts[line] = {s: b[s] - a[s] for s in sorted(set(a) & set(b))}
  return contrasts


def per_seed_mean(contrasts: dict[tuple, dict[int, float]]) -> np.ndarray:
  seeds = sorted({s for line in contrasts.values() for s in line})
  return np.array([np.mean([line[s] for line in contrasts.values() if s in line])
                   for s in seeds])


def by_num_last(contrasts: dict[tuple, dict[int, float]]) -> str:
  parts = []
  for num_last in sorted({line[0] for line in contrasts}):
    x = per_seed_mean({k: v for k, v in contrasts.items() if k[0] == num_last})
    se = x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else math.nan
    parts.append(f'num_last={num_last:g}: {x.mean():+.3f} ± {se:.3f}')
  return 'per num_last (mean ± se over seeds): ' + ', '.join(parts)


def contrast_verdict(claim: str, contrasts: dict[tuple, dict[int, float]], sign: int,
                     measured: str = '') -> verdicts.Verdict:
  """The claim that per-seed contrasts (seed_contrasts; per seed the mean over lines) have
  the sign `sign`: a one-sided t-test over seeds, reported as the contrast itself (its effect
  and interval in the contrast's units and sign)."""
  test = verdicts.above if sign > 0 else verdicts.below
  return test(claim, per_seed_mean(contrasts), measured='; '.join(
      t for t in (f'{len(contrasts)} lines', measured) if t))


def line_slopes(values: np.ndarray, x: np.ndarray, lines: np.ndarray,
                min_cells: int = 3) -> dict[int, dict[int, float]]:
  """{line: {seed: slope}}: per seed, the least-squares slope of `values` [seeds, cells] on
  `x` [cells] over the finite cells of each line (`lines` [cells] labels them; < 0: no line),
  for the lines and seeds with at least `min_cells` finite cells at two or more x."""
  slopes: dict[int, dict[int, float]] = {}
  for line in np.unique(lines[lines >= 0]):
    on_line = lines == line
    y, w = values[:, on_line], np.isfinite(values[:, on_line])
    n = w.sum(axis=1)
    dx = x[on_line] - (w * x[on_line]).sum(axis=1, keepdims=True) / np.maximum(n, 1)[:, None]
    sxx = (w * dx**2).sum(axis=1)
    sxy = (w * dx * np.where(w, y, 0)).sum(axis=1)
    for seed in np.flatnonzero((n >= min_cells) & (sxx > 1e-12 * np.maximum(1, n))):
      slopes.setdefault(int(line), {})[int(seed)] = float(sxy[seed] / sxx[seed])
  return slopes


def seed_slopes(rows: list[dict], value: str) -> dict[tuple, dict[int, float]]:
  """{line: {seed: least-squares slope of `value` on ln N}} over the lines (num_last, T, η_Y,
  η_Z) of finite_data rows, finite N only, each seed's non-diverged runs with a finite value;
  a seed needs two N or more on a line (line_slopes on the rows put in cells (line, N))."""
  kept = [r for r in rows if r['train_set_size'] and not r['diverged']]
  line_of = lambda r: (r['num_last'], r['seq_len'], results_lib.as_written(r['lr_y']),
                       results_lib.as_written(r['lr_z']))
  lines = sorted({line_of(r) for r in kept})
  cells = sorted({(lines.index(line_of(r)), r['train_set_size']) for r in kept})
  seeds = sorted({r['seed'] for r in kept})
  values = np.full((len(seeds), len(cells)), np.nan)
  for r in kept:
    values[seeds.index(r['seed']), cells.index((lines.index(line_of(r)), r['train_set_size']))] = (
        r[value])
  slopes = line_slopes(values, np.log([n for _, n in cells]), np.array([i for i, _ in cells]),
                       min_cells=2)
  return {lines[i]: {seeds[j]: b for j, b in sorted(by_seed.items())}
          for i, by_seed in slopes.items()}
