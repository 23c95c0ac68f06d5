"""The verdict tests: each passes on data with no effect at most α of the time, detects a
planted effect, and fails on the opposite effect."""

from absl.testing import absltest
import numpy as np

from scan_snap.core import verdicts

_GRIDS = 1000  # simulated samples per rate; a 1% rate has a standard error of 0.3%


def _rate(decide, seed=0) -> dict[str, float]:
  rng = np.random.default_rng(seed)
  words = [decide(rng).verdict for _ in range(_GRIDS)]
  return {w: words.count(w) / _GRIDS for w in (verdicts.PASS, verdicts.FAIL,
                                               verdicts.INCONCLUSIVE)}


class AboveTest(absltest.TestCase):

  def test_no_effect_passes_at_most_alpha(self):
    rate = _rate(lambda rng: verdicts.above('c', rng.normal(0, 1, 10)))
    self.assertLessEqual(rate['pass'], 0.02)
    self.assertLessEqual(rate['fail'], 0.02)

  def test_planted_effect_passes_and_opposite_fails(self):
    self.assertGreaterEqual(_rate(lambda rng: verdicts.above('c', rng.normal(1.5, 1, 10)))[
        'pass'], 0.9)
    self.assertGreaterEqual(_rate(lambda rng: verdicts.above('c', rng.normal(-1.5, 1, 10)))[
        'fail'], 0.9)

  def test_numbers(self):
    v = verdicts.above('c', [1.0, 2.0, 3.0])
    self.assertAlmostEqual(v.effect, 2.0)
    self.assertAlmostEqual(v.se, 1 / np.sqrt(3))
    self.assertAlmostEqual(v.p, 0.0371, places=4)  # t = 2√3 with 2 dof.
    self.assertEqual(v.verdict, 'inconclusive')  # 0.037 > α = 0.01.
    self.assertEqual(verdicts.above('c', [1.0]).verdict, 'inconclusive')
    self.assertEqual(verdicts.above('c', [1.0, 1.0]).verdict, 'pass')  # No noise at all.


class BelowTest(absltest.TestCase):

  def test_calibrated(self):
    rate = _rate(lambda rng: verdicts.below('c', rng.normal(0, 1, 10)))
    self.assertLessEqual(rate['pass'], 0.02)
    self.assertGreaterEqual(_rate(lambda rng: verdicts.below('c', rng.normal(-1.5, 1, 10)))[
        'pass'], 0.9)
    self.assertGreaterEqual(_rate(lambda rng: verdicts.below('c', rng.normal(1.5, 1, 10)))[
        'fail'], 0.9)

  def test_reported_in_the_samples_sign(self):
    x = np.array([-1.0, -2.0, -3.0, -2.5])
    v, mirrored = verdicts.below('c', x), verdicts.above('c', -x)
    self.assertEqual(v.effect, -mirrored.effect)
    self.assertEqual(v.interval, (-mirrored.interval[1], -mirrored.interval[0]))
    self.assertLess(v.interval[1], 0)
    self.assertEqual((v.verdict, v.p, v.se), (mirrored.verdict, mirrored.p, mirrored.se))
    self.assertIn('H₀: mean ≥ 0', v.test)
    self.assertIn('H₀: mean ≤ 0', mirrored.test)


class CoefficientTest(absltest.TestCase):

  def _fit(self, slope):
    x = np.log(np.array([0.03, 0.06, 0.1, 0.3, 1.0, 3.0]))
    design = np.c_[np.ones_like(x), x]
    return lambda rng: verdicts.coefficient('s', design, slope * x + rng.normal(0, 0.2, 6), 1,
                                            predicted=-1.0)

  def test_no_effect_passes_at_most_alpha(self):
    self.assertLessEqual(_rate(self._fit(0.0))['pass'], 0.02)

  def test_planted_slope_passes_and_another_fails(self):
    self.assertGreaterEqual(_rate(self._fit(-1.0))['pass'], 0.9)
    self.assertGreaterEqual(_rate(self._fit(-2.0))['fail'], 0.9)


class NegligibleTest(absltest.TestCase):

  def _fit(self, slope):
    x = np.tile(np.log([0.01, 0.03, 0.1]), 4)
    design = np.c_[np.ones_like(x), x]
    return lambda rng: verdicts.negligible('z', design, slope * x + rng.normal(0, 0.05, 12), 1,
                                           margin=0.2)

  def test_an_effect_at_the_margin_passes_at_most_alpha(self):
    self.assertLessEqual(_rate(self._fit(0.2))['pass'], 0.02)

  def test_no_effect_passes_and_a_large_one_fails(self):
    self.assertGreaterEqual(_rate(self._fit(0.0))['pass'], 0.9)
    self.assertGreaterEqual(_rate(self._fit(0.6))['fail'], 0.9)


class MajorityTest(absltest.TestCase):

  def test_calibrated(self):
    self.assertLessEqual(_rate(lambda rng: verdicts.majority(
        'm', int(rng.binomial(30, 0.5)), 30))['pass'], 0.02)
    self.assertGreaterEqual(_rate(lambda rng: verdicts.majority(
        'm', int(rng.binomial(30, 0.95)), 30))['pass'], 0.9)
    self.assertEqual(verdicts.majority('m', 0, 30).verdict, 'fail')


class PermutationTest(absltest.TestCase):
  """10 units × 4 groups × 20 binary features, as the Adam subsets: 200 draws per rate (each
  test runs 1000 permutations)."""

  def _decide(self, shift):
    def decide(rng):
      p = np.full((4, 20), 0.5)
      p[-1, :10] += shift  # The last group prefers the first half of the features.
      p[-1, 10:] -= shift
      return verdicts.permutation('d', rng.random((10, 4, 20)) < p, key=int(rng.integers(2**31)))
    return decide

  def test_no_effect_passes_at_most_alpha(self):
    words = [self._decide(0.0)(rng).verdict for rng in map(np.random.default_rng, range(200))]
    self.assertLessEqual(words.count('pass') / 200, 0.03)
    self.assertNotIn('fail', words)

  def test_planted_effect_is_detected(self):
    words = [self._decide(0.3)(rng).verdict for rng in map(np.random.default_rng, range(200))]
    self.assertGreaterEqual(words.count('pass') / 200, 0.9)

  def test_numbers(self):
    x = np.zeros((10, 2, 3))
    x[:, 1] = 1.0  # Every unit: group 0 all 0, group 1 all 1.
    v = verdicts.permutation('d', x[:5])
    self.assertEqual(v.effect, 1.0)  # The means differ by 1 on every feature.
    # Only the 2 of 2⁵ label orders that swap every unit or none reach it: 5 units cannot pass.
    self.assertAlmostEqual(v.p, 2 / 2**5, delta=0.02)
    self.assertEqual(v.verdict, 'inconclusive')
    self.assertEqual(verdicts.permutation('d', x).verdict, 'pass')  # p ≈ 2 / 2¹⁰
    self.assertEqual(verdicts.permutation('d', np.ones((10, 2, 3))).verdict, 'inconclusive')
    self.assertEqual(verdicts.permutation('d', x[:1]).verdict, 'inconclusive')


class ExactTest(absltest.TestCase):

  def test_decides_on_what_it_computes_and_is_inconclusive_on_nothing(self):
    self.assertEqual(verdicts.exact('e', 0.5, True, 'rule', n=3).verdict, 'pass')
    self.assertEqual(verdicts.exact('e', -0.5, False, 'rule', n=3).verdict, 'fail')
    nothing = verdicts.exact('e', float('nan'), False, 'rule', n=0, measured='0 of 3 runs')
    self.assertEqual(nothing.verdict, 'inconclusive')
    self.assertEqual(nothing.measured, '0 of 3 runs; no unit to test it on')


class ReportTest(absltest.TestCase):

  def test_report_and_json_hold_every_field(self):
    v = verdicts.above('more', [1.0, 2.0, 3.0, 4.0], measured='four seeds')
    text = verdicts.report_markdown('t', {'Claims': [v], 'Solver checks': []})
    self.assertIn('## Claims', text)
    self.assertNotIn('Solver checks', text)  # Empty sections are left out.
    self.assertIn('| more | 2.5 ± 0.645 |', text)
    self.assertIn('four seeds |', text)
    self.assertEqual(verdicts.to_json({'Claims': [v]})['Claims'][0]['verdict'], v.verdict)

  def test_one_spelling_of_each_verdict(self):
    found = [verdicts.above('rises', [1.0, 1.1, 0.9]), verdicts.below('falls', [1.0, 1.1, 0.9]),
             verdicts.above('tells', [1.0, -1.0, 0.5])]
    self.assertEqual([v.verdict for v in found], ['pass', 'fail', 'inconclusive'])
    rows = verdicts.report_markdown('t', {'Claims': found}).splitlines()[-3:]
    self.assertEqual([row.split(' | ')[-2] for row in rows], ['pass', 'fail', 'inconclusive'])


if __name__ == '__main__':
  absltest.main()
