"""The WikiText claims' checks: their false-pass rate on simulated grids with no effect, their
detection rate of a planted effect of the size of real runs, hand cases, and the registry on a
hand-made grid."""

from absl.testing import absltest
import numpy as np

from scan_snap.core import verdicts
from scan_snap.wikitext import claims
from scan_snap.wikitext import config
from scan_snap.wikitext import metrics
from scan_snap.wikitext import results
from scan_snap.wikitext import sweep
from tests.testing import tiny_text_run

_GRIDS = 400  # simulated grids per rate
_RATES = np.array([1.0, 2.0, 5.0, 10.0, 20.0])  # the η of configs/wikitext2.py


def _entropy_grid(rng, fall: float, num_seeds: int = 3):
  """Final entropies of a seed-major grid: 2.0 − fall · ln η / ln 20 nats, a per-seed offset
  (std 0.05) and per-run noise (std 0.05; real runs' per-seed falls differ by 0.05 nats)."""
  seed = np.repeat(np.arange(num_seeds), len(_RATES))
  lr = np.tile(_RATES, num_seeds)
  entropy = (2.0 - fall * np.log(lr) / np.log(20.0) + rng.normal(0, 0.05, num_seeds)[seed]
             + rng.normal(0, 0.05, len(lr)))
  return lr, seed, entropy, np.zeros(len(lr), bool)


def _freezing_grid(rng, fall: float, num_seeds: int = 3, evals: int = 25):
  """F of a grid of 3 rates: ln F_e = ln 0.3 − fall · e/(E − 1) + a per-run level (std 0.3)
  and lognormal noise (std 0.3 per evaluation; 0.23 in real runs); F_0 is NaN."""
  runs = 3 * num_seeds
  seed = np.repeat(np.arange(num_seeds), 3)
  e = np.arange(evals)[:, None] / (evals - 1)
  log_f = (np.log(0.3) - fall * e + rng.normal(0, 0.3, runs)
           + rng.normal(0, 0.3, (evals, runs)))
  f = np.exp(log_f)
  f[0] = np.nan
  return seed, f, np.zeros(runs, bool)


def _words_grid(rng, frozen_share: float, num_seeds: int = 3, evals: int = 20,
                num_words: int = 50, thaw: bool = False):
  """The attended sets of 50 query words, one run per seed, over 20 evaluations (those after
  the first of configs/wikitext2.py:sample): each word's set moves to another of 4 key groups at
  each interval with its own probability, uniform in [0.05, 0.5] (a steady rate: the null). A
  frozen_share of the words stops changing at a time drawn uniformly over the intervals (thaw:
  starts changing there instead)."""
  p_WxQ = rng.uniform(0.05, 0.5, (num_seeds, num_words))
  moves = rng.random((evals - 1, num_seeds, num_words)) < p_WxQ
  planted = rng.random((num_seeds, num_words)) < frozen_share
  turn = rng.integers(0, evals - 1, (num_seeds, num_words))
  after = np.arange(evals - 1)[:, None, None] >= turn
  moves &= ~(planted & (~after if thaw else after))
  steps = rng.integers(1, 4, moves.shape)  # to another group of the 4
  groups = np.concatenate([np.zeros((1, num_seeds, num_words), int),
                           np.cumsum(moves * steps, axis=0)]) % 4
  sets = np.eye(4, dtype=bool)[groups]  # [E, R, Q, K + 1]
  return (np.arange(num_seeds), metrics.frozen_fraction(sets),
          metrics.shuffled_frozen_fraction(sets), np.ones(num_words, bool),
          metrics.freeze_step(sets, 100 * np.arange(1, evals + 1)),
          np.zeros((num_seeds, num_words)), np.zeros(num_seeds, bool))


def _words_check(*grid):
  return claims.attended_words_freeze(*grid, layer=0)


def _turn_grid(rng, rise: float, num_seeds: int = 3, evals: int = 21, fall: float = 0.8,
               overfit: bool = False):
  """One cell's runs, one per seed, over 21 evaluations (configs/wikitext2.py:sample's): H falls
  by `fall` nats from 2.6, as 1 − exp(−e/2), and from a turn at evaluation 8 ± 2 (drawn per
  run; a cell's seeds of the Y/Z model with Adam turn within 2 evaluations) rises by `rise` nats,
  evenly, to the end; a per-run offset (std 0.05) and noise at each evaluation (std 0.02;
  0.004–0.023 between evaluations in those runs). The validation loss falls to the end, or
  (overfit) to evaluation 5 and rises after it."""
  e = np.arange(evals)[:, None]
  turn = 8 + rng.integers(-2, 3, num_seeds)
  up = np.clip((e - turn) / (evals - 1 - turn), 0.0, 1.0)
  entropy = (2.6 - fall * (1 - np.exp(-e / 2)) + rise * up + rng.normal(0, 0.05, num_seeds)
             + rng.normal(0, 0.02, (evals, num_seeds)))
  loss = 6.0 - np.minimum(e, 5 if overfit else evals) * 0.1 + 0.05 * np.maximum(e - 5, 0) * overfit
  loss = loss + rng.normal(0, 0.01, (evals, num_seeds))
  return np.arange(num_seeds), entropy, loss, 100 * np.arange(evals), np.zeros(num_seeds, bool)


def _turn_check(*grid):
  return claims.attention_turns_dense(*grid, layer=0)


def _pass_rate(check, make, fall: float) -> float:
  rng = np.random.default_rng(0)
  return np.mean([check(*make(rng, fall)).verdict == verdicts.PASS for _ in range(_GRIDS)])


class EntropyFallsWithLrTest(absltest.TestCase):

  def test_no_effect_rarely_passes(self):
    self.assertLessEqual(_pass_rate(claims.entropy_falls_with_lr, _entropy_grid, 0.0), 0.05)

  def test_planted_fall_is_detected(self):
    # 0.5 nats from η = 1 to 20 over 3 seeds (configs/wikitext2.py): a third of the fall from
    # η = 1 to 10 of 600 steps of the paper's model on the WikiText-2 sample, 1.5 nats.
    self.assertGreaterEqual(_pass_rate(claims.entropy_falls_with_lr, _entropy_grid, 0.5), 0.8)

  def test_hand_case(self):
    # Two seeds; H = 2 − 0.1 ln η (+ 0.1 at the second seed, + 0.02 more at its η = 100): per
    # seed the fitted fall of H from η = 1 to 100, by 0.02 less for the second seed.
    lr = np.array([1.0, 10.0, 100.0] * 2)
    seed = np.array([1, 1, 1, 2, 2, 2])
    entropy = 2 - 0.1 * np.log(lr) + 0.1 * (seed == 2)
    entropy[-1] += 0.02
    v = claims.entropy_falls_with_lr(lr, seed, entropy, np.zeros(6, bool))
    x = np.log([1.0, 10.0, 100.0])
    slope_2 = np.polyfit(x, entropy[3:], 1)[0]
    falls = [0.1 * np.log(100), -slope_2 * np.log(100)]
    self.assertAlmostEqual(falls[1], 0.1 * np.log(100) - 0.02, places=9)
    self.assertAlmostEqual(v.effect, np.mean(falls), places=9)
    self.assertAlmostEqual(v.se, np.std(falls, ddof=1) / np.sqrt(2), places=9)
    self.assertEqual((v.n, v.verdict), (2, verdicts.PASS))

  def test_a_depth_axis_without_effect_rarely_passes_and_with_one_is_detected(self):
    def two_depths(rng, fall):  # the same grid at a second depth, 1 nat higher
      grids = [_entropy_grid(rng, fall) for _ in range(2)]
      lr, seed, _, diverged = (np.concatenate(parts) for parts in zip(*grids))
      entropy = np.concatenate([grids[0][2], grids[1][2] + 1.0])
      depth = np.repeat([1, 2], len(grids[0][0]))
      return lr, seed, entropy, diverged, depth
    self.assertLessEqual(_pass_rate(claims.entropy_falls_with_lr, two_depths, 0.0), 0.05)
    self.assertGreaterEqual(_pass_rate(claims.entropy_falls_with_lr, two_depths, 0.5), 0.8)

  def test_a_depth_axis_is_fitted_depth_by_depth(self):
    # Two seeds × depths 1 and 2 × η ∈ {1, 10, 100}: H = level − 0.1 ln η, the level 2 at
    # depth 1 and 5 at depth 2, whose η = 100 run diverged. One fit over both depths would read the
    # levels' difference as a trend; each depth's own fit gives the fall 0.1 ln 100.
    lr = np.tile([1.0, 10.0, 100.0], 4)
    seed = np.repeat([1, 2], 6)
    depth = np.tile(np.repeat([1, 2], 3), 2)
    entropy = np.where(depth == 1, 2.0, 5.0) - 0.1 * np.log(lr) + 0.01 * (seed == 2)
    diverged = (depth == 2) & (lr == 100.0)
    entropy[diverged] = np.nan
    v = claims.entropy_falls_with_lr(lr, seed, entropy, diverged, depth)
    self.assertAlmostEqual(v.effect, 0.1 * np.log(100), places=9)
    pooled = claims.entropy_falls_with_lr(lr, seed, entropy, diverged)
    self.assertGreater(abs(pooled.effect - 0.1 * np.log(100)), 0.5)

  def test_diverged_runs_are_left_out(self):
    lr, seed, entropy, diverged = _entropy_grid(np.random.default_rng(1), 1.0)
    entropy[-1], diverged[-1] = np.nan, True
    v = claims.entropy_falls_with_lr(lr, seed, entropy, diverged)
    self.assertEqual((v.n, v.verdict), (3, verdicts.PASS))
    self.assertIn('1 diverged runs left out', v.measured)

  def test_rising_entropy_fails(self):
    v = claims.entropy_falls_with_lr(*_entropy_grid(np.random.default_rng(2), -1.0))
    self.assertEqual(v.verdict, verdicts.FAIL)

  def test_a_single_rate_or_seed_is_inconclusive(self):
    v = claims.entropy_falls_with_lr([5.0, 5.0], [1, 2], [2.0, 1.9], [False, False])
    self.assertEqual(v.verdict, verdicts.INCONCLUSIVE)
    self.assertIn('single η', v.measured)
    v = claims.entropy_falls_with_lr([1.0, 10.0], [1, 1], [2.0, 1.0], [False, False])
    self.assertEqual((v.n, v.verdict), (1, verdicts.INCONCLUSIVE))


class EntropyRisesWithLrFactorTest(absltest.TestCase):
  """The same statistic as entropy_falls_with_lr, its sign turned: calibrated on the same grids
  with the factor in place of η."""

  @staticmethod
  def _check(factor, seed, entropy, diverged):
    return claims.entropy_rises_with_lr_factor(factor, seed, entropy, diverged, 'Y_')

  def test_no_effect_rarely_passes(self):
    self.assertLessEqual(_pass_rate(self._check, _entropy_grid, 0.0), 0.05)

  def test_planted_rise_is_detected(self):
    # A rise of 0.5 nats across the factors (the grid's fall, turned).
    self.assertGreaterEqual(_pass_rate(self._check, _entropy_grid, -0.5), 0.8)

  def test_falling_entropy_fails_and_names_the_group(self):
    v = self._check(*_entropy_grid(np.random.default_rng(2), 1.0))
    self.assertEqual(v.verdict, verdicts.FAIL)
    self.assertEqual(v.claim, claims.FACTOR_CLAIM.format(pattern='Y_'))
    self.assertIn('fitted rise of H from factor of Y_=1 to factor of Y_=20', v.measured)

  def test_hand_case(self):
    factor = np.array([1.0, 10.0] * 2)
    seed = np.array([1, 1, 2, 2])
    entropy = np.array([1.0, 1.3, 2.0, 2.1])  # per seed a rise of 0.3 and 0.1 across the span
    v = self._check(factor, seed, entropy, np.zeros(4, bool))
    self.assertAlmostEqual(v.effect, 0.2, places=9)
    self.assertAlmostEqual(v.se, 0.1, places=9)


class AttentionFreezesTest(absltest.TestCase):

  def test_no_effect_rarely_passes(self):
    self.assertLessEqual(_pass_rate(claims.attention_freezes, _freezing_grid, 0.0), 0.05)

  def test_planted_fall_is_detected(self):
    # F falls by a factor e² over training: less than the tenfold fall of real runs.
    self.assertGreaterEqual(_pass_rate(claims.attention_freezes, _freezing_grid, 2.0), 0.8)

  def test_hand_case(self):
    # E − 1 = 6 evaluations: windows of 2. Seed 1: early mean 0.4, late max 0.1 and 0.2 (the
    # second run rises back); seed 2: early mean 0.2, late max 0.1; seed 3: 0.3 and 0.1.
    f = np.array([[np.nan] * 4, [0.5, 0.5, 0.3, 0.4], [0.3, 0.3, 0.1, 0.2],
                  [0.2, 0.2, 0.1, 0.2], [0.1, 0.1, 0.1, 0.1], [0.1, 0.05, 0.05, 0.1],
                  [0.05, 0.2, 0.1, 0.05]])
    v = claims.attention_freezes([1, 1, 2, 3], f, [False] * 4)
    falls = [np.mean([np.log(4), np.log(2)]), np.log(2), np.log(3)]
    self.assertAlmostEqual(v.effect, np.mean(falls), places=9)
    self.assertAlmostEqual(v.se, np.std(falls, ddof=1) / np.sqrt(3), places=9)
    self.assertEqual((v.n, v.verdict), (3, verdicts.PASS))  # t = 7.46, p = 0.0087

  def test_rising_again_fails(self):
    seed, f, diverged = _freezing_grid(np.random.default_rng(3), -2.0)
    self.assertEqual(claims.attention_freezes(seed, f, diverged).verdict, verdicts.FAIL)

  def test_too_few_evaluations_or_seeds_is_inconclusive(self):
    v = claims.attention_freezes([1, 2], np.array([[np.nan] * 2, [0.1, 0.2]]), [False, False])
    self.assertEqual(v.verdict, verdicts.INCONCLUSIVE)
    seed, f, diverged = _freezing_grid(np.random.default_rng(4), 2.0, num_seeds=1)
    self.assertEqual(claims.attention_freezes(seed, f, diverged).verdict,
                     verdicts.INCONCLUSIVE)


class AttendedWordsFreezeTest(absltest.TestCase):

  def test_steady_changes_rarely_pass(self):
    self.assertLessEqual(_pass_rate(_words_check, _words_grid, 0.0), 0.05)

  def test_planted_freeze_is_detected(self):
    # Every word's set freezes, each at a time drawn uniformly over training: φ − φ₀ ≈ 0.22 per
    # seed, within the 0.05–0.27 per seed of configs/wikitext2.py:sample and sample+fig7 (at
    # half that size, 0.11, the sample's mean, the test passes about half the grids).
    self.assertGreaterEqual(_pass_rate(_words_check, _words_grid, 1.0), 0.9)

  def test_changes_that_start_late_fail(self):
    grid = _words_grid(np.random.default_rng(5), 1.0, thaw=True)
    self.assertEqual(_words_check(*grid).verdict, verdicts.FAIL)

  def test_hand_case(self):
    # Two seeds of one run, three query words of which the third never occurs; seed 2's second
    # run diverged.
    frozen = np.array([[1.0, 0.5, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 0.0]])
    null = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 1.0], [1.0, 1.0, 0.0]])
    own = np.array([[0.5, 0.1, np.nan], [0.3, 0.3, np.nan], [0.9, 0.9, np.nan]])
    v = claims.attended_words_freeze([1, 2, 2], frozen, null, [True, True, False],
                                     np.zeros((3, 3)), own, [False, False, True], layer=1)
    self.assertEqual(v.claim, claims.WORDS_CLAIM.format(layer=1))
    self.assertAlmostEqual(v.effect, 0.25, places=12)  # both seeds: (0.5 + 0) / 2
    self.assertEqual(v.n, 2)
    self.assertIn('2 query words', v.measured)
    self.assertIn('1 diverged runs left out', v.measured)
    self.assertIn("own position at the end: 30%", v.measured)  # the kept runs' mean


class AttentionTurnsDenseTest(absltest.TestCase):

  def test_a_fall_that_stays_flat_rarely_passes(self):
    self.assertLessEqual(_pass_rate(_turn_check, _turn_grid, 0.0), 0.05)

  def test_a_rise_alone_rarely_passes(self):
    only_rise = lambda rng, rise: _turn_grid(rng, rise, fall=0.0)
    self.assertLessEqual(_pass_rate(_turn_check, only_rise, 0.2), 0.05)

  def test_planted_turn_is_detected(self):
    # A rise of 0.2 nats after the turn: the Y/Z model with Adam on the WikiText-2 sample turns
    # by 0.19 nats (lesser of fall and rise, mean over its 4 cells; 0.24–0.5 in the 2 that turn).
    self.assertGreaterEqual(_pass_rate(_turn_check, _turn_grid, 0.2), 0.75)

  def test_a_rise_after_the_validation_minimum_does_not_count(self):
    overfit = lambda rng, rise: _turn_grid(rng, rise, overfit=True)
    self.assertLessEqual(_pass_rate(_turn_check, overfit, 0.2), 0.05)

  def test_hand_case(self):
    # Four runs over 5 evaluations, pairs (1, 2) and (3, 4): seed 1 turns at 1 (read at 2) and
    # its validation loss is least at 3 (read at 4); seed 2 turns at 3, after its validation
    # minimum at 1; seed 3 diverged; seed 4's network lacks the layer.
    entropy = np.array([[2.0, 2.2, 2.0, np.nan], [1.0, 1.5, 1.0, np.nan],
                        [1.1, 1.4, np.nan, np.nan], [1.6, 1.2, 1.0, np.nan],
                        [1.5, 1.3, 1.0, np.nan]])
    loss = np.array([[5.0, 5.0, 5.0, 5.0], [4.0, 3.0, 4.0, 4.0], [4.0, 4.0, np.nan, 4.0],
                     [3.0, 4.0, 3.0, 3.0], [3.0, 4.0, 3.0, 3.0]])
    v = claims.attention_turns_dense([1, 2, 3, 4], entropy, loss, 10 * np.arange(5),
                                     [False, False, True, False], layer=1)
    self.assertEqual(v.claim, claims.TURN_CLAIM.format(layer=1))
    # Seed 1: fall 2.0 − 1.1, rise 1.5 − 1.1; seed 2: fall 2.2 − 1.3, rise 0 (minimum first).
    self.assertEqual(v.n, 2)
    self.assertAlmostEqual(v.effect, (0.4 + 0.0) / 2, places=12)
    self.assertIn('1 diverged runs and 1 without layer 1 left out', v.measured)
    self.assertIn('before the turn in 1 runs', v.measured)

  def test_too_few_evaluations_are_inconclusive(self):
    v = claims.attention_turns_dense([1, 2], np.ones((2, 2)), np.ones((2, 2)), [0, 10],
                                     [False, False], layer=0)
    self.assertEqual((v.n, v.verdict), (0, verdicts.INCONCLUSIVE))
    self.assertIn('at least 3 are needed', v.measured)


class RegistryTest(absltest.TestCase):

  def test_claims_of_a_hand_made_grid(self):
    # Two seeds × η ∈ {1, 10}, one layer; entropy falls with η, F falls, the loss rises back.
    runs = [{'seed': s, 'lr': lr} for s in (1, 2) for lr in (1., 10.)]
    maps = np.zeros((4, 4, 1, 1, 1, 2, 2))
    maps[..., 0] = 1.0
    for e, moved in enumerate([0.0, 0.4, 0.1, 0.05]):  # the probe map's second row moves
      maps[e:, ..., 1, :] += [-moved / 2, moved / 2]
    # Query word 0 attends to key group 0 then 1 at seed 1 (φ = 1/2 against φ₀ = 1/4: one change
    # in two intervals after the first evaluation, which is left out), to group 2 throughout at
    # seed 2 (φ = φ₀ = 1); query word 1 never occurs.
    token_mass = np.zeros((4, 4, 1, 2, 4))  # K + 1 = 3 key groups and the own position
    token_mass[:, :2, 0, 0] = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0],
                                        [0, 1, 0, 0]])[:, None]
    token_mass[:, 2:, 0, 0, 2] = 1.0
    history = {'step': np.array([0, 5, 10, 15]),
               'train/loss': np.array([[np.nan] * 4, [3.0] * 4, [2.0] * 4, [1.0] * 4]),
               'eval/loss': np.array([[3.0] * 4, [2.0] * 4, [1.5] * 4, [1.6] * 4]),
               'attn/entropy': np.array([[[0.6]] * 4] * 3 + [[[0.5], [0.3], [0.49], [0.3]]]),
               'attn/maps': maps, 'attn/token_mass': token_mass}
    c = config.wikitext_config()
    reported = results.Results(results.Readings.of(c), sweep.GridResult(
        run_config=tiny_text_run(steps_per_epoch=20), runs=runs, history=history,
        steps_trained=15), np.array([['a', 'b']]))
    entropy, factor, freezing, words, turn = [v for claim in claims.CLAIMS.values()
                                              for v in claim.checks(reported)]
    self.assertAlmostEqual(entropy.effect, 0.195, places=9)
    # No group's factor is an axis here: the factor's claim says so, inconclusive.
    self.assertEqual((factor.n, factor.verdict), (0, verdicts.INCONCLUSIVE))
    self.assertIn('no group of optimizer.lr_groups has a tuple of factors', factor.measured)
    self.assertEqual((entropy.claim, entropy.n, entropy.verdict),
                     (claims.ENTROPY_CLAIM, 2, verdicts.PASS))
    self.assertEqual((freezing.claim, freezing.n, freezing.verdict),
                     (claims.FREEZING_CLAIM, 2, verdicts.PASS))
    f = reported.freezing[:, 0, 0]  # E − 1 = 3 evaluations: windows of one
    self.assertLess(f[3], f[2])
    self.assertAlmostEqual(freezing.effect, np.log(f[1] / f[3]), places=9)
    self.assertIn('ends above its minimum in 4 of 4 runs', freezing.measured)
    self.assertEqual((words.claim, words.n), (claims.WORDS_CLAIM.format(layer=0), 2))
    self.assertAlmostEqual(words.effect, (0.25 + 0.0) / 2, places=12)
    self.assertIn('1 query words', words.measured)
    # Each run's turn, on the other seed of its rate, is the last evaluation: no rise after it.
    self.assertEqual((turn.claim, turn.n, turn.effect, turn.verdict),
                     (claims.TURN_CLAIM.format(layer=0), 2, 0.0, verdicts.INCONCLUSIVE))


if __name__ == '__main__':
  absltest.main()
