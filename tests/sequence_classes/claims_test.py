"""The claim checks, the t₀ detector and the decoder closed form, each against planted cases."""

import dataclasses
import math

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from scan_snap.sequence_classes import claims
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import results
from scan_snap.sequence_classes import sweep
from tests.testing import load_config

T = np.arange(0, 10_001, dtype=float)


class TransitionTimeTest(parameterized.TestCase):

  @parameterized.parameters(0.5, 1.0, 2.0, 3.0)
  def test_pure_power_law_has_no_transition(self, power):
    self.assertTrue(math.isnan(results.transition_time(T, 1e-3 * T**power)))

  @parameterized.parameters(30.0, 300.0, 2000.0)
  def test_finds_a_planted_transition(self, planted):
    # t² growth until `planted`, then (ln t)² growth, joined with matching value and slope.
    early = (T / planted)**2
    late = 1 + np.log(np.maximum(T, 1) / planted) + np.log(np.maximum(T, 1) / planted)**2 / 4
    growth = np.where(T < planted, early, late)
    t0 = results.transition_time(T, growth)
    self.assertBetween(t0, planted, 4 * planted)  # The slope halves within a few multiples.

  def test_later_planted_transition_gives_later_t0(self):
    t0s = [results.transition_time(T, np.where(T < p, T**2, p**2 * (1 + 2 * np.log(
        np.maximum(T, 1) / p)))) for p in (20.0, 200.0)]
    self.assertGreater(t0s[1] / t0s[0], 5)


class DecoderGapTest(absltest.TestCase):

  def test_closed_form_solves_its_equation(self):
    t = np.array([0.0, 0.1, 1.0, 10.0, 1e3])
    xi = claims.decoder_gap_closed_form(t, lr_y=0.7, vocab_size=50, num_classes=4)
    np.testing.assert_allclose(49 * xi + np.expm1(xi), 0.7 * 50 * t / 4, rtol=1e-10, atol=1e-12)

  def test_training_follows_the_closed_form(self):
    run_config = sweep.decoder_reduction_run([], steps=50)
    self.assertTrue(claims.decoder_reduction(run_config)['holds'])


SPEC = data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=2,
                            num_common_per_last=0, num_unique_per_next=4)


class ClaimChecksTest(absltest.TestCase):

  def test_frequency_bias_passes_and_fails(self):
    start = np.zeros((2, 6))
    good = np.array([[-0.2, -0.1, 0.0, 0.1, 0.3, 0.5]] * 2)
    self.assertTrue(claims.check_frequency_discriminative_bias(start, good, SPEC.is_distinct())[
        'holds'])
    bad = good.copy()
    bad[1, 0] = 0.05  # One common token gained.
    self.assertFalse(claims.check_frequency_discriminative_bias(start, bad, SPEC.is_distinct())[
        'holds'])

  def _scan(self, order):
    """c̃ trajectories whose distinct tokens peak at the steps `order` (then fall)."""
    probs = SPEC.probs()
    steps = np.arange(50)[:, None, None]
    peak = np.zeros((2, 6))
    peak[:, 2:] = order
    bump = np.where(steps <= peak, steps, 2 * peak - steps) * 0.01
    weights = probs * np.exp(np.where(SPEC.is_distinct(), bump, -0.01 * steps))
    return weights / weights.sum(-1, keepdims=True), probs

  def test_scanning_passes_in_frequency_order(self):
    ctilde, probs = self._scan([5, 15, 30, 49])
    self.assertTrue(claims.check_scanning(ctilde, probs, SPEC.is_distinct())['holds'])

  def test_scanning_fails_in_reverse_order(self):
    ctilde, probs = self._scan([49, 30, 15, 5])
    self.assertFalse(claims.check_scanning(ctilde, probs, SPEC.is_distinct())['holds'])

  def test_snapping_trend(self):
    lr_y = np.array([0.1, 0.3, 1.0, 0.1, 0.3, 1.0])
    lr_z = np.array([0.1, 0.1, 0.1, 0.3, 0.3, 0.3])
    self.assertTrue(claims.check_snapping(lr_y, lr_z, 10 / lr_y)['holds'])
    self.assertFalse(claims.check_snapping(lr_y, lr_z, 10 * lr_y)['holds'])  # Later, not earlier.
    no_transition = claims.check_snapping(lr_y, lr_z, np.full(6, np.nan))
    self.assertFalse(no_transition['holds'])
    self.assertEqual(claims.verdict(no_transition), 'inconclusive')  # Too short to show one.

  def test_learning_rates(self):
    def cell(num_last, lr_z, ratio, entropy, std=0.01, seeds=10):
      return {'num_last': num_last, 'lr_z': lr_z, 'lr_y_over_lr_z': ratio,
              'entropy_mean': entropy, 'entropy_std': std, 'num_runs': seeds}
    # The paper's picture: lower with η_Z, a minimum at ratio 2, higher at ratio 10.
    paper = [cell(1, z, r, 2.0 - 0.1 * z + 0.05 * abs(np.log(r / 2)))
             for z in (0.5, 1, 2) for r in (1, 2, 5, 10)]
    checks = claims.check_learning_rates(paper)
    self.assertEqual([claims.verdict(c) for c in checks], ['pass', 'pass'])
    flipped = [dict(c, entropy_mean=4 - c['entropy_mean']) for c in paper]
    checks = claims.check_learning_rates(flipped)
    self.assertEqual([claims.verdict(c) for c in checks], ['fail', 'fail'])

  def test_learning_rates_inconclusive_on_a_sample_that_cannot_decide(self):
    picture = lambda z, r: 2.0 - 0.1 * z + 0.05 * abs(np.log(r / 2))
    cells = lambda std, seeds: [
        {'num_last': 1, 'lr_z': z, 'lr_y_over_lr_z': r, 'entropy_mean': picture(z, r),
         'entropy_std': std, 'num_runs': seeds} for z in (0.5, 1, 2) for r in (1, 2, 5, 10)]
    for std, seeds, reason in ((0.01, 2, '2 seeds per cell'),
                               (1.0, 10, 'differ by more than 2 standard errors')):
      for check in claims.check_learning_rates(cells(std, seeds)):
        self.assertEqual(claims.verdict(check), 'inconclusive')
        self.assertIn(reason, check['inconclusive'])

  def test_report_lists_every_verdict(self):
    text = claims.report_markdown('t', [
        {'claim': 'a', 'measured': '1', 'holds': True, 'verdict': 'pass'},
        {'claim': 'b', 'measured': '2', 'holds': False, 'verdict': 'fail'},
        {'claim': 'c', 'measured': '3', 'holds': False, 'verdict': 'inconclusive',
         'inconclusive': 'too few seeds'}])
    self.assertIn('| a | 1 | pass |', text)
    self.assertIn('| b | 2 | FAIL |', text)
    self.assertIn('| c | 3 | inconclusive: too few seeds |', text)


class PerRunVerdictTest(parameterized.TestCase):
  """A per-run claim passes on ≥ 90% of the runs; on sampled training, fewer than 10 runs
  cannot decide it."""

  def _group(self, num_runs, dynamics, num_diverged=0):
    run_config = dataclasses.replace(config.run_config(load_config('syn_small'), 2),
                                     dynamics=dynamics)
    diverged = np.arange(num_runs) < num_diverged
    return sweep.GroupResult(run_config=run_config, seed=np.arange(num_runs),
                             lr_y=np.ones(num_runs), lr_z=np.ones(num_runs),
                             metrics={'diverged': diverged}, seconds={})

  @parameterized.parameters(
      (10, 'sampled', 10, 0, 'pass'),
      (10, 'sampled', 8, 0, 'fail'),  # 8 of 10 hold: below 90%.
      (9, 'sampled', 9, 0, 'inconclusive'),  # Every run holds, but 9 is too few.
      (12, 'sampled', 10, 3, 'inconclusive'),  # 9 runs left once 3 diverged.
      (3, 'population', 3, 0, 'pass'),  # Deterministic: no sampling noise to allow for.
  )
  def test_verdict(self, num_runs, dynamics, num_holding, num_diverged, want):
    holds = iter([True] * num_holding + [False] * num_runs)
    check = lambda m, r, spec: {'claim': 'c', 'measured': '', 'holds': next(holds)}
    result = claims._per_run(check, self._group(num_runs, dynamics, num_diverged))
    self.assertEqual(claims.verdict(result), want, result)


if __name__ == '__main__':
  absltest.main()
