"""The paper's claims, measured on an experiment's results, each with a verdict.

CLAIMS is the registry that config.report.claims names; each entry checks its claim on a
results.Results and says what it needs: per-run columns, tables, reference runs (sweep).

  'frequency_bias'       Thm 2 on every run (logits of common tokens fall, distinct ones rise)
  'scanning'             Thm 3 on every run (needs a zero start)
  'snapping'             Thm 4: t₀ of every run's growth curve, and its trend in η_Y
  'decoder_reduction'    the decoder logit gap ξ(t) of docs/model.md against its closed form
  'learning_rates'       Sec. 6 on the summary table (η_Z sharpens, large η_Y/η_Z blurs)
  'long_sequence_limit'  Lemma 2: as T grows, the seed-mean c̃ trajectory of sampled training
                         approaches the population (T → ∞) trajectory

Every check gives a dict {'claim', 'measured', 'holds'}: the claim in words, the numbers behind
the verdict, and whether they support the claim; a check whose sample cannot decide adds
'inconclusive', the reason, and `verdict` turns that into pass, fail or inconclusive. A per-run
claim passes when it holds in at least 90% of the runs that did not diverge; on sampled
training it needs at least 10 runs, and with fewer it is inconclusive. The thresholds are
stated in each docstring and never tuned to make a check pass.
"""

import dataclasses
import math
from typing import Callable

import ml_collections
import numpy as np

from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train

_PASS_FRACTION = 0.9
# Below this many runs, a per-run claim on sampled training (noisy batches) is inconclusive:
# the pass fraction of fewer runs cannot tell a claim that holds from one hit by noise.
_MIN_SAMPLED_RUNS = 10


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


def _per_run(check, group: sweep.GroupResult) -> dict:
  """Runs a per-run check on every non-diverged run of a group and aggregates the verdicts."""
  spec = group.run_config.data
  kept = np.flatnonzero(~group.metrics['diverged'])
  results = [check(group.metrics, r, spec) for r in kept]
  passed = sum(r['holds'] for r in results)
  verdict = {'claim': results[0]['claim'] if results else check.__name__,
             'measured': f'num_last={spec.num_last}: holds in {passed} of {len(results)} runs; '
                         f"first run: {results[0]['measured'] if results else '-'}",
             'holds': bool(results) and passed >= _PASS_FRACTION * len(results)}
  if group.run_config.dynamics == 'sampled' and len(results) < _MIN_SAMPLED_RUNS:
    verdict['inconclusive'] = (f'{len(results)} runs of sampled training: at least '
                               f'{_MIN_SAMPLED_RUNS} are needed for a {_PASS_FRACTION:.0%} rule '
                               'to allow for sampling noise')
  return verdict


def _long_sequence_limit(rows: list[dict]) -> list[dict]:
  """Holds when, for every (num_last, η_Y, η_Z), the distance falls at each larger T."""
  lines: dict[tuple, list[dict]] = {}
  for row in rows:
    lines.setdefault((row['num_last'], row['lr_y'], row['lr_z']), []).append(row)
  checks = []
  for (num_last, lr_y, lr_z), line in lines.items():
    line.sort(key=lambda r: r['seq_len'])
    distances = np.array([r['distance'] for r in line])
    checks.append({
        'claim': 'Lemma 2: sampled training tends to the population dynamics as T grows',
        'measured': f'num_last={num_last}, η_Y={lr_y:g}, η_Z={lr_z:g}: distance by T '
                    + ', '.join(f"{r['seq_len']}: {r['distance']:.4f}" for r in line),
        'holds': bool(len(distances) > 1 and np.all(np.diff(distances) < 0)),
    })
  return checks


def _frequency_bias(m, r, spec):
  return check_frequency_discriminative_bias(m['attn/logits'][r, 0], m['attn/logits'][r, -1],
                                             spec.is_distinct())


def _scanning(m, r, spec):
  return check_scanning(m['attn/ctilde'][r], spec.probs(), spec.is_distinct())


def decoder_reduction(reference: sweep.GroupResult) -> dict:
  """Y alone by gradient flow on orthonormal classes (sweep.decoder_reduction_run) against the
  closed form: the gap ξ between the right next-token logit and each wrong one solves
  (M − 1)ξ + e^ξ − 1 = η_Y M t / K.

  By symmetry every class has the same gap, and its loss is ln(1 + (M − 1)e^{−ξ}), so ξ is
  read off the training loss: ξ = −ln(expm1(loss) / (M − 1)). Holds when the largest
  difference is below 10⁻³ of ξ at the end.
  """
  spec, steps = reference.run_config.data, reference.run_config.steps
  loss = np.asarray(reference.metrics['train/loss'][0], np.float64)
  measured = -np.log(np.expm1(loss) / (spec.vocab_size - 1))
  want = decoder_gap_closed_form(train.logged_steps(reference.run_config)[1:],
                                 float(reference.lr_y[0]), spec.vocab_size, spec.num_classes)
  error = np.abs(measured - want).max() / want[-1]
  return {'claim': 'Decoder reduction (a solver check): (M−1)ξ + e^ξ − 1 = η_Y M t / K',
          'measured': f'ξ({steps}) = {measured[-1]:.4f} vs closed form {want[-1]:.4f}; largest '
                      f'difference over 0 < t ≤ {steps}: {error:.1e} of ξ({steps})',
          'holds': bool(error < 1e-3)}


def _snapping(results: results_lib.Results) -> list[tuple[dict, int]]:
  checks = []
  for g, t0, n in zip(results.groups, results.t0, results.num_diverged):
    kept = ~g.metrics['diverged']
    check = check_snapping(g.lr_y[kept], g.lr_z[kept], t0[kept])
    check['measured'] = f'num_last={g.run_config.data.num_last}: ' + check['measured']
    checks.append((check, n))
  return checks


def _per_run_claim(check) -> Callable[[results_lib.Results], list[tuple[dict, int]]]:
  return lambda results: [(_per_run(check, g), n)
                          for g, n in zip(results.groups, results.num_diverged)]


def _zero_start(c: ml_collections.ConfigDict) -> bool:
  return c.model.init == 'zeros'


@dataclasses.dataclass(frozen=True)
class Claim:
  """How a claim is checked: `checks` gives each check on the results with the number of
  diverged runs it left out; `columns` (of results.COLUMNS) are added to results.csv, `tables`
  (of results.TABLES) written as <name>.csv, `references` (of sweep.REFERENCES) trained first;
  the claim applies to configs for which `applies` holds, as `applies_to` says."""

  checks: Callable[[results_lib.Results], list[tuple[dict, int]]]
  columns: tuple[str, ...] = ()
  tables: tuple[str, ...] = ()
  references: tuple[str, ...] = ()
  applies: Callable[[ml_collections.ConfigDict], bool] = lambda c: True
  applies_to: str = ''


CLAIMS = {
    'frequency_bias': Claim(_per_run_claim(_frequency_bias), applies=_zero_start,
                            applies_to="a zero start (model.init='zeros')"),
    'scanning': Claim(_per_run_claim(_scanning), applies=_zero_start,
                      applies_to="a zero start (model.init='zeros')"),
    'snapping': Claim(_snapping, columns=('t0',)),
    'decoder_reduction': Claim(
        lambda results: [(decoder_reduction(results.references['decoder_reduction']), 0)],
        references=('decoder_reduction',)),
    'learning_rates': Claim(lambda results: [
        (check, sum(row['num_diverged'] for row in results.summary))
        for check in check_learning_rates(results.summary)]),
    'long_sequence_limit': Claim(
        lambda results: [(check, sum(results.num_diverged))
                         for check in _long_sequence_limit(results.long_sequence_limit)],
        tables=('long_sequence_limit',), references=('population',),
        applies=lambda c: _zero_start(c) and c.train.dynamics == 'sampled',
        applies_to='sampled runs from a zero start, compared with the population run'),
}


def evaluate(names: tuple[str, ...], results: results_lib.Results) -> list[dict]:
  """The checks of the claims `names`, in that order, each with its 'verdict' (pass, fail or
  inconclusive, see verdict) and the number of diverged runs it left out ('num_diverged', also
  said in 'measured')."""
  checks = [pair for name in names for pair in CLAIMS[name].checks(results)]
  return [{**check, 'measured': check['measured'] + (
              f'; {n} diverged runs left out' if n else ''),
           'num_diverged': n, 'verdict': verdict(check)} for check, n in checks]


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
