"""The claim checks, the t₀ detector and the decoder closed form: each check against hand cases,
simulated grids with no effect (false-pass rate ≤ 5%) and planted effects of realistic size."""

import dataclasses
import itertools
import math
import pathlib

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

import scan_snap
from scan_snap.core import config as core_config
from scan_snap.core import pipeline
from scan_snap.sequence_classes import calibration
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes.claims import common
from scan_snap.sequence_classes.claims import learning_rates
from scan_snap.sequence_classes.claims import residual
from scan_snap.sequence_classes.claims import solvers
from scan_snap.sequence_classes.claims import theorems
from scan_snap.sequence_classes.claims import token_prior
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
    xi = solvers.decoder_gap_closed_form(t, lr_y=0.7, vocab_size=50, num_classes=4)
    np.testing.assert_allclose(49 * xi + np.expm1(xi), 0.7 * 50 * t / 4, rtol=1e-10, atol=1e-12)

  def test_training_follows_the_closed_form(self):
    reference = sweep.decoder_reduction(steps=50)
    run = reference.read({name: sweep.train_grid(run_config, [0], pairs, 2)
                          for name, (run_config, pairs) in reference.grids([], []).items()})
    self.assertEqual(solvers.decoder_reduction(run).verdict, 'pass')


class FlowVsStepsTest(absltest.TestCase):

  def test_first_order_error_passes_and_no_convergence_fails(self):
    flow = np.zeros((5, 2, 3))
    runs = {'flow': flow, 'h=1': flow + 0.2, 'h=1/2': flow + 0.1}
    self.assertEqual(solvers.flow_vs_steps(runs).verdict, 'pass')
    self.assertEqual(solvers.flow_vs_steps({**runs, 'h=1/2': flow + 0.2}).verdict, 'fail')
    self.assertEqual(solvers.flow_vs_steps({**runs, 'h=1/2': flow + 0.05}).verdict, 'fail')


SPEC = data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=2,
                            num_common_per_last=0, num_unique_per_next=4)


def _rate(check, word='pass', grids=200, seed=0) -> float:
  """The fraction of simulated grids on which check(rng) gives `word` for every verdict."""
  rng = np.random.default_rng(seed)
  return np.mean([all(v.verdict == word for v in check(rng)) for _ in range(grids)])


class CalibrationTest(parameterized.TestCase):
  """Every claim with sampling noise: at most 5% passes on grids with no effect, at least 80%
  on a planted effect of realistic size (calibration.CALIBRATIONS; 100 grids, fixed keys; the
  docs' rates come from 2,000)."""

  @parameterized.parameters(*calibration.CALIBRATIONS)
  def test_no_effect_rarely_passes(self, name):
    self.assertLessEqual(calibration.pass_rate(name, 0.0, 100), 0.05)

  @parameterized.parameters(*calibration.CALIBRATIONS)
  def test_planted_effect_is_detected(self, name):
    planted = calibration.CALIBRATIONS[name].planted
    self.assertGreaterEqual(calibration.pass_rate(name, planted, 100, seed=1), 0.8)


class FrequencyBiasTest(absltest.TestCase):
  """Thm 2: changes [runs, K, S]; commons are slots 0–1, distinct tokens slots 2–5."""

  def test_exact_on_deterministic_dynamics(self):
    good = np.where(SPEC.is_distinct(), 0.1, -0.1) * np.ones((3, 2, 6))
    self.assertEqual([v.verdict for v in theorems.frequency_bias(good, SPEC.is_distinct(), True)],
                     ['pass', 'pass'])
    bad = good.copy()
    bad[1, 0, 2] = -1e-4  # One distinct token of one run falls.
    self.assertEqual([v.verdict for v in theorems.frequency_bias(bad, SPEC.is_distinct(), True)],
                     ['pass', 'fail'])

  def test_a_falling_rare_token_fails_and_is_named(self):
    rng = np.random.default_rng(1)
    changes = np.where(SPEC.is_distinct(), 0.3, -0.3) + rng.normal(0, 0.02, (10, 2, 6))
    changes[:, 0, 2] = rng.normal(-0.01, 0.002, 10)  # The rarest token falls, as at finite T.
    verdict = theorems.frequency_bias(changes, SPEC.is_distinct(), False)[1]
    self.assertEqual(verdict.verdict, 'fail')
    self.assertIn('class 0, distinct token 0', verdict.measured)


class TokenPriorTest(absltest.TestCase):
  """Sec. 7: b is one value per token, logged on every class's support that holds it."""

  SPEC = data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=3,
                              num_common_per_last=2, num_unique_per_next=4)

  def test_by_token_reads_each_token_once(self):
    support = np.asarray(self.SPEC.tables().support)  # 4 classes; commons 0–2 in all four
    b = np.arange(23.0)[support][None] * np.ones((3, 1, 1))
    changes, is_distinct, names = token_prior.by_token(b, support, self.SPEC.is_distinct())
    np.testing.assert_array_equal(changes[0, 0], np.arange(23.0))
    self.assertEqual(int(is_distinct.sum()), 16)
    np.testing.assert_array_equal(np.flatnonzero(~is_distinct), np.arange(7))
    self.assertEqual(names[9], 'token 9')

  def test_a_falling_distinct_token_fails_and_is_named(self):
    support = np.asarray(self.SPEC.tables().support)
    rng = np.random.default_rng(2)
    per_token = np.where(np.arange(23) < 7, -0.3, 0.3) + rng.normal(0, 0.02, (10, 23))
    per_token[:, 12] = rng.normal(-0.01, 0.002, 10)  # as the rarest tokens at finite T
    changes, is_distinct, names = token_prior.by_token(per_token[:, support], support,
                                                       self.SPEC.is_distinct())
    common_b, distinct_b = theorems.frequency_bias(changes, is_distinct, False,
                                                   claim=token_prior.CLAIM, token_names=names)
    self.assertEqual((common_b.verdict, distinct_b.verdict), ('pass', 'fail'))
    self.assertEqual(distinct_b.claim, "Sec. 7: every distinct token's prior b rises")
    self.assertIn('least supported: token 12', distinct_b.measured)
    self.assertIn('each of 16 tokens', distinct_b.test)


class ResidualTest(absltest.TestCase):
  """Sec. 7: the kinds of tokens within a query's classes, and the verdicts on them."""

  SPEC = data.SharedAcrossQueries(num_last=2, num_next_per_last=2, num_common=1,
                                  num_common_per_last=1, num_unique_per_next=2,
                                  num_shared_across=2)  # slots: C, QC, SA, SA, D, D

  def test_local_kinds_by_hand(self):
    kinds = residual.local_kinds(self.SPEC)
    want = ([residual.LOCALLY_COMMON] * 2 + [residual.LOCALLY_DISTINCT] * 2
            + [residual.DISTINCT] * 2)
    self.assertEqual(kinds.tolist(), [want] * 4)
    # One class per query: the common tokens are shared with other queries' classes only.
    alone = data.SequenceClasses(num_last=3, num_next_per_last=1, num_common=2,
                                 num_common_per_last=0, num_unique_per_next=1)
    self.assertEqual(residual.local_kinds(alone).tolist(),
                     [[residual.LOCALLY_DISTINCT] * 2 + [residual.DISTINCT]] * 3)

  def _changes(self, rng, distinct_on=1.0, common_on=-1.0, common_off=0.2, seeds=10):
    """[seeds, K, S] with and without the residual: on, the locally distinct and the distinct
    tokens rise by `distinct_on` and the locally common change by `common_on`; off, every shared
    token changes by `common_off` (the query-common tokens rise without the residual) and the
    distinct ones by 0.5; seed sd 0.1."""
    kinds = residual.local_kinds(self.SPEC)
    on = np.where(kinds == residual.LOCALLY_COMMON, common_on, distinct_on)
    off = np.where(kinds == residual.DISTINCT, 0.5, common_off)
    noise = lambda: 0.1 * rng.normal(size=(seeds, *kinds.shape))
    return on + noise(), off + noise(), kinds

  def test_planted_effects_pass(self):
    on, off, kinds = self._changes(np.random.default_rng(0))
    checks = residual.residual(on, off, kinds, False, 'here')
    self.assertEqual([v.verdict for v in checks], ['pass'] * 5)
    self.assertEqual(checks[0].claim,
                     "Sec. 7, with the residual: every locally distinct token's logit rises")
    self.assertIn('each of 8 tokens', checks[0].test)  # 4 classes × 2 slots
    self.assertIn('here; least supported: class', checks[0].measured)

  def test_no_effect_does_not_pass(self):
    rng = np.random.default_rng(1)
    on, off, kinds = self._changes(rng, distinct_on=0.0, common_on=0.0, common_off=0.0)
    self.assertNotIn('pass', [v.verdict for v in residual.residual(on, off, kinds, False)])

  def test_a_rising_locally_common_token_fails_and_is_named(self):
    on, off, kinds = self._changes(np.random.default_rng(2))
    on[:, 3, 1] = 0.6 + 0.01 * np.random.default_rng(3).normal(size=len(on))  # class 3, slot 1
    checks = residual.residual(on, off, kinds, False)
    self.assertEqual([v.verdict for v in checks], ['pass', 'pass', 'fail', 'fail', 'pass'])
    self.assertIn('least supported: class 3, slot 1', checks[2].measured)

  def test_a_falling_rare_distinct_token_fails_and_is_named(self):
    on, off, kinds = self._changes(np.random.default_rng(5))
    on[:, 2, 4] = -0.1 + 0.01 * np.random.default_rng(6).normal(size=len(on))  # class 2, slot 4
    checks = residual.residual(on, off, kinds, False)
    self.assertEqual([v.verdict for v in checks], ['pass'] * 4 + ['fail'])
    self.assertEqual(checks[4].claim,
                     "Sec. 7, with the residual: every distinct token's logit rises")
    self.assertIn('least supported: class 2, slot 4', checks[4].measured)

  def test_the_paired_runs_are_written_beside_the_group(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    scan_snap.run_experiment(load_config('residual', 'smoke'), workdir)
    with np.load(workdir / 'trajectories' / 'num_last2_T32.npz') as on, \
        np.load(workdir / 'trajectories' / 'without_residual_num_last2_T32.npz') as off:
      np.testing.assert_array_equal(off['seed'], on['seed'])
      np.testing.assert_array_equal(off['lr_y'], on['lr_y'])
      self.assertEqual(off['logits'].shape, on['logits'].shape)
      self.assertFalse(np.array_equal(off['logits'], on['logits']))

  def test_exact_on_deterministic_dynamics(self):
    on, off, kinds = self._changes(np.random.default_rng(4), seeds=1)
    self.assertEqual([v.verdict for v in residual.residual(on, off, kinds, True)], ['pass'] * 5)
    on[0, 0, 2] = -0.01  # One locally distinct token falls in the one run.
    checks = residual.residual(on, off, kinds, True)
    self.assertEqual(checks[0].verdict, 'fail')
    self.assertAlmostEqual(checks[0].effect, -0.01)

  def test_the_paired_runs_are_the_grid_trained_without_the_residual(self):
    c = load_config('residual', 'smoke')
    grid = config.grid(c)
    trained = sweep.Sweep(grid.runs, grid.seeds, grid.pairs, 2,
                          references=('without_residual',)).train()
    off_runs = [dataclasses.replace(r, model=dataclasses.replace(r.model, residual=False))
                for r in grid.runs]
    alone = sweep.Sweep(off_runs, grid.seeds, grid.pairs, 2).train()
    for without, with_residual in zip(alone.groups, trained.groups):
      paired = trained.references['without_residual'][sweep.group_name(without.run_config)]
      self.assertFalse(paired.run_config.model.residual)
      np.testing.assert_array_equal(paired.seed, with_residual.seed)
      np.testing.assert_array_equal(paired.cell, with_residual.cell)
      for key in ('attn/logits', 'train/loss'):
        np.testing.assert_array_equal(paired.metrics[key], without.metrics[key])
        self.assertFalse(np.array_equal(paired.metrics[key], with_residual.metrics[key]))


class Sec7SwitchesTest(parameterized.TestCase):

  @parameterized.parameters('token_prior', 'residual')
  def test_the_claim_and_the_figure_need_the_switch(self, name):
    c = load_config(name, 'smoke')
    with c.unlocked():
      c.model[name] = False
    with self.assertRaises(core_config.ConfigError) as raised:
      pipeline.plan(c)
    self.assertIn(f"'{name}' is a claim about SGD from a zero start", str(raised.exception))
    self.assertIn(f"must be True for the figure '{name}'", str(raised.exception))


class ScanningTest(absltest.TestCase):

  def _ctilde(self, order):
    """[L+1, K, S]: distinct token i peaks at step order[i] and falls after it."""
    steps = np.arange(20)[:, None, None]
    peaks = np.concatenate([[19, 19], order])[None, None, :]
    curve = 1 + np.minimum(steps, peaks) - 0.5 * np.maximum(steps - peaks, 0)
    return np.broadcast_to(curve, (20, 2, 6))

  def test_scan_order(self):
    probs, is_distinct = SPEC.probs(), SPEC.is_distinct()  # distinct P rises with the slot
    self.assertAlmostEqual(theorems.scan_order(self._ctilde([3, 6, 9, 19]), probs, is_distinct),
                           1.0)
    self.assertAlmostEqual(theorems.scan_order(self._ctilde([19, 9, 6, 3]), probs, is_distinct),
                           -1.0)
    self.assertTrue(math.isnan(theorems.scan_order(self._ctilde([19] * 4), probs, is_distinct)))

  def test_relative_gains_and_their_monotone_growth(self):
    c = np.ones((3, 2, 6))
    c[:, :, 5] = [[1], [2], [3]]  # The most frequent distinct token gains attention.
    gain = theorems.relative_gains(c, SPEC.probs(), SPEC.is_distinct())
    np.testing.assert_allclose(gain[:, 0], [0, 3, 8])
    self.assertEqual(gain.shape, (3, 6))  # 2 classes × 3 other distinct tokens
    self.assertEqual(theorems.rising_fraction(gain), 1.0)
    self.assertEqual(theorems.rising_fraction(gain[::-1]), 0.0)


class SnappingTest(absltest.TestCase):
  """Thm 4 on simulated t₀ of a phase-transition grid over K, η_Y and η_Z."""

  K, LR_Y, LR_Z = (2, 6, 20), (0.03, 0.1, 0.3, 1.0), (0.001, 0.003, 0.01)

  def _grid(self, rng, power_z, noise=0.05):
    k, lr_y, lr_z = map(np.array, zip(*itertools.product(self.K, self.LR_Y, self.LR_Z)))
    vocab = 10 + 12 * k
    t0 = 3 * k * np.log(vocab) / lr_y * lr_z ** power_z * np.exp(rng.normal(0, noise, len(k)))
    return theorems.snapping(k, vocab, lr_y, lr_z, t0, np.ones(len(k), bool), True)

  def test_lr_z_independence(self):
    self.assertGreaterEqual(_rate(lambda rng: self._grid(rng, 0.0)), 0.9)  # Every verdict.
    self.assertLessEqual(_rate(lambda rng: self._grid(rng, 0.25)[1:2]), 0.05)  # At the margin.
    self.assertGreaterEqual(_rate(lambda rng: self._grid(rng, 0.6)[1:2], 'fail'), 0.9)

  def test_runs_outside_the_theory_are_not_read(self):
    k, vocab = np.full(3, 2), np.full(3, 34)
    lr_y, lr_z = np.array([0.1, 0.1, 3.0]), np.array([0.1, 0.001, 0.001])
    t0 = np.array([100.0, np.nan, 5.0])  # η_Y = η_Z; no t₀; t₀ inside the start-up
    verdict = theorems.snapping(k, vocab, lr_y, lr_z, t0, np.ones(3, bool), True)[0]
    self.assertEqual((verdict.verdict, verdict.n), ('inconclusive', 0))

  def test_log_tail(self):
    t = np.arange(100, 10_000, dtype=float)
    self.assertTrue(theorems.log_beats_power_law(t, 3 + 2 * np.log(t)))
    self.assertFalse(theorems.log_beats_power_law(t, 0.01 * t**1.5))
    self.assertFalse(theorems.log_beats_power_law(t, 0.01 * t**0.3))  # Slow, but a power law.


class LearningRatesTest(absltest.TestCase):
  """Sec. 6 on simulated Syn-Medium grids (calibration.syn_medium_rows)."""

  def test_permuted_conditions_rarely_pass(self):
    def permuted(rng):
      rows = calibration.syn_medium_rows(rng, sparser=-0.1, denser=0.04)
      for seed in range(10):  # Shuffle the entropies among one seed's runs.
        mine = [r for r in rows if r['seed'] == seed]
        for row, entropy in zip(mine, rng.permutation([r['entropy'] for r in mine])):
          row['entropy'] = entropy
      return learning_rates.learning_rates(rows)
    self.assertLessEqual(_rate(lambda rng: permuted(rng)[:1], grids=100), 0.05)
    self.assertLessEqual(_rate(lambda rng: permuted(rng)[1:], grids=100), 0.05)

  def test_opposite_effects_fail(self):
    check = lambda rng: learning_rates.learning_rates(
        calibration.syn_medium_rows(rng, sparser=0.1, denser=-0.04))
    self.assertGreaterEqual(_rate(check, 'fail', grids=50), 0.9)

  def test_effects_read_as_claimed_and_diverged_runs_are_counted(self):
    rows = calibration.syn_medium_rows(np.random.default_rng(0), sparser=-0.1, denser=0.04)
    for row in rows[:5]:
      row['diverged'] = True
    sparser, denser = learning_rates.learning_rates(rows)
    self.assertAlmostEqual(sparser.effect, -0.1 * np.log(6), delta=0.02)  # ln 3 − ln 0.5
    self.assertAlmostEqual(denser.effect, 0.04, delta=0.01)
    self.assertLess(sparser.interval[1], 0)
    for v in (sparser, denser):
      self.assertIn('5 diverged runs left out', v.measured)


class ContrastVerdictTest(absltest.TestCase):

  def test_a_claim_of_a_fall_is_reported_as_a_fall(self):
    contrasts = {(2, 0): {0: -0.20, 1: -0.25, 2: -0.21, 3: -0.23},
                 (2, 1): {0: -0.22, 1: -0.19, 2: -0.24, 3: -0.20}}
    v = common.contrast_verdict('entropy falls (below 0)', contrasts, -1)
    self.assertEqual(v.verdict, 'pass')
    self.assertAlmostEqual(v.effect, -0.2175)
    self.assertLess(v.interval[0], v.interval[1])
    self.assertLess(v.interval[1], 0)
    self.assertIn('H₀: mean ≥ 0', v.test)  # The null hypothesis on the effect's own side.
    rises = common.contrast_verdict('entropy rises (above 0)', contrasts, 1)
    self.assertEqual((rises.verdict, rises.effect), ('fail', v.effect))
    self.assertIn('H₀: mean ≤ 0', rises.test)


class ConvergenceVsSparsityTest(absltest.TestCase):
  """Fig. 4 on simulated Syn-Small grids (calibration.syn_small_rows)."""

  def test_effects_read_as_claimed_and_censored_runs_counted(self):
    rows = calibration.syn_small_rows(np.random.default_rng(0), faster=5.0, denser=0.15)
    for row in rows:
      row['steps'] = 10
      if row['lr_y'] == 1.0 and row['seed'] < 3:
        row['steps_to_loss'] = math.nan  # Never reached: counted as the run length, 10.
    faster, denser = learning_rates.convergence_vs_sparsity(rows, 0.1)
    small = {r['seed']: r['steps_to_loss'] for r in rows if r['lr_y'] == 1.0}
    large = {r['seed']: r['steps_to_loss'] for r in rows if r['lr_y'] == 10.0}
    want = np.mean([large[s] - (10 if s < 3 else small[s]) for s in range(10)])
    self.assertAlmostEqual(faster.effect, want)
    self.assertLess(faster.interval[1], 0)
    self.assertIn('3 runs never reached it', faster.measured)
    self.assertAlmostEqual(denser.effect, 0.15, delta=0.02)  # se ≈ 0.005
    self.assertEqual([faster.verdict, denser.verdict], ['pass', 'pass'])

  def test_opposite_effects_fail(self):
    check = lambda rng: learning_rates.convergence_vs_sparsity(
        calibration.syn_small_rows(rng, faster=-2.0, denser=-0.05), 0.1)
    self.assertGreaterEqual(_rate(check, 'fail', grids=50), 0.9)


class AdamSubsetsTest(absltest.TestCase):

  def test_subsets_named_per_rate(self):
    attended = np.zeros((10, 2, 1, 3), bool)
    attended[:, 0, 0, :2] = True  # The first rate ends on tokens 7 and 8 in every seed,
    attended[:4, 1, 0, 2] = True  # the second on token 9 in 4 seeds of 10: not most.
    v = learning_rates.adam_subsets(attended, ['η=0.1', 'η=1'], np.array([[7, 8, 9]]))
    self.assertIn('η=0.1: {7, 8}; η=1: {}', v.measured)
    self.assertEqual(v.verdict, 'pass')


if __name__ == '__main__':
  absltest.main()
