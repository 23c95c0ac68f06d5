"""The paper's claims (docs/model.md) as measurements on trajectories, each with a verdict.

Every check returns a dict {'claim', 'measured', 'holds'}: the claim in words, the numbers
behind the verdict (a string), and whether the measurement supports the claim; a check whose
sample cannot decide the claim (too few seeds or steps) adds 'inconclusive', the reason.
`verdict` turns that into pass, fail or inconclusive. The thresholds are stated in each
docstring and never tuned to make a check pass.
"""

import math

import numpy as np


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


def transition_time(t: np.ndarray, growth: np.ndarray, drop: float = 0.5) -> float:
  """The snapping time t₀ of a growth curve, or NaN when there is none.

  Polynomial growth c·t^p has a constant log-log slope p; growth that has turned logarithmic
  (a·ln t, or the (ln t)² of Theorem 4) has a slope that decays like 1/ln t. t₀ is the first
  time at which the slope falls below `drop` × the largest slope seen before it (10 slopes per
  decade of t). A pure power law never does, and gives NaN. A transition before the second
  logged point cannot be resolved: the detector then reports the next bend it sees.
  """
  mid, slopes = local_slopes(t, growth)
  if len(slopes) < 2:
    return math.nan
  below = np.flatnonzero(slopes < drop * np.maximum.accumulate(slopes))
  return float(mid[below[0]]) if len(below) else math.nan


def decoder_gap_closed_form(t: np.ndarray, lr_y: float, vocab_size: int,
                            num_classes: int) -> np.ndarray:
  """ξ(t) solving (M − 1)ξ + e^ξ − 1 = η_Y M t / K (docs/model.md), by Newton's method."""
  rhs = lr_y * vocab_size * np.asarray(t, float) / num_classes
  xi = np.log1p(rhs)  # Below the root: the left side is convex and increasing.
  for _ in range(100):
    xi = xi - ((vocab_size - 1) * xi + np.expm1(xi) - rhs) / (vocab_size - 1 + np.exp(xi))
  return xi


def check_frequency_discriminative_bias(logits_start: np.ndarray, logits_end: np.ndarray,
                                        is_distinct: np.ndarray) -> dict:
  """Theorem 2 on one run: every common token's logit ends below its start, and the distinct
  tokens' mean logit ends above its start, for every class. logits: [K, S] on the supports."""
  change = logits_end - logits_start
  common_max = float(change[:, ~is_distinct].max()) if (~is_distinct).any() else -math.inf
  distinct_mean = change[:, is_distinct].mean(axis=1)
  return {
      'claim': 'Thm 2: common-token logits fall, distinct-token logits rise',
      'measured': f'largest common-logit change {common_max:.3g}; mean distinct-logit change '
                  f'per class {np.array2string(distinct_mean, precision=3)}',
      'holds': bool(common_max < 0 and np.all(distinct_mean > 0)),
  }


def check_scanning(ctilde: np.ndarray, probs: np.ndarray, is_distinct: np.ndarray) -> dict:
  """Theorem 3 on one run from a zero start, ctilde [L+1, K, S]: distinct tokens lose
  attention in increasing order of P(l|m,n), and the relative gain grows.

  Measured per class: the step at which each distinct token's c̃ peaks (the last logged step
  if it never falls); holds when those steps increase with P (Spearman ρ > 0.5 in every
  class) and every relative gain (c̃_l*/c̃_l)² − 1 of the most frequent distinct token l* over
  another distinct token l ends above where it started.
  """
  c = ctilde[:, :, is_distinct]
  p = probs[:, is_distinct]
  peak_step = np.argmax(c, axis=0)  # [K, U]
  rho = np.array([_spearman(p[k], peak_step[k]) for k in range(p.shape[0])])
  top = np.argmax(p, axis=1)
  gain = (c[:, np.arange(p.shape[0]), top][..., None] / c)**2 - 1  # [L+1, K, U]
  others = np.ones_like(p, bool)
  others[np.arange(p.shape[0]), top] = False
  gain_grew = np.all((gain[-1] > gain[0])[others])
  return {
      'claim': 'Thm 3 (scanning): distinct tokens lose attention from the least to the most '
               'frequent; relative gains grow',
      'measured': f'Spearman ρ(P, peak step) per class {np.array2string(rho, precision=2)}; '
                  f'relative gains grew: {bool(gain_grew)}',
      'holds': bool(np.all(rho > 0.5) and gain_grew),
  }


def check_snapping(lr_y: np.ndarray, lr_z: np.ndarray, t0: np.ndarray) -> dict:
  """Theorem 4: a transition t₀ exists, and at fixed η_Z it comes earlier for larger η_Y.

  Holds when t₀ was found for at least half of the runs and, for every η_Z with t₀ at two or
  more η_Y, the least-squares slope of ln t₀ against ln η_Y is negative (theory: about −1).
  Inconclusive when t₀ was found in fewer than half of the runs: too short a run shows no
  transition.
  """
  found = np.isfinite(t0)
  slopes = {}
  for z in np.unique(lr_z):
    sel = (lr_z == z) & found
    if sel.sum() >= 2:
      slopes[float(z)] = float(np.polyfit(np.log(lr_y[sel]), np.log(t0[sel]), 1)[0])
  text = ', '.join(f'η_Z={z:g}: {s:.2f}' for z, s in slopes.items()) or 'none'
  check = {
      'claim': 'Thm 4 (snapping): a phase transition at t₀, earlier for larger η_Y',
      'measured': f't₀ found in {found.sum()} of {len(t0)} runs; slope of ln t₀ vs ln η_Y: '
                  f'{text}',
      'holds': bool(found.mean() >= 0.5 and slopes and all(s < 0 for s in slopes.values())),
  }
  if found.mean() < 0.5:
    check['inconclusive'] = (f't₀ found in only {found.sum()} of {len(t0)} runs: the runs are '
                             'too short to show the transition')
  return check


def _decided(a: dict, b: dict) -> bool:
  """Whether two summary cells' mean entropies differ by more than twice the standard error
  of their difference, √(s_a²/n_a + s_b²/n_b) over seeds."""
  se = math.sqrt(a['entropy_std'] ** 2 / a['num_runs'] + b['entropy_std'] ** 2 / b['num_runs'])
  return bool(abs(a['entropy_mean'] - b['entropy_mean']) > 2 * se)  # False when se is NaN.


def check_learning_rates(summary: list[dict], min_seeds: int = 3) -> list[dict]:
  """Sec. 6 on a Syn-Medium summary: larger η_Z → lower final entropy (at fixed η_Y/η_Z), and
  at fixed η_Z, η_Y beyond η_Z raises it again.

  The first holds when the mean entropy falls from the smallest to the largest η_Z on at
  least 75% of the (num_last, η_Y/η_Z) lines; the second when it is higher at the largest
  η_Y/η_Z than at the ratio of its minimum on at least 75% of the (num_last, η_Z) lines.
  Each is inconclusive when the cells have fewer than `min_seeds` seeds, or when on more than
  half of its lines the two cells compared differ by less than 2 standard errors.
  """
  rows = [r for r in summary if np.isfinite(r['entropy_mean'])]
  by_ratio, by_lr_z = {}, {}
  for r in rows:
    by_ratio.setdefault((r['num_last'], r['lr_y_over_lr_z']), []).append(r)
    by_lr_z.setdefault((r['num_last'], r['lr_z']), []).append(r)
  falls, falls_decided = [], []
  for line in by_ratio.values():
    if len(line) > 1:
      first, last = min(line, key=lambda r: r['lr_z']), max(line, key=lambda r: r['lr_z'])
      falls.append(first['entropy_mean'] > last['entropy_mean'])
      falls_decided.append(_decided(first, last))
  rises, rises_decided = [], []
  for line in by_lr_z.values():
    if len(line) < 2:
      continue
    line = sorted(line, key=lambda r: r['lr_y_over_lr_z'])
    lowest = int(np.argmin([r['entropy_mean'] for r in line]))
    rises.append(lowest < len(line) - 1 and line[-1]['entropy_mean'] > line[lowest]['entropy_mean'])
    # Decided when the largest ratio's cell and the lowest of the others differ by 2 SE.
    others = line[lowest] if lowest < len(line) - 1 else min(
        line[:-1], key=lambda r: r['entropy_mean'])
    rises_decided.append(_decided(line[-1], others))
  checks = [{
      'claim': 'Sec. 6: larger η_Z gives sparser final attention (lower entropy)',
      'measured': f'entropy falls from smallest to largest η_Z on {sum(falls)} of {len(falls)} '
                  f'lines (num_last, η_Y/η_Z); {sum(falls_decided)} differences exceed 2 SE',
      'holds': bool(falls and np.mean(falls) >= 0.75),
  }, {
      'claim': 'Sec. 6: at fixed η_Z, η_Y beyond about η_Z makes attention denser again',
      'measured': f'entropy at the largest η_Y/η_Z is above its minimum over η_Y/η_Z on '
                  f'{sum(rises)} of {len(rises)} lines (num_last, η_Z); {sum(rises_decided)} '
                  'differences exceed 2 SE',
      'holds': bool(rises and np.mean(rises) >= 0.75),
  }]
  seeds = min((r['num_runs'] for r in rows), default=0)
  for check, decided in zip(checks, (falls_decided, rises_decided)):
    if seeds < min_seeds:
      check['inconclusive'] = (f'{seeds} seeds per cell: at least {min_seeds} are needed to '
                               'weigh a difference against the seed noise')
    elif sum(decided) <= len(decided) / 2:
      check['inconclusive'] = (f'only {sum(decided)} of {len(decided)} lines differ by more '
                               'than 2 standard errors: more seeds or steps are needed')
  return checks


def verdict(check: dict) -> str:
  """'inconclusive' when the check says its sample cannot decide, else 'pass' or 'fail'."""
  if 'inconclusive' in check:
    return 'inconclusive'
  return 'pass' if check['holds'] else 'fail'


def report_markdown(title: str, checks: list[dict]) -> str:
  """A report.md: one row per claim with its numbers and its verdict (pass, FAIL, or
  inconclusive and why)."""
  lines = [f'# {title}', '', '| claim | measured | verdict |', '|---|---|---|']
  for c in checks:
    word = {'pass': 'pass', 'fail': 'FAIL', 'inconclusive': 'inconclusive'}[c['verdict']]
    reason = f": {c['inconclusive']}" if 'inconclusive' in c else ''
    lines.append(f"| {c['claim']} | {c['measured']} | {word}{reason} |")
  return '\n'.join(lines) + '\n'
