"""The paper's claims, measured on an experiment's results, each decided by a calibrated test.

CLAIMS is the registry that config.report.claims names; each entry gives its verdicts
(core/verdicts.py: an effect, its uncertainty, the test and α = 0.01) on a results.Results, the
report section they belong in, and what it needs: per-run columns, tables, reference runs.

  'frequency_bias'       Thm 2: every common token's logit falls and every distinct token's
                         rises (per token; at finite T over seeds, which shows its deviation)
  'scanning'             Thm 3: distinct tokens lose attention from the rarest up, and each
                         relative gain grows monotonically (where η_Y ≫ η_Z)
  'snapping'             Thm 4: t₀ ∝ 1/η_Y, independent of η_Z, logarithmic growth after t₀
  'learning_rates'       Sec. 6: larger η_Z sparsens; η_Y beyond η_Z makes attention denser
  'recall'               Figs. 11–12: the same, read on the recall curves at the figure's rates
  'convergence_vs_sparsity'  Fig. 4: at fixed η_Z, larger η_Y converges faster, less sparse
  'adam_subsets'         Fig. 5: Adam's learning rates end on different distinct tokens
  'long_sequence_limit'  Lemma 2: the distance to the population dynamics falls as T grows
  'spurious_tokens'      Sec. 9: a larger training set suppresses the common tokens that a
                         small one makes look distinct
  'decoder_reduction'    a solver check: ξ(t) of docs/model.md against its closed form
  'flow_vs_steps'        a solver check: gradient descent converges to the flow like its step

A check on sampled training treats seeds as its independent units; one on deterministic
dynamics (population, flow) has no sampling noise and is exact. Diverged runs are left out and
counted in `measured`. Thresholds are stated in each docstring and never tuned to make a check
pass.
"""

import dataclasses
import math

import ml_collections
import numpy as np
from scipy import optimize

from scan_snap.core import verdicts
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train

# Theorems 3 and 4 assume that the decoder learns much faster than attention, η_Y ≫ η_Z: read
# as η_Y/η_Z ≥ 10. Theorem 4's t₀ is read on runs whose predicted t₀ = 2K ln M / η_Y spans
# at least this many start-up intervals (results.STARTUP).
_DECODER_FASTER = 10.0
_SNAPPING_MIN_STARTUPS = 4
ETA_Z_MARGIN = 0.25  # |d ln t₀ / d ln η_Z| below this is "independent of η_Z"
# The η_Z of Syn-Medium's grid, where Sec. 6 finds attention denser beyond η_Y ≈ η_Z: the
# phase diagram tests that claim there.
PHASE_WINDOW_LR_Z = (0.5, 3.0)
_ROUNDING = 1 - 1e-6  # float32 rates: 0.03/0.003 is 9.99999…


def _ranks(x: np.ndarray) -> np.ndarray:
  """Ranks 0 … n−1, tied values sharing their mean rank."""
  x = np.asarray(x)
  ranks = np.empty(len(x))
  ranks[np.argsort(x, kind='stable')] = np.arange(len(x))
  for value in np.unique(x):
    ranks[x == value] = ranks[x == value].mean()
  return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
  ra, rb = _ranks(a), _ranks(b)
  if ra.std() == 0 or rb.std() == 0:
    return 0.0
  return float(np.corrcoef(ra, rb)[0, 1])


def _deterministic(group: sweep.GroupResult) -> bool:
  return group.run_config.dynamics != 'sampled'


def _where(group: sweep.GroupResult, runs: np.ndarray | None = None) -> str:
  """The group and, for a cell, its rates, as report rows name them."""
  text = f'{sweep.group_name(group.run_config)}'
  if runs is not None and runs.any():
    r = np.flatnonzero(runs)[0]
    text += f', η_Y={float(group.lr_y[r]):g}, η_Z={float(group.lr_z[r]):g}'
  return text


def _cells(group: sweep.GroupResult):
  """(η_Y, η_Z, [R] non-diverged runs, number diverged) per learning-rate cell."""
  for lr_y, lr_z in sorted(set(zip(group.lr_y.tolist(), group.lr_z.tolist()))):
    runs = results_lib.cell_runs(group, lr_y, lr_z)
    every = (group.lr_y == lr_y) & (group.lr_z == lr_z)
    yield lr_y, lr_z, runs, int(every.sum() - runs.sum())


def _left_out(num_diverged: int) -> str:
  return f'{num_diverged} diverged runs left out' if num_diverged else ''


# Theorem 2.

def logit_changes(logits: np.ndarray) -> np.ndarray:
  """[R, K, S] z(end) − z(0) on the supports, from logits [R, L+1, K, S]."""
  return logits[:, -1] - logits[:, 0]


def frequency_bias(changes: np.ndarray, is_distinct: np.ndarray, deterministic: bool,
                   where: str = '') -> list[verdicts.Verdict]:
  """Theorem 2 from a zero start: every common token's logit falls, every distinct token's
  rises. changes: [R, K, S] per run (runs of one cell: its seeds).

  Deterministic dynamics: exact, in every run and for every token. Sampled training: per
  token (class × slot), a one-sided t-test over seeds of its mean change, all tokens required
  (verdicts.all_above); at finite T the rarest distinct tokens may fall, the deviation the
  finite-T experiment shows shrinking with T.
  """
  checks = []
  for kind, sign, slots in (('common', -1, ~is_distinct), ('distinct', 1, is_distinct)):
    part = sign * changes[:, :, slots]  # above 0 where the claim holds
    claim = f"Thm 2: every {kind}-token logit {'falls' if sign < 0 else 'rises'}"
    flat = part.reshape(len(part), -1)
    if deterministic:
      worst = float(flat.min())
      checks.append(verdicts.exact(
          claim, worst, bool(worst > 0), f'exact: the smallest {"fall" if sign < 0 else "rise"}'
          ' over runs and tokens is above 0', n=len(flat), measured=where))
    else:
      names = [f'class {k}, {kind} token {i}' for k in range(part.shape[1])
               for i in range(part.shape[2])]
      checks.append(verdicts.all_above(claim, flat, names, measured=where))
  return checks


def _frequency_bias(results: results_lib.Results) -> list[verdicts.Verdict]:
  checks = []
  for group in results.groups:
    changes = logit_changes(group.metrics['attn/logits'])
    is_distinct = group.run_config.data.is_distinct()
    if _deterministic(group):
      kept = ~group.metrics['diverged']
      checks += [v.explained(_left_out(int((~kept).sum()))) for v in frequency_bias(
          changes[kept], is_distinct, True, _where(group))]
      continue
    for _, _, runs, num_diverged in _cells(group):
      checks += [v.explained(_left_out(num_diverged)) for v in frequency_bias(
          changes[runs], is_distinct, False, _where(group, runs))]
  return checks


# Theorem 3.

def scan_order(ctilde: np.ndarray, probs: np.ndarray, is_distinct: np.ndarray) -> float:
  """Spearman ρ between P(l|m,n) and the step at which c̃_l peaks (the last logged step if it
  never falls), over the distinct tokens l, averaged over classes; ctilde [L+1, K, S]. Theorem
  3: the rarer a distinct token, the earlier it loses attention, so ρ > 0. Classes whose
  tokens all peak at the same step (none has started to lose attention) are left out; NaN when
  every class is."""
  c, p = ctilde[:, :, is_distinct], probs[:, is_distinct]
  peak = np.argmax(c, axis=0)
  rho = [_spearman(p[k], peak[k]) for k in range(p.shape[0]) if np.ptp(peak[k]) > 0]
  return float(np.mean(rho)) if rho else math.nan  # NaN: no token has peaked yet.


def relative_gains(ctilde: np.ndarray, probs: np.ndarray, is_distinct: np.ndarray) -> np.ndarray:
  """[L+1, pairs] (c̃_l*/c̃_l)² − 1 of each class's most frequent distinct token l* over each
  other distinct token l; ctilde [L+1, K, S]."""
  c, p = ctilde[:, :, is_distinct], probs[:, is_distinct]
  num_classes, num_distinct = p.shape
  top = np.argmax(p, axis=1)
  gain = (c[:, np.arange(num_classes), top][..., None] / c)**2 - 1
  others = np.ones_like(p, bool)
  others[np.arange(num_classes), top] = False
  return gain[:, others]


def rising_fraction(gain: np.ndarray, tolerance: float = 1e-5) -> float:
  """The fraction of (logged step, pair) at which the gain does not fall by more than
  `tolerance` of its size (float32 rounding); 1 for monotone growth."""
  step = np.diff(gain, axis=0)
  return float(np.mean(step >= -tolerance * np.abs(gain[1:])))


def _scanning(results: results_lib.Results) -> list[verdicts.Verdict]:
  """Per group. Order: ρ of scan_order above 0 — exact in every run for deterministic dynamics,
  else a one-sided t-test over seeds per cell. Gains: on deterministic dynamics, exact
  monotone growth in every run with η_Y/η_Z ≥ 10 (the theory's η_Y ≫ η_Z), the fraction of
  rising steps of the other runs reported; on sampled training, the fraction of rising steps
  above 1/2 (t-test over seeds), since sampling noise makes no gain monotone."""
  checks = []
  for group in results.groups:
    spec, m = group.run_config.data, group.metrics
    probs, is_distinct = spec.probs(), spec.is_distinct()
    order = np.array([scan_order(c, probs, is_distinct) for c in m['attn/ctilde']])
    rising = np.array([rising_fraction(relative_gains(c, probs, is_distinct))
                       for c in m['attn/ctilde']])
    order_claim = 'Thm 3: distinct tokens lose attention from the rarest to the most frequent'
    gain_claim = 'Thm 3: each relative gain (c̃_l*/c̃_l)² − 1 grows monotonically'
    if _deterministic(group):
      kept = ~m['diverged']
      ratio = group.lr_y / group.lr_z
      assumed = kept & (ratio >= _DECODER_FASTER * _ROUNDING)
      others = np.flatnonzero(kept & ~assumed)
      outside = ', '.join(f'(η_Y, η_Z) = ({float(group.lr_y[r]):g}, {float(group.lr_z[r]):g}): '
                          f'{rising[r]:.3f}' for r in others[np.argsort(ratio[others])])
      scanned = kept & np.isfinite(order)
      checks.append(verdicts.exact(
          order_claim, float(order[scanned].min()) if scanned.any() else math.nan,
          bool(scanned.any() and order[scanned].min() > 0),
          'exact: the smallest Spearman ρ(P, peak step) over runs is above 0',
          n=int(scanned.sum()), measured=f'{_where(group)}; {int(scanned.sum())} of '
          f'{int(kept.sum())} runs have a distinct token past its peak'))
      checks.append(verdicts.exact(
          gain_claim, float(rising[assumed].min()) if assumed.any() else math.nan,
          bool(assumed.any() and rising[assumed].min() == 1.0),
          f'exact: every gain rises at every step, in every run with η_Y/η_Z ≥ '
          f'{_DECODER_FASTER:g}', n=int(assumed.sum()),
          measured=f'{_where(group)}; fraction of rising steps outside the assumption: '
                   f'{outside or "no such runs"}'))
      continue
    for lr_y, lr_z, runs, num_diverged in _cells(group):
      where = _where(group, runs)
      if lr_y / lr_z < _DECODER_FASTER * _ROUNDING:
        where += f' (η_Y/η_Z = {lr_y / lr_z:.3g}: outside the theory\'s η_Y ≫ η_Z)'
      checks.append(verdicts.above(order_claim, order[runs], measured=where).explained(
          _left_out(num_diverged)))
      checks.append(verdicts.above(gain_claim + ' (more rising steps than falling)',
                                   rising[runs] - 0.5, measured=where).explained(
                                       _left_out(num_diverged)))
  return checks


# Theorem 4.

def log_beats_power_law(t: np.ndarray, growth: np.ndarray, points: int = 40) -> bool:
  """Whether a + b ln t fits the growth better than c·t^p: both fitted by least squares on the
  growth itself, at `points` log-spaced times (each decade weighs the same), t ≥ 1."""
  keep = (t >= 1) & (growth > 0)
  t, growth = t[keep], growth[keep]
  grid = np.logspace(np.log10(t[0]), np.log10(t[-1]), points)
  index = np.unique(np.searchsorted(t, grid).clip(0, len(t) - 1))
  t, growth = t[index], growth[index]
  design = np.c_[np.ones_like(t), np.log(t)]
  log_fit = design @ np.linalg.lstsq(design, growth, rcond=None)[0]
  start = np.linalg.lstsq(design, np.log(growth), rcond=None)[0]  # the power law on ln growth
  (c, p), _ = optimize.curve_fit(lambda t, c, p: c * t**p, t, growth,
                                 p0=(np.exp(start[0]), start[1]), maxfev=10_000)
  return bool(((growth - log_fit)**2).sum() < ((growth - c * t**p)**2).sum())


def snapping(num_classes: np.ndarray, vocab_size: np.ndarray, lr_y: np.ndarray,
             lr_z: np.ndarray, t0: np.ndarray, log_tail: np.ndarray,
             deterministic: bool) -> list[verdicts.Verdict]:
  """Theorem 4 on runs (arrays [R]): t₀ = O(2K ln M / η_Y).

  Read on the runs where the theory applies and t₀ can be resolved: η_Y/η_Z ≥ 10, predicted
  t₀ at least 4 start-up intervals (results.STARTUP), t₀ found. A least-squares fit
  ln t₀ = a_K + b ln η_Y + c ln η_Z (one intercept per K): pass when b's interval contains −1
  and excludes 0; c negligible, its (1 − 2α) interval within ±0.25; `log_tail` [R] says
  whether a line in ln t fits the growth after t₀ better than a power law, which must hold in
  every run (deterministic dynamics) or in more than half (a sign test, sampled training).
  """
  scale = 2 * num_classes * np.log(vocab_size) / lr_y  # the theory's t₀ up to (1 + δ')
  used = (np.isfinite(t0) & (lr_y / lr_z >= _DECODER_FASTER * _ROUNDING)
          & (scale >= _SNAPPING_MIN_STARTUPS * results_lib.STARTUP))
  ks = np.unique(num_classes[used])
  ratios = [(t0 / scale)[used & (num_classes == k)] for k in ks]
  spread = '; '.join(f'K={k}: t₀η_Y/(2K ln M) = {r.mean():.2f} ± {r.std():.2f} over {len(r)} runs'
                     for k, r in zip(ks, ratios))
  measured = (f'{int(used.sum())} of {len(t0)} runs read (η_Y/η_Z ≥ {_DECODER_FASTER:g}, '
              f'2K ln M/η_Y ≥ {_SNAPPING_MIN_STARTUPS * results_lib.STARTUP:g} steps, t₀ found: '
              f'{int(np.isfinite(t0).sum())}); {spread or "no runs"}')
  columns = [(num_classes[used] == k).astype(float) for k in ks]
  x_y, x_z = np.log(lr_y[used]), np.log(lr_z[used])
  y = np.log(t0[used])
  varied_z = len(np.unique(x_z)) > 1
  design = np.stack(columns + [x_y] + ([x_z] if varied_z else []), axis=1) if ks.size else (
      np.zeros((0, 2)))
  checks = [verdicts.coefficient('Thm 4: t₀ ∝ 1/η_Y (slope of ln t₀ on ln η_Y is −1)',
                                 design, y, len(ks), predicted=-1.0, measured=measured)]
  z_claim = 'Thm 4: t₀ does not depend on η_Z (slope of ln t₀ on ln η_Z is 0)'
  if varied_z:
    checks.append(verdicts.negligible(z_claim, design, y, len(ks) + 1, ETA_Z_MARGIN,
                                      measured=measured))
  else:
    checks.append(verdicts.Verdict(z_claim, verdicts.INCONCLUSIVE, math.nan, math.nan,
                                   (math.nan, math.nan), int(used.sum()), 'equivalence',
                                   verdicts.ALPHA, math.nan, 'fewer than two η_Z among the runs '
                                   'read'))
  tail_claim = 'Thm 4: after t₀ the growth is logarithmic (a line in ln t beats a power law)'
  wins = int(log_tail[used].sum())
  if deterministic:
    checks.append(verdicts.exact(tail_claim, wins / max(1, used.sum()),
                                 bool(used.any() and wins == used.sum()),
                                 'exact: in every run read', n=int(used.sum())))
  else:
    checks.append(verdicts.majority(tail_claim, wins, int(used.sum())))
  return checks


def _snapping(results: results_lib.Results) -> list[verdicts.Verdict]:
  arrays = {k: [] for k in ('num_classes', 'vocab_size', 'lr_y', 'lr_z', 't0', 'log_tail')}
  num_diverged = sum(results.num_diverged)
  for group, t0 in zip(results.groups, results.t0):
    kept = ~group.metrics['diverged']
    spec, t = group.run_config.data, train.logged_steps(group.run_config)
    growth = results_lib.dominant_growth(group)
    arrays['num_classes'].append(np.full(kept.sum(), spec.num_classes))
    arrays['vocab_size'].append(np.full(kept.sum(), spec.vocab_size))
    arrays['lr_y'].append(group.lr_y[kept])
    arrays['lr_z'].append(group.lr_z[kept])
    arrays['t0'].append(t0[kept])
    arrays['log_tail'].append(np.array([
        np.isfinite(t0[r]) and log_beats_power_law(t[t >= t0[r]], growth[r][t >= t0[r]])
        for r in np.flatnonzero(kept)], bool))
  arrays = {k: np.concatenate(v) for k, v in arrays.items()}
  deterministic = all(_deterministic(g) for g in results.groups)
  return [v.explained(_left_out(num_diverged)) for v in snapping(**arrays,
                                                                  deterministic=deterministic)]


# Sec. 6.

def seed_contrasts(rows: list[dict], line_keys: tuple[str, ...], axis: str, low: int,
                   high: int, value: str = 'entropy') -> dict[tuple, dict[int, float]]:
  """{line: {seed: `value` at the `high`-th − at the `low`-th value of `axis`}} over the lines
  (rows sharing `line_keys`) with at least two values of `axis`; a seed is left out of a line
  when either run diverged. Rates are compared at 6 significant digits (float32 grids)."""
  key = lambda x: float(f'{x:.6g}')
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


def _per_seed_mean(contrasts: dict[tuple, dict[int, float]]) -> np.ndarray:
  seeds = sorted({s for line in contrasts.values() for s in line})
  return np.array([np.mean([line[s] for line in contrasts.values() if s in line])
                   for s in seeds])


def _by_num_last(contrasts: dict[tuple, dict[int, float]]) -> str:
  parts = []
  for num_last in sorted({line[0] for line in contrasts}):
    x = _per_seed_mean({k: v for k, v in contrasts.items() if k[0] == num_last})
    se = x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else math.nan
    parts.append(f'num_last={num_last:g}: {x.mean():+.3f} ± {se:.3f}')
  return 'per num_last (mean ± se over seeds): ' + ', '.join(parts)


def contrast_verdict(claim: str, contrasts: dict[tuple, dict[int, float]], sign: int,
                     measured: str = '') -> verdicts.Verdict:
  """The claim that per-seed contrasts (seed_contrasts; per seed the mean over lines) have
  the sign `sign`: a one-sided t-test over seeds, reported as the contrast itself (its effect
  and interval in the contrast's units and sign)."""
  v = verdicts.above(claim, sign * _per_seed_mean(contrasts), measured='; '.join(
      t for t in (f'{len(contrasts)} lines', measured) if t))
  lo, hi = sign * v.interval[0], sign * v.interval[1]
  return dataclasses.replace(v, effect=sign * v.effect, interval=(min(lo, hi), max(lo, hi)))


def learning_rates(rows: list[dict]) -> list[verdicts.Verdict]:
  """Sec. 6 on per-run rows, seeds paired (a seed shares its start and batches across rates).

  Sparser with η_Z: on each line (num_last, T, η_Y/η_Z), entropy at the largest η_Z minus at
  the smallest; denser beyond η_Z: on each line (num_last, T, η_Z), entropy at the largest
  η_Y/η_Z minus at the second largest. Per seed, the mean over lines; a one-sided t-test over
  seeds that it is below 0 (sparser) or above 0 (denser). Effects in nats.
  """
  sparser = seed_contrasts(rows, ('num_last', 'seq_len', 'lr_y_over_lr_z'), 'lr_z', 0, -1)
  denser = seed_contrasts(rows, ('num_last', 'seq_len', 'lr_z'), 'lr_y_over_lr_z', -2, -1)
  num_diverged = sum(row['diverged'] for row in rows)
  checks = []
  for claim, contrasts, sign in (
      ('Sec. 6: larger η_Z gives sparser final attention (entropy at the largest η_Z minus at '
       'the smallest is below 0)', sparser, -1),
      ('Sec. 6: at fixed η_Z, η_Y beyond η_Z makes attention denser (entropy at the largest '
       'η_Y/η_Z minus at the second largest is above 0)', denser, 1)):
    checks.append(contrast_verdict(claim, contrasts, sign, _by_num_last(contrasts) if contrasts
                                   else '').explained(_left_out(num_diverged)))
  return checks


# Figs. 11–12.

def recall_curves(rows: list[dict], lr_y: float, lr_z: float) -> list[verdicts.Verdict]:
  """Figs. 11–12 on per-run rows with 'recall_spread', r(θ_max) − r(θ_min): a sparser map
  starts lower and ends higher, so its spread is larger (nearer 0).

  At the figure's fixed η_Y, spread at the largest η_Z minus at the smallest is above 0
  (larger η_Z sparsens); at its fixed η_Z, spread at the largest η_Y minus at the smallest is
  below 0 (η_Y beyond η_Z makes attention denser). Per seed the mean over num_last, a
  one-sided t-test over seeds.
  """
  same = lambda a, b: math.isclose(a, b, rel_tol=1e-6)
  checks = []
  for claim, fixed, line_keys, axis, sign in (
      (f'Figs. 11–12: at η_Y={lr_y:g}, larger η_Z gives a sparser map (recall starts lower '
       'and ends higher)', lambda r: same(r['lr_y'], lr_y), ('num_last', 'seq_len', 'lr_y'),
       'lr_z', 1),
      (f'Figs. 11–12: at η_Z={lr_z:g}, larger η_Y gives a denser map (recall starts higher '
       'and ends lower)', lambda r: same(r['lr_z'], lr_z), ('num_last', 'seq_len', 'lr_z'),
       'lr_y', -1)):
    chosen = [r for r in rows if fixed(r)]
    contrasts = seed_contrasts(chosen, line_keys, axis, 0, -1, value='recall_spread')
    checks.append(contrast_verdict(claim, contrasts, sign, _by_num_last(contrasts) if contrasts
                                   else '').explained(
        _left_out(sum(r['diverged'] for r in chosen))))
  return checks


def _recall_curves(results: results_lib.Results) -> list[verdicts.Verdict]:
  spreads = np.concatenate([r[:, np.argmax(th)] - r[:, np.argmin(th)] for r, th in
                            zip(results.run_recall, results.recall_thresholds)])
  rows = [{**row, 'recall_spread': float(x)} for row, x in zip(results.rows, spreads)]
  return recall_curves(rows, results.c.figures.recall_lr_y, results.c.figures.recall_lr_z)


# Lemma 2.

def long_sequence_limit(table: list[dict]) -> list[verdicts.Verdict]:
  """Lemma 2 on long_sequence_limit rows: per (num_last, η_Y, η_Z), the slope of ln distance
  on ln T has its (1 − α) interval below 0 (a t-interval of the fit, T − 2 dof)."""
  lines: dict[tuple, list[dict]] = {}
  for row in table:
    lines.setdefault((row['num_last'], row['lr_y'], row['lr_z']), []).append(row)
  checks = []
  for (num_last, lr_y, lr_z), line in lines.items():
    line.sort(key=lambda r: r['seq_len'])
    x = np.log([r['seq_len'] for r in line])
    checks.append(verdicts.coefficient(
        'Lemma 2: sampled training tends to the population dynamics as T grows '
        '(slope of ln distance on ln T)', np.c_[np.ones_like(x), x],
        np.log([r['distance'] for r in line]), 1, sign=-1,
        measured=f'num_last={num_last}, η_Y={lr_y:g}, η_Z={lr_z:g}: distance by T '
                 + ', '.join(f"{r['seq_len']}: {r['distance']:.4f}" for r in line)))
  return checks


# Sec. 9.

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
  line_of = lambda r: (r['num_last'], r['seq_len'], float(f"{r['lr_y']:.6g}"),
                       float(f"{r['lr_z']:.6g}"))
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


def _means_by_size(rows: list[dict], value: str) -> str:
  """The mean of `value` over the non-diverged runs of each N, in words."""
  sizes = sorted({r['train_set_size'] for r in rows if r['train_set_size']})
  means = [np.nanmean([r[value] for r in rows if r['train_set_size'] == n and not r['diverged']])
           for n in sizes]
  return 'mean by N: ' + ', '.join(f'{n}: {m:.3g}' for n, m in zip(sizes, means))


def spurious_tokens(rows: list[dict]) -> list[verdicts.Verdict]:
  """Sec. 9 on finite_data rows: as the training set grows, the attention on the common tokens
  that the set made look distinct (spurious_attention) and the correlation of their logit
  changes with that distinctness (correlation) fall. Per seed and line (num_last, T, η_Y, η_Z)
  the slope of each on ln N over the finite N; per seed the mean over lines; a one-sided t-test
  over seeds that it is below 0. Effects per unit of ln N."""
  num_diverged = sum(r['diverged'] for r in rows)
  checks = []
  for claim, value in (
      ('Sec. 9: attention on spurious common tokens falls as N grows (slope of Σ c̃ sign(d) '
       'over common tokens on ln N)', 'spurious_attention'),
      ('Sec. 9: the correlation of common-token logits with their distinctness in the '
       'training set falls as N grows (slope of r on ln N)', 'correlation')):
    slopes = seed_slopes(rows, value)
    undefined = sum(r['train_set_size'] > 0 and not r['diverged'] and not math.isfinite(r[value])
                    for r in rows)  # e.g. a class absent from a tiny set: no d to measure
    checks.append(contrast_verdict(claim, slopes, -1, _means_by_size(rows, value)).explained(
        _left_out(num_diverged)).explained(
            f'{undefined} runs left out with no finite {value}' if undefined else ''))
  return checks


# Solver checks.

def decoder_gap_closed_form(t: np.ndarray, lr_y: float, vocab_size: int,
                            num_classes: int) -> np.ndarray:
  """ξ(t) solving (M − 1)ξ + e^ξ − 1 = η_Y M t / K (docs/model.md), by Newton's method."""
  rhs = lr_y * vocab_size * np.asarray(t, float) / num_classes
  xi = np.log1p(rhs)  # Below the root: the left side is convex and increasing.
  for _ in range(100):
    xi = xi - ((vocab_size - 1) * xi + np.expm1(xi) - rhs) / (vocab_size - 1 + np.exp(xi))
  return xi


def decoder_reduction(reference: sweep.GroupResult) -> verdicts.Verdict:
  """Y alone by gradient flow on orthonormal classes (sweep.decoder_reduction_run) against the
  closed form: the gap ξ between the right next-token logit and each wrong one solves
  (M − 1)ξ + e^ξ − 1 = η_Y M t / K.

  By symmetry every class has the same gap, and its loss is ln(1 + (M − 1)e^{−ξ}), so ξ is
  read off the training loss: ξ = −ln(expm1(loss) / (M − 1)). Passes when the largest
  difference is below 10⁻³ of ξ at the end.
  """
  spec, steps = reference.run_config.data, reference.run_config.steps
  loss = np.asarray(reference.metrics['train/loss'][0], np.float64)
  measured = -np.log(np.expm1(loss) / (spec.vocab_size - 1))
  want = decoder_gap_closed_form(train.logged_steps(reference.run_config)[1:],
                                 float(reference.lr_y[0]), spec.vocab_size, spec.num_classes)
  error = np.abs(measured - want).max() / want[-1]
  return verdicts.exact(
      'Decoder reduction: (M−1)ξ + e^ξ − 1 = η_Y M t / K', error, bool(error < 1e-3),
      f'exact: the largest difference over 0 < t ≤ {steps} is below 10⁻³ of ξ({steps})',
      measured=f'ξ({steps}) = {measured[-1]:.4f} vs closed form {want[-1]:.4f}')


# Figs. 4 and 5.

def _means_by_rate(rows: list[dict], key: str) -> str:
  """The mean of `key` over the non-diverged seeds of each (η_Z, η_Y) cell, in words."""
  cells: dict[float, dict[float, list]] = {}
  for row in rows:
    if not row['diverged']:
      cells.setdefault(row['lr_z'], {}).setdefault(row['lr_y'], []).append(row[key])
  return '; '.join(f'η_Z={z:g}: ' + ', '.join(f'η_Y={y:g} {np.mean(v):.3g}'
                                            for y, v in sorted(by_y.items()))
                   for z, by_y in sorted(cells.items()))


def convergence_vs_sparsity(rows: list[dict], loss_threshold: float) -> list[verdicts.Verdict]:
  """Fig. 4 on per-run rows, seeds paired: on each line (num_last, T, η_Z), the largest η_Y
  against the smallest. Faster: `steps_to_loss` (the first step with training loss ≤
  `loss_threshold`) at the largest η_Y minus at the smallest is below 0; a run that never
  reaches the threshold counts as its length `steps` — a censoring that may shrink a seed's
  contrast, even to 0, but never creates or reverses one. Less sparse: the final entropy at
  the largest η_Y minus at the smallest is above 0. Per seed the mean over lines; one-sided
  t-tests over seeds. Effects in steps and nats."""
  never = sum(math.isnan(row['steps_to_loss']) for row in rows if not row['diverged'])
  timed = [dict(row, steps_to_loss=row['steps'] if math.isnan(row['steps_to_loss'])
                else row['steps_to_loss']) for row in rows]
  num_diverged = sum(row['diverged'] for row in rows)
  checks = []
  for claim, value, sign, measured in (
      ('Fig. 4: at fixed η_Z, larger η_Y converges faster (steps to the loss threshold at the '
       'largest η_Y minus at the smallest is below 0)', 'steps_to_loss', -1,
       f'threshold {loss_threshold:g} nats; mean steps {_means_by_rate(timed, "steps_to_loss")}; '
       f'{never} runs never reached it (counted as the run length)'),
      ('Fig. 4: at fixed η_Z, larger η_Y gives less sparse attention (final entropy at the '
       'largest η_Y minus at the smallest is above 0)', 'entropy', 1,
       f'mean entropy (nats) {_means_by_rate(rows, "entropy")}')):
    contrasts = seed_contrasts(timed, ('num_last', 'seq_len', 'lr_z'), 'lr_y', 0, -1, value)
    checks.append(contrast_verdict(claim, contrasts, sign, measured).explained(
        _left_out(num_diverged)))
  return checks


def adam_subsets(attended: np.ndarray, rate_names: list[str], token_ids: np.ndarray,
                 where: str = '') -> verdicts.Verdict:
  """Fig. 5: different learning rates end on different subsets of distinct tokens.
  attended [seeds, rates, K, U]: whether each distinct token ends attended (results.attended);
  token_ids [K, U]. The distance between two rates is the mean over tokens of the difference
  of their attended frequencies over seeds, averaged over pairs of rates; a permutation test
  with the rate labels permuted within each seed (verdicts.permutation, fixed key). `measured`
  lists per rate the tokens that more than half of the seeds attend."""
  majority = np.asarray(attended).mean(axis=0) > 0.5 if len(attended) else []
  subsets = '; '.join(f'{name}: {{{", ".join(str(t) for t in token_ids[m])}}}'
                      for name, m in zip(rate_names, majority))
  return verdicts.permutation(
      'Fig. 5: different learning rates end on different subsets of distinct tokens '
      '(mean difference of attended frequencies between rates)', attended,
      measured='; '.join(t for t in (where, subsets) if t))


def _adam_subsets(results: results_lib.Results) -> list[verdicts.Verdict]:
  """Per group, the seeds none of whose runs diverged, each at every learning-rate cell."""
  checks = []
  for group, attended in zip(results.groups, results.attended):
    cells = sorted(set(zip(group.lr_y.tolist(), group.lr_z.tolist())), key=lambda p: p[::-1])
    diverged = group.metrics['diverged']
    seeds = [s for s in np.unique(group.seed) if not diverged[group.seed == s].any()]
    index = np.array([[np.flatnonzero((group.seed == s) & (group.lr_y == y)
                                      & (group.lr_z == z))[0] for y, z in cells]
                      for s in seeds], int).reshape(len(seeds), len(cells))
    names = [f'η={y:g}' if y == z else f'η_Y={y:g}, η_Z={z:g}' for y, z in cells]
    spec = group.run_config.data
    token_ids = spec.support()[:, spec.is_distinct()]
    num_left_out = len(np.unique(group.seed)) - len(seeds)
    checks.append(adam_subsets(attended[index], names, token_ids, _where(group)).explained(
        f'{num_left_out} seeds with a diverged run left out' if num_left_out else ''))
  return checks


def flow_vs_steps(runs: dict[str, np.ndarray]) -> verdicts.Verdict:
  """The gradient-flow solver against gradient descent (sweep.flow_vs_steps_runs): descent is
  the Euler method of the flow, so its error in z falls like the step h. Passes when the
  largest error over t ≤ `steps` with h = 1 is 2 ± 0.2 times that with h = 1/2."""
  errors = [float(np.abs(runs[h] - runs['flow']).max()) for h in ('h=1', 'h=1/2')]
  ratio = errors[0] / errors[1] if errors[1] > 0 else math.inf
  return verdicts.exact(
      'Gradient flow against descent: the error of descent in z falls like its step h', ratio,
      bool(1.8 <= ratio <= 2.2), 'exact: error(h = 1) / error(h = 1/2) within 2 ± 0.2',
      measured=f'largest |z_descent − z_flow| {errors[0]:.2e} (h = 1), {errors[1]:.2e} '
               f'(h = 1/2); flow solved to rtol 1e-8')


# Beyond the paper: the phase diagram of the learning-rate plane.

def ray_index(c: ml_collections.ConfigDict) -> np.ndarray | None:
  """[len(lr_z), len(lr_y)] the ray η_Y/η_Z = const of each cell, as an index ≥ 0: i_y on a
  grid of relative rates, i_y − i_z + len(lr_z) − 1 on a grid whose two axes hold the same
  log-spaced rates; None on other grids, which have no rays through several cells."""
  o = c.optimizer
  i_z, i_y = np.meshgrid(np.arange(len(o.lr_z)), np.arange(len(o.lr_y)), indexing='ij')
  if o.lr_y_relative:
    return i_y
  same_axes = tuple(o.lr_z) == tuple(o.lr_y) and len(o.lr_z) > 2 and np.allclose(
      np.diff(np.log(o.lr_z)), np.log(o.lr_z[1] / o.lr_z[0]), rtol=1e-3)
  return i_y - i_z + len(o.lr_z) - 1 if same_axes else None


def _ranges(rates: list[float]) -> str:
  """Runs of consecutive grid rates, as 'a–b' (or 'a'), joined by commas."""
  return ', '.join(f'{r[0]:g}–{r[-1]:g}' if len(r) > 1 else f'{r[0]:g}' for r in rates) or 'none'


def signs_by_line(slopes: dict[int, dict[int, float]], rates: np.ndarray) -> str:
  """Where the per-line slopes are above or below 0 (one-sided t-tests over seeds, α)."""
  runs = {verdicts.PASS: [], verdicts.FAIL: []}
  previous = None
  for line in sorted(slopes):
    verdict = verdicts.above('', list(slopes[line].values())).verdict
    if verdict in runs:
      if previous == (verdict, line - 1):
        runs[verdict][-1].append(float(rates[line]))
      else:
        runs[verdict].append([float(rates[line])])
    previous = (verdict, line)
  return f'above 0 at {_ranges(runs[verdicts.PASS])}; below 0 at {_ranges(runs[verdicts.FAIL])}'


def phase_diagram(entropy: np.ndarray, t0: np.ndarray, lr_z: np.ndarray, lr_y: np.ndarray,
                  rays: np.ndarray, window_lr_z: tuple[float, float], predicted_t0: np.ndarray,
                  steps: int) -> list[verdicts.Verdict]:
  """The learning-rate plane on [seeds, len(lr_z), len(lr_y)] arrays of final entropy and t₀
  (NaN: diverged, or no t₀), the cells' rates, rays (ray_index) and the theory's t₀ = 2K ln M
  (1 − β)/η_Y (β: the momentum), all [len(lr_z), len(lr_y)]. Slopes in nats per e-fold.

  Sparser along rays: per seed and ray η_Y/η_Z = const, the slope of entropy on ln η_Z; per
  seed the mean over rays; below 0 by a one-sided t-test over seeds. Denser beyond η_Y ≈ η_Z:
  per seed and η_Z in `window_lr_z`, the slope of entropy on ln η_Y over 1 ≤ η_Y/η_Z ≤ 10;
  per seed the mean over η_Z; above 0 likewise (`measured`: where each η_Z of the grid has it
  above or below 0). t₀ on the cells where Theorem 4 applies and t₀ can be resolved: η_Y/η_Z ≥
  10 and 4 start-up intervals ≤ the theory's t₀ ≤ `steps`; per seed the coefficient b of
  ln t₀ = a + b ln η_Y + c ln η_Z; over seeds, t₀ falls with η_Y (b's (1 − α) t-interval below
  0) and falls as 1/η_Y (the interval contains −1 and excludes 0).
  """
  seeds = len(entropy)
  flat = lambda x: x.reshape(seeds, -1)
  ratio = (lr_y / lr_z).ravel()
  column = np.broadcast_to(np.arange(lr_z.shape[0])[:, None], lr_z.shape).ravel()
  near = (ratio >= _ROUNDING) & (ratio <= 10 / _ROUNDING)
  in_window = (near & (lr_z.ravel() >= window_lr_z[0] * _ROUNDING)
               & (lr_z.ravel() <= window_lr_z[1] / _ROUNDING))
  sparser = line_slopes(flat(entropy), np.log(lr_z).ravel(), rays.ravel())
  denser = line_slopes(flat(entropy), np.log(lr_y).ravel(), np.where(in_window, column, -1))
  everywhere = line_slopes(flat(entropy), np.log(lr_y).ravel(), np.where(near, column, -1))
  checks = [
      contrast_verdict('Beyond the paper: along each ray η_Y/η_Z = const, final entropy falls '
                       'with η_Z (slope of entropy on ln η_Z, mean over rays, is below 0)',
                       sparser, -1),
      contrast_verdict(f'Sec. 6 on the plane: at fixed η_Z in [{window_lr_z[0]:g}, '
                       f'{window_lr_z[1]:g}], entropy rises with η_Y over 1 ≤ η_Y/η_Z ≤ 10 '
                       '(slope on ln η_Y, mean over η_Z, is above 0)', denser, 1,
                       'per η_Z of the grid, that slope is '
                       + signs_by_line(everywhere, lr_z[:, 0]))]
  shortest = _SNAPPING_MIN_STARTUPS * results_lib.STARTUP
  read = ((ratio >= 10 * _ROUNDING) & (predicted_t0.ravel() >= shortest)
          & (predicted_t0.ravel() <= steps))
  fits, used = [], 0
  for seed in range(seeds):
    keep = read & np.isfinite(flat(t0)[seed])
    design = np.c_[np.ones(keep.sum()), np.log(lr_y.ravel()[keep]), np.log(lr_z.ravel()[keep])]
    if keep.sum() > 3 and len(np.unique(design[:, 1])) > 1 and len(np.unique(design[:, 2])) > 1:
      fits.append(verdicts.least_squares(design, np.log(flat(t0)[seed][keep]))[0][1])
      used += int(keep.sum())
  found = np.isfinite(flat(t0)[:, read])
  measured = (f'{used} runs with a t₀ over {len(fits)} seeds in {int(read.sum())} cells '
              f'(η_Y/η_Z ≥ 10, theory\'s t₀ from {shortest} to {steps} steps; t₀ found in '
              f'{found.mean():.0%} of their runs)' if read.any() else 'no cell read')
  ones, fits = np.ones((len(fits), 1)), np.asarray(fits)
  checks += [
      verdicts.coefficient('Beyond the paper: t₀ falls with η_Y (per seed, the slope of ln t₀ on '
                           'ln η_Y at fixed ln η_Z, mean over seeds, is below 0)', ones, fits, 0,
                           sign=-1, measured=measured),
      verdicts.coefficient('Thm 4 on the plane: t₀ ∝ 1/η_Y (that slope is −1)', ones, fits, 0,
                           predicted=-1.0, measured=measured)]
  return checks


def _phase_diagram(results: results_lib.Results) -> list[verdicts.Verdict]:
  lr_z, lr_y = results.cell_rates()
  rays = ray_index(results.c)
  checks = []
  for group, t0 in zip(results.groups, results.t0):
    run_config, spec = group.run_config, group.run_config.data
    predicted = (2 * spec.num_classes * math.log(spec.vocab_size)
                 * (1 - run_config.optimizer.momentum) / lr_y)
    entropy = results.kept_cells(group, group.metrics['attn/entropy'][:, -1])
    checks += [v.explained(_where(group)).explained(
                   _left_out(int(group.metrics['diverged'].sum())))
               for v in phase_diagram(entropy, results.kept_cells(group, t0), lr_z, lr_y, rays,
                                      PHASE_WINDOW_LR_Z, predicted, run_config.steps)]
  return checks


def _zero_start(c: ml_collections.ConfigDict) -> bool:
  return c.model.init == 'zeros'


CLAIMS = {
    'frequency_bias': verdicts.Claim(
        _frequency_bias,
        applies=lambda c: _zero_start(c) and c.optimizer.name == 'sgd' and c.train.trajectories,
        applies_to="SGD from a zero start (model.init='zeros'), as the theorem assumes, with "
                   'train.trajectories'),
    'scanning': verdicts.Claim(_scanning, applies=lambda c: _zero_start(c) and c.train.trajectories,
                      applies_to="a zero start (model.init='zeros'), with train.trajectories"),
    'snapping': verdicts.Claim(_snapping, columns=('t0',)),
    'learning_rates': verdicts.Claim(lambda results: learning_rates(results.rows)),
    'recall': verdicts.Claim(_recall_curves),
    'long_sequence_limit': verdicts.Claim(
        lambda results: long_sequence_limit(results.long_sequence_limit),
        tables=('long_sequence_limit',), references=('population',),
        applies=lambda c: (_zero_start(c) and c.train.dynamics == 'sampled'
                           and c.train.trajectories),
        applies_to='sampled runs from a zero start, compared with the population run, with '
                   'train.trajectories'),
    'spurious_tokens': verdicts.Claim(
        lambda results: spurious_tokens(results.finite_data), tables=('finite_data',),
        applies=lambda c: (c.train.dynamics == 'sampled' and c.train.trajectories
                           and sum(n > 0 for n in c.data.train_set_size) >= 2),
        applies_to='sampled training on two or more finite sets (data.train_set_size), with '
                   'train.trajectories'),
    'decoder_reduction': verdicts.Claim(
        lambda results: [decoder_reduction(results.references['decoder_reduction'])],
        section=verdicts.SOLVER, references=('decoder_reduction',)),
    'flow_vs_steps': verdicts.Claim(
        lambda results: [flow_vs_steps(results.references['flow_vs_steps'])],
        section=verdicts.SOLVER, references=('flow_vs_steps',)),
    'convergence_vs_sparsity': verdicts.Claim(
        lambda results: convergence_vs_sparsity(results.rows, results.c.report.loss_threshold),
        columns=('steps_to_loss',), applies=lambda c: len(set(c.optimizer.lr_y)) > 1,
        applies_to='several η_Y at a fixed η_Z (two or more values of optimizer.lr_y)'),
    'adam_subsets': verdicts.Claim(_adam_subsets, applies=lambda c: c.optimizer.name == 'adam',
                          applies_to="Adam (optimizer.name='adam'), as Fig. 5"),
    'phase_diagram': verdicts.Claim(_phase_diagram, columns=('t0',), tables=('phase_diagram',),
                           applies=lambda c: (ray_index(c) is not None
                                              and c.optimizer.name == 'sgd'),
                           applies_to='SGD on a grid with rays: relative rates, or the same '
                                      'log-spaced rates on both axes'),
}

