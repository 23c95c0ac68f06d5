"""Verdicts that are measurements: an effect, its uncertainty, the test that decides, its level.

A Verdict is `pass` when the test finds the claimed effect at level α, `fail` when it finds the
opposite (or, for a predicted value, excludes it), and `inconclusive` otherwise. Under data with
no effect a claim therefore passes with probability at most α. The tests:

  above(x)                 one-sided one-sample t-test that the mean of independent samples
                           (one per seed) is above 0; fail when it is below 0 at the same level
                           (its interval is the two-sided (1 − 2α) one: pass when it lies above
                           0, fail when below)
  below(x)                 the same test that the mean is below 0, reported in x's own sign
  all_above(x)             every column's mean above 0 (intersection-union of above)
  coefficient(X, y, j)     least-squares coefficient j with its two-sided (1 − α) t-interval:
                           pass when the interval contains the predicted value and excludes
                           the value of no effect, fail when it excludes the prediction (or,
                           for a direction, pass when it lies on the claimed side of 0)
  negligible(X, y, j, m)   equivalence by two one-sided tests: pass when the (1 − 2α) interval
                           of coefficient j lies within ±m, fail when it lies outside
  majority(wins, n)        one-sided sign test that more than half of n units show the effect
  permutation(x)           paired groups [units, groups, …] differ: the mean distance between
                           groups' means over units against its distribution with the group
                           labels permuted within each unit; pass when p < α
  exact(...)               a deterministic computation (population dynamics, a solver): no
                           sampling noise, the effect against a stated tolerance
"""

import dataclasses
import math
from typing import Any, Callable

import numpy as np
from scipy import stats

ALPHA = 0.01
PASS, FAIL, INCONCLUSIVE = 'pass', 'fail', 'inconclusive'
PAPER, SOLVER = 'Claims of the paper', 'Solver checks'  # the sections of report.md


@dataclasses.dataclass(frozen=True)
class Verdict:
  """One claim decided: `effect` ± `se` over `n` units, its (1 − α) `interval`, the `test`
  and its `p` value (NaN for exact checks), and `measured`, the numbers behind it in words;
  `name`, the claim's name in config.report.claims (set by the pipeline), and `layer`, the
  layer a claim of one layer is about (None otherwise)."""

  claim: str
  verdict: str
  effect: float
  se: float
  interval: tuple[float, float]
  n: int
  test: str
  alpha: float
  p: float
  measured: str = ''
  name: str = ''
  layer: int | None = None

  def to_dict(self) -> dict:
    """The fields, NaN written as None (JSON's null)."""
    clean = lambda x: None if isinstance(x, float) and math.isnan(x) else x
    return {**{k: clean(v) for k, v in dataclasses.asdict(self).items()},
            'interval': [clean(x) for x in self.interval]}

  def explained(self, measured: str) -> 'Verdict':
    """The same verdict with `measured` appended to its numbers."""
    text = '; '.join(t for t in (self.measured, measured) if t)
    return dataclasses.replace(self, measured=text)


def above(claim: str, samples, alpha: float = ALPHA, unit: str = 'seed',
          measured: str = '') -> Verdict:
  """H₁: the mean of independent `samples` (one per `unit`) is above 0. One-sided t-test with
  n − 1 degrees of freedom; pass when p < α, fail when the mean is below 0 at level α.
  Inconclusive with fewer than 2 samples."""
  return _one_sided(claim, samples, 1, alpha, unit, measured)


def below(claim: str, samples, alpha: float = ALPHA, unit: str = 'seed',
          measured: str = '') -> Verdict:
  """H₁: the mean of `samples` is below 0: `above` of −samples, with the effect, interval and
  null hypothesis written in the samples' own sign."""
  return _one_sided(claim, samples, -1, alpha, unit, measured)


def _one_sided(claim: str, samples, sign: int, alpha: float, unit: str,
               measured: str) -> Verdict:
  """The one-sided t-test that the mean of `samples` has the sign `sign` (±1)."""
  x = sign * np.asarray(samples, float)  # Above 0 where the claim holds.
  x = x[np.isfinite(x)]
  n = len(x)
  test = f"one-sided t-test over {unit}s (H₀: mean {'≤' if sign > 0 else '≥'} 0)"
  if n < 2:
    return Verdict(claim, INCONCLUSIVE, sign * float(x.mean()) if n else math.nan, math.nan,
                   (math.nan, math.nan), n, test, alpha, math.nan,
                   _join(measured, f'{n} {unit}(s): at least 2 are needed'))
  mean, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(n))
  if se == 0:  # Identical samples: the sign decides, with no noise to weigh it against.
    p = 0.0 if mean > 0 else 1.0
    lower = 0.0 if mean < 0 else 1.0
    interval = (mean, mean)
  else:
    t = mean / se
    p, lower = float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1))
    half = float(stats.t.ppf(1 - alpha, n - 1)) * se  # (1 − 2α): its ends are the two tests.
    interval = (mean - half, mean + half)
  verdict = PASS if p < alpha else FAIL if lower < alpha else INCONCLUSIVE
  if sign < 0:
    mean, interval = -mean, (-interval[1], -interval[0])
  return Verdict(claim, verdict, mean, se, interval, n, test, alpha, p, measured)


def least_squares(design, y):
  """Coefficients of y ≈ design @ b, their standard errors and the residual degrees of
  freedom (n − columns)."""
  design, y = np.asarray(design, float), np.asarray(y, float)
  b, *_ = np.linalg.lstsq(design, y, rcond=None)
  dof = len(y) - design.shape[1]
  if dof < 1:
    return b, np.full(len(b), math.nan), dof
  sigma2 = float(((y - design @ b) ** 2).sum()) / dof
  cov = sigma2 * np.linalg.pinv(design.T @ design)
  return b, np.sqrt(np.clip(np.diag(cov), 0, None)), dof


def coefficient(claim: str, design, y, j: int, predicted: float | None = None,
                null: float = 0.0, sign: int = 0, alpha: float = ALPHA,
                measured: str = '') -> Verdict:
  """Coefficient j of the least-squares fit y ≈ design @ b, with its two-sided (1 − α)
  t-interval. Against a `predicted` value: pass when the interval contains it and excludes
  `null` (no effect), fail when it excludes the prediction. For a direction (`sign` ±1, no
  prediction): pass when the interval lies on that side of `null`, fail when on the other.
  Inconclusive otherwise (too wide to tell)."""
  b, se, dof = least_squares(design, y)
  rule = (f'contains {predicted:g} and excludes {null:g}' if predicted is not None
          else f"lies {'below' if sign < 0 else 'above'} {null:g}")
  test = f'(1 − α) t-interval of a least-squares coefficient, {dof} dof (pass: {rule})'
  if dof < 1 or not np.isfinite(se[j]):
    return _without_interval(claim, float(b[j]), len(y), test, alpha, measured)
  half = float(stats.t.ppf(1 - alpha / 2, dof)) * se[j]
  lo, hi = float(b[j] - half), float(b[j] + half)
  p = _two_sided_p(b[j] - null, se[j], dof)
  if predicted is not None:
    verdict = (FAIL if not lo <= predicted <= hi
               else PASS if not lo <= null <= hi else INCONCLUSIVE)
  else:
    low_side, high_side = hi < null, lo > null
    verdict = (PASS if (low_side if sign < 0 else high_side)
               else FAIL if (high_side if sign < 0 else low_side) else INCONCLUSIVE)
  return Verdict(claim, verdict, float(b[j]), float(se[j]), (lo, hi), len(y), test, alpha, p,
                 measured)


def all_above(claim: str, samples, names, alpha: float = ALPHA, unit: str = 'seed',
              measured: str = '', columns: str = 'tokens') -> Verdict:
  """H₁: every column of `samples` [units, m] has a mean above 0 (an intersection-union test:
  each column's one-sided t-test at level α, no correction needed; the columns are `names`,
  in words `columns`). Pass when every column passes; fail when some column is below 0 at
  level α/m; the effect, interval and p are those of the least supported column, named in
  `measured`."""
  samples = np.asarray(samples, float)
  each = [above(claim, samples[:, i], alpha, unit) for i in range(samples.shape[1])]
  worst = int(np.argmax([v.p if np.isfinite(v.p) else 1.0 for v in each]))
  # The one-sided p that a column's mean is below 0 (NaN, too few samples: no evidence).
  lowest = min(np.nan_to_num(above(claim, -samples[:, i], alpha, unit).p, nan=1.0)
               for i in range(samples.shape[1]))
  verdict = (PASS if all(v.verdict == PASS for v in each)
             else FAIL if lowest < alpha / len(each) else INCONCLUSIVE)
  test = (f'one-sided t-tests over {unit}s for each of {len(each)} {columns} (H₀: some mean ≤ 0; '
          'pass when all pass)')
  v = each[worst]
  return Verdict(claim, verdict, v.effect, v.se, v.interval, v.n, test, alpha, v.p,
                 _join(measured, f'least supported: {names[worst]}'))


def negligible(claim: str, design, y, j: int, margin: float, alpha: float = ALPHA,
               measured: str = '') -> Verdict:
  """Coefficient j of the least-squares fit is negligible, |b_j| < margin, by two one-sided
  t-tests: pass when the (1 − 2α) interval lies inside (−margin, margin), fail when it lies
  wholly outside, inconclusive otherwise."""
  b, se, dof = least_squares(design, y)
  test = f'equivalence (two one-sided t-tests, {dof} dof), margin ±{margin:g}'
  if dof < 1 or not np.isfinite(se[j]):
    return _without_interval(claim, float(b[j]), len(y), test, alpha, measured)
  half = float(stats.t.ppf(1 - alpha, dof)) * se[j]
  lo, hi = float(b[j] - half), float(b[j] + half)
  if se[j] == 0:
    p = 0.0 if abs(b[j]) < margin else 1.0
  else:
    p = max(float(stats.t.sf((b[j] + margin) / se[j], dof)),
            float(stats.t.cdf((b[j] - margin) / se[j], dof)))
  verdict = (PASS if -margin < lo and hi < margin
             else FAIL if hi <= -margin or lo >= margin else INCONCLUSIVE)
  return Verdict(claim, verdict, float(b[j]), float(se[j]), (lo, hi), len(y), test, alpha, p,
                 measured)


def majority(claim: str, wins: int, n: int, alpha: float = ALPHA, unit: str = 'run',
             measured: str = '') -> Verdict:
  """More than half of n independent units show the effect: one-sided sign (binomial) test;
  fail when fewer than half show it at level α. The effect is the fraction that shows it."""
  test = f'one-sided sign test over {unit}s (H₀: fraction ≤ 1/2)'
  if n == 0:
    return Verdict(claim, INCONCLUSIVE, math.nan, math.nan, (math.nan, math.nan), 0, test,
                   alpha, math.nan, _join(measured, f'no {unit}s'))
  p = float(stats.binomtest(wins, n, 0.5, alternative='greater').pvalue)
  lower = float(stats.binomtest(wins, n, 0.5, alternative='less').pvalue)
  ci = stats.binomtest(wins, n).proportion_ci(confidence_level=1 - alpha)
  fraction = wins / n
  verdict = PASS if p < alpha else FAIL if lower < alpha else INCONCLUSIVE
  return Verdict(claim, verdict, fraction, math.sqrt(fraction * (1 - fraction) / n),
                 (float(ci.low), float(ci.high)), n, test, alpha, p, measured)


def group_distance(samples) -> np.ndarray:
  """The mean over pairs of groups of the mean absolute difference between their means over
  units; samples [..., units, groups, features] → [...]."""
  means = np.asarray(samples, float).mean(axis=-3)
  i, j = np.triu_indices(means.shape[-2], 1)
  return np.abs(means[..., i, :] - means[..., j, :]).mean(axis=(-2, -1))


def permutation(claim: str, samples, permutations: int = 1000, key: int = 0,
                alpha: float = ALPHA, unit: str = 'seed', measured: str = '') -> Verdict:
  """H₁: paired groups differ. samples [units, groups, …]: each unit (a seed) measured in every
  group (a learning rate). Statistic: group_distance over the trailing axes flattened; null:
  the group labels permuted within each unit, `permutations` draws from a generator seeded
  with `key`; p = (1 + #{null ≥ observed}) / (1 + permutations). Pass when p < α, inconclusive
  otherwise (a permutation test never shows that groups agree). The effect is the observed
  statistic, its se the null's standard deviation; no interval."""
  x = np.asarray(samples, float)
  units, groups = x.shape[:2]
  x = x.reshape(units, groups, -1)
  test = (f'permutation test, group labels permuted within {unit}s ({permutations} draws; '
          'H₀: groups exchangeable)')
  if units < 2 or groups < 2:
    return Verdict(claim, INCONCLUSIVE, math.nan, math.nan, (math.nan, math.nan), units, test,
                   alpha, math.nan, _join(measured, f'{units} {unit}(s) × {groups} group(s): '
                                          'at least 2 × 2 are needed'))
  observed = float(group_distance(x))
  order = np.random.default_rng(key).random((permutations, units, groups)).argsort(axis=-1)
  null = group_distance(np.take_along_axis(x[None], order[..., None], axis=2))
  # A permutation that reorders only equal values may round differently: count it as a tie.
  p = float((1 + np.sum(null >= observed * (1 - 1e-9))) / (1 + permutations))
  return Verdict(claim, PASS if p < alpha else INCONCLUSIVE, observed, float(null.std()),
                 (math.nan, math.nan), units, test, alpha, p,
                 _join(measured, f'null mean {null.mean():.3g}, 99th percentile '
                                 f'{np.quantile(null, 0.99):.3g}'))


def exact(claim: str, effect: float, holds: bool, test: str, n: int = 1,
          measured: str = '') -> Verdict:
  """A deterministic computation (no sampling noise) on n units: `holds` decides pass or fail;
  `test` states the rule and its tolerance. With no unit to compute it on (n = 0: say, runs too
  short to reach what the claim is about) it is inconclusive."""
  if n == 0:
    return Verdict(claim, INCONCLUSIVE, math.nan, math.nan, (math.nan, math.nan), 0, test, 0.0,
                   math.nan, _join(measured, 'no unit to test it on'))
  return Verdict(claim, PASS if holds else FAIL, float(effect), 0.0, (float(effect),) * 2, n,
                 test, 0.0, math.nan, measured)


def _without_interval(claim: str, estimate: float, n: int, test: str, alpha: float,
                      measured: str) -> Verdict:
  """Inconclusive: a fit with no residual degrees of freedom has no interval."""
  return Verdict(claim, INCONCLUSIVE, estimate, math.nan, (math.nan, math.nan), n, test, alpha,
                 math.nan, _join(measured, 'too few points for an interval'))


def _two_sided_p(estimate: float, se: float, dof: int) -> float:
  if se == 0:
    return 0.0 if estimate != 0 else 1.0
  return float(2 * stats.t.sf(abs(estimate) / se, dof))


def _join(*texts: str) -> str:
  return '; '.join(t for t in texts if t)


@dataclasses.dataclass(frozen=True)
class Claim:
  """An entry of an experiment's claim registry: `checks(results)` gives its verdicts, in
  report.md's `section`; `columns` (per-run measurements of the results) are added to
  results.csv, `tables` written as <name>.csv, `references` (reference runs) trained with the
  grid; the claim applies to the configs for which `applies(c)` holds, as `applies_to` says."""

  checks: Callable[[Any], list[Verdict]]
  section: str = PAPER
  columns: tuple[str, ...] = ()
  tables: tuple[str, ...] = ()
  references: tuple[str, ...] = ()
  applies: Callable[[Any], bool] = lambda c: True
  applies_to: str = ''


def report_markdown(title: str, sections: dict[str, list[Verdict]]) -> str:
  """report.md: per section, one row per verdict with its effect ± standard error, its
  (1 − α) interval, the number of units, the test and α, p, the verdict, and the numbers."""
  lines = [f'# {title}', '']
  for section, verdicts in sections.items():
    if not verdicts:
      continue
    lines += [f'## {section}', '',
              '| claim | effect ± se | interval | n | test | α | p | verdict | measured |',
              '|---|---|---|---|---|---|---|---|---|']
    for v in verdicts:
      lines.append(f'| {v.claim} | {_number(v.effect)} ± {_number(v.se)} | '
                   f'[{_number(v.interval[0])}, {_number(v.interval[1])}] | {v.n} | {v.test} | '
                   f'{v.alpha:g} | {_number(v.p)} | {v.verdict} | {v.measured} |')
    lines.append('')
  return '\n'.join(lines)


def to_json(sections: dict[str, list[Verdict]]) -> dict[str, list[dict]]:
  """claims.json: the same verdicts as report.md, machine-readable."""
  return {section: [v.to_dict() for v in verdicts] for section, verdicts in sections.items()}


def _number(x: float) -> str:
  return '–' if x is None or not np.isfinite(x) else f'{x:.3g}'
