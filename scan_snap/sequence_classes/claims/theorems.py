"""Theorems 2–4 and Lemma 2, measured: frequency bias, scanning, snapping, the long-sequence
limit."""

import math

import numpy as np
from scipy import optimize

from scan_snap.core import verdicts
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import train
from scan_snap.sequence_classes.claims import common


ETA_Z_MARGIN = 0.25  # |d ln t₀ / d ln η_Z| below this is "independent of η_Z"


# Theorem 2.

def logit_changes(logits: np.ndarray) -> np.ndarray:
  """[R, K, S] z(end) − z(0) on the supports, from logits [R, L+1, K, S]."""
  return logits[:, -1] - logits[:, 0]


def frequency_bias(changes: np.ndarray, is_distinct: np.ndarray, deterministic: bool,
                   where: str = '', claim: str = 'Thm 2: every {kind}-token logit {moves}',
                   token_names: list[str] | None = None) -> list[verdicts.Verdict]:
  """Theorem 2 from a zero start: every common token's logit falls, every distinct token's
  rises. changes: [R, K, S] per run (runs of one cell: its seeds).

  Deterministic dynamics: exact, in every run and for every token. Sampled training: per
  token (class × slot), a one-sided t-test over seeds of its mean change, all tokens required
  (verdicts.all_above); at finite T the rarest distinct tokens may fall, the deviation the
  finite-T experiment shows shrinking with T. `claim` words another quantity with the same
  prediction; `token_names` names the S slots when K = 1 (default: class and slot).
  """
  checks = []
  for kind, sign, slots in (('common', -1, ~is_distinct), ('distinct', 1, is_distinct)):
    part = sign * changes[:, :, slots]  # above 0 where the claim holds
    worded = claim.format(kind=kind, moves='falls' if sign < 0 else 'rises')
    if token_names is not None and changes.shape[1] != 1:
      raise ValueError('token_names name the S slots of changes [R, 1, S] only')
    names = ([token_names[i] for i in np.flatnonzero(slots)] if token_names is not None
             else [f'class {k}, {kind} token {i}' for k in range(part.shape[1])
                   for i in range(part.shape[2])])
    checks.append(common.every_token_above(worded, part.reshape(len(part), -1), names,
                                           deterministic, 'fall' if sign < 0 else 'rise', where))
  return checks


def frequency_bias_by_cell(results: results_lib.Results, changes_of,
                           claim: str = 'Thm 2: every {kind}-token logit {moves}'
                           ) -> list[verdicts.Verdict]:
  """frequency_bias, worded by `claim`, on each group (deterministic dynamics: all its runs at
  once) or each cell (sampled: its seeds), diverged runs left out; changes_of(group) ->
  (changes [R, K, S], is_distinct [S], token_names or None)."""
  checks = []
  for group in results.groups:
    changes, is_distinct, token_names = changes_of(group)

    def test(runs, num_diverged, where, exact):
      return [v.explained(common.left_out(num_diverged)) for v in frequency_bias(
          changes[runs], is_distinct, exact, where, claim, token_names)]

    checks += common.by_cell(group, test)
  return checks


def _frequency_bias(results: results_lib.Results) -> list[verdicts.Verdict]:
  return frequency_bias_by_cell(results, lambda group: (
      logit_changes(group.metrics['attn/logits']), group.run_config.data.is_distinct(), None))


# Theorem 3.

def scan_order(ctilde: np.ndarray, probs: np.ndarray, is_distinct: np.ndarray) -> float:
  """Spearman ρ between P(l|m,n) and the step at which c̃_l peaks (the last logged step if it
  never falls), over the distinct tokens l, averaged over classes; ctilde [L+1, K, S]. Theorem
  3: the rarer a distinct token, the earlier it loses attention, so ρ > 0. Classes whose
  tokens all peak at the same step (none has started to lose attention) are left out; NaN when
  every class is."""
  c, p = ctilde[:, :, is_distinct], probs[:, is_distinct]
  peak = np.argmax(c, axis=0)
  rho = [common.spearman(p[k], peak[k]) for k in range(p.shape[0]) if np.ptp(peak[k]) > 0]
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
    if common.deterministic(group):
      kept = ~m['diverged']
      ratio = group.lr_y / group.lr_z
      assumed = kept & common.decoder_faster(group.lr_y, group.lr_z)
      others = np.flatnonzero(kept & ~assumed)
      outside = ', '.join(f'(η_Y, η_Z) = ({float(group.lr_y[r]):g}, {float(group.lr_z[r]):g}): '
                          f'{rising[r]:.3f}' for r in others[np.argsort(ratio[others])])
      scanned = kept & np.isfinite(order)
      checks.append(verdicts.exact(
          order_claim, float(order[scanned].min()) if scanned.any() else math.nan,
          bool(scanned.any() and order[scanned].min() > 0),
          'exact: the smallest Spearman ρ(P, peak step) over runs is above 0',
          n=int(scanned.sum()), measured=f'{common.where(group)}; {int(scanned.sum())} of '
          f'{int(kept.sum())} runs have a distinct token past its peak'))
      checks.append(verdicts.exact(
          gain_claim, float(rising[assumed].min()) if assumed.any() else math.nan,
          bool(assumed.any() and rising[assumed].min() == 1.0),
          f'exact: every gain rises at every step, in every run with η_Y/η_Z ≥ '
          f'{common.DECODER_FASTER:g}', n=int(assumed.sum()),
          measured=f'{common.where(group)}; fraction of rising steps outside the assumption: '
                   f'{outside or "no such runs"}'))
      continue
    for lr_y, lr_z, runs, num_diverged in common.cells(group):
      where = common.where(group, runs)
      if not common.decoder_faster(lr_y, lr_z):
        where += f' (η_Y/η_Z = {lr_y / lr_z:.3g}: outside the theory\'s η_Y ≫ η_Z)'
      checks.append(verdicts.above(order_claim, order[runs], measured=where).explained(
          common.left_out(num_diverged)))
      checks.append(verdicts.above(gain_claim + ' (more rising steps than falling)',
                                   rising[runs] - 0.5, measured=where).explained(
                                       common.left_out(num_diverged)))
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
  used = (np.isfinite(t0) & common.decoder_faster(lr_y, lr_z)
          & (scale >= common.SNAPPING_MIN_STARTUPS * results_lib.STARTUP))
  ks = np.unique(num_classes[used])
  ratios = [(t0 / scale)[used & (num_classes == k)] for k in ks]
  spread = '; '.join(f'K={k}: t₀η_Y/(2K ln M) = {r.mean():.2f} ± {r.std():.2f} over {len(r)} runs'
                     for k, r in zip(ks, ratios))
  measured = (f'{int(used.sum())} of {len(t0)} runs read (η_Y/η_Z ≥ {common.DECODER_FASTER:g}, '
              f'2K ln M/η_Y ≥ {common.SNAPPING_MIN_STARTUPS * results_lib.STARTUP:g} steps, t₀ found: '
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
  deterministic = all(common.deterministic(g) for g in results.groups)
  return [v.explained(common.left_out(num_diverged)) for v in snapping(**arrays,
                                                                  deterministic=deterministic)]


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


CLAIMS = {
    'frequency_bias': verdicts.Claim(
        _frequency_bias,
        applies=lambda c: common.zero_start(c) and c.optimizer.name == 'sgd' and c.train.trajectories,
        applies_to="SGD from a zero start (model.init='zeros'), as the theorem assumes, with "
                   'train.trajectories'),
    'scanning': verdicts.Claim(_scanning, applies=lambda c: common.zero_start(c) and c.train.trajectories,
                               applies_to="a zero start (model.init='zeros'), with "
                                          'train.trajectories'),
    'snapping': verdicts.Claim(_snapping, columns=('t0',)),
    'long_sequence_limit': verdicts.Claim(
        lambda results: long_sequence_limit(results.long_sequence_limit),
        tables=('long_sequence_limit',), references=('population',),
        applies=lambda c: (common.zero_start(c) and c.train.dynamics == 'sampled'
                           and c.train.trajectories),
        applies_to='sampled runs from a zero start, compared with the population run, with '
                   'train.trajectories'),
}
