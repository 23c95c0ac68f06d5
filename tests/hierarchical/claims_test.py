"""The hierarchical claims: their tests on planted effects, on no effect, and on a cell that
goes the other way; the results' own-block readings on a hand-made grid."""

from absl.testing import absltest
import numpy as np

from scan_snap.core import verdicts
from scan_snap.hierarchical import claims
from scan_snap.hierarchical import data
from scan_snap.hierarchical import model
from scan_snap.hierarchical import results
from scan_snap.hierarchical import sweep
from scan_snap.hierarchical import train

RUNS = [{'num_layers': depth, 'seed': s, 'lr': 0.01} for depth in (1, 2, 4) for s in range(5)]
_GRIDS = 400  # simulated grids per rate
# The shipped grid: depths 1, 2, 4 at one η, 10 seeds.
SHIPPED = [{'num_layers': depth, 'seed': s, 'lr': 0.01} for depth in (1, 2, 4)
           for s in range(10)]
# The seed sd of a score's change over training, and of own − best other block, per cell on
# configs/hierarchical.py: 0.028 to 0.075 (5 seeds); simulated at 0.06.
_SEED_SD = 0.06


def per_run(by_depth: dict[int, float], rng: np.random.Generator, sd: float) -> np.ndarray:
  return np.array([by_depth[r['num_layers']] + sd * rng.normal() for r in RUNS])


def _simulated(rng: np.random.Generator, effect: float, level: int = 0):
  """Per run of SHIPPED: a score 0.8 (NaN without a block `level`) and the same + `effect`
  + seed noise (sd _SEED_SD)."""
  base = np.where([r['num_layers'] > level for r in SHIPPED], 0.8, np.nan)
  return base, base + effect + _SEED_SD * rng.normal(size=len(SHIPPED))


def pass_rate(check, effect: float, level: int = 0) -> float:
  rng = np.random.default_rng(0)
  return float(np.mean([check(*_simulated(rng, effect, level), SHIPPED, level).verdict
                        == verdicts.PASS for _ in range(_GRIDS)]))


def _margin(own, other, runs, level):
  """levels_in_own_blocks of a simulated pair (base, base + effect + noise), read as (best
  other block, own block): its margin is effect + noise."""
  return claims.levels_in_own_blocks(other, own, runs, level)


class CalibrationTest(absltest.TestCase):
  """False passes on simulated shipped grids with no effect, and the detection of a planted
  effect of 0.1 (a rise of an eighth of the score at init, about 0.8; the measured gaps between
  blocks are 0.11 to 0.14), 400 grids each (docs/reference.md gives the rates)."""

  def test_no_effect_rarely_passes(self):
    self.assertLessEqual(pass_rate(claims.latents_learned, 0.0), 0.05)
    self.assertLessEqual(pass_rate(claims.latents_learned, 0.0, level=1), 0.05)
    self.assertLessEqual(pass_rate(_margin, 0.0), 0.05)

  def test_planted_effect_is_detected(self):
    self.assertGreaterEqual(pass_rate(claims.latents_learned, 0.1), 0.8)
    self.assertGreaterEqual(pass_rate(claims.latents_learned, 0.1, level=1), 0.8)
    self.assertGreaterEqual(pass_rate(_margin, 0.1), 0.8)


# configs/hierarchical.py:yz: 2 blocks × η ∈ {1, 3, 10} × 10 seeds.
YZ_RUNS = [{'num_layers': 2, 'seed': s, 'lr': lr} for s in range(10) for lr in (1.0, 3.0, 10.0)]


def _snapping_steps(rng: np.random.Generator, lag: float) -> np.ndarray:
  """t₀ of blocks 0 and 1 per run of YZ_RUNS: block 0 at 270, 100 or 50 steps by η (sd 20),
  block 1 `lag` steps later with run noise sd 17 (per seed, over its 3 runs: 10, as measured),
  7% of the runs unsnapped (2 of 30 measured)."""
  t0 = np.array([{1.0: 270, 3.0: 100, 10.0: 50}[r['lr']] for r in YZ_RUNS]) + rng.normal(0, 20, 30)
  t1 = t0 + lag + rng.normal(0, 17, 30)
  t1[rng.random(30) < 0.07] = np.nan
  return np.stack([t0, t1], axis=1)


class SnappingOrderTest(absltest.TestCase):
  """layers_snap_in_order on simulated :yz grids (400 each): false passes with no lag, the
  detection of a lag of 15 steps (measured: 17 ± 3), and hand cases."""

  def _pass_rate(self, lag: float) -> float:
    rng = np.random.default_rng(0)
    return float(np.mean([claims.layers_snap_in_order(_snapping_steps(rng, lag), YZ_RUNS).verdict
                          == verdicts.PASS for _ in range(_GRIDS)]))

  def test_no_lag_rarely_passes_and_a_planted_one_is_detected(self):
    self.assertLessEqual(self._pass_rate(0.0), 0.05)
    self.assertGreaterEqual(self._pass_rate(15.0), 0.8)

  def test_second_layer_first_fails_and_unsnapped_runs_are_counted(self):
    t0 = np.tile([100.0, 60.0], (len(YZ_RUNS), 1)) + np.random.default_rng(1).normal(
        0, 5, (len(YZ_RUNS), 2))
    t0[0, 1] = np.nan
    verdict = claims.layers_snap_in_order(t0, YZ_RUNS)
    self.assertEqual(verdict.verdict, verdicts.FAIL)
    self.assertIn('1 of 30 runs of ≥ 2 blocks left out', verdict.measured)


class LatentsLearnedTest(absltest.TestCase):

  def test_a_rise_in_every_cell_passes(self):
    rng = np.random.default_rng(0)
    init = per_run({1: 0.6, 2: 0.6, 4: 0.6}, rng, 0.0)
    final = per_run({1: 0.65, 2: 0.66, 4: 0.64}, rng, 0.01)
    verdict = claims.latents_learned(init, final, RUNS, 0)
    self.assertEqual(verdict.verdict, verdicts.PASS, verdict)
    self.assertIn('3 cells', verdict.test)

  def test_no_rise_does_not_pass(self):
    rng = np.random.default_rng(1)
    init = per_run({1: 0.6, 2: 0.6, 4: 0.6}, rng, 0.0)
    final = per_run({1: 0.6, 2: 0.6, 4: 0.6}, rng, 0.01)
    self.assertNotEqual(claims.latents_learned(init, final, RUNS, 0).verdict, verdicts.PASS)

  def test_one_falling_cell_fails_and_is_named(self):
    rng = np.random.default_rng(2)
    init = per_run({1: 0.6, 2: 0.6, 4: 0.6}, rng, 0.0)
    final = per_run({1: 0.65, 2: 0.55, 4: 0.65}, rng, 0.005)
    verdict = claims.latents_learned(init, final, RUNS, 0)
    self.assertEqual(verdict.verdict, verdicts.FAIL)
    self.assertIn('least supported: 2 blocks, η = 0.01', verdict.measured)

  def test_level_one_reads_the_networks_with_a_block_one(self):
    rng = np.random.default_rng(3)
    init = per_run({1: np.nan, 2: 0.6, 4: 0.6}, rng, 0.0)
    final = per_run({1: np.nan, 2: 0.7, 4: 0.7}, rng, 0.01)
    verdict = claims.latents_learned(init, final, RUNS, 1)
    self.assertEqual(verdict.verdict, verdicts.PASS)
    self.assertIn('2 cells', verdict.test)


class OwnBlocksTest(absltest.TestCase):

  def test_own_block_above_the_others_passes_and_below_fails(self):
    rng = np.random.default_rng(4)
    own = per_run({1: 0.7, 2: 0.7, 4: 0.7}, rng, 0.01)
    other = per_run({1: np.nan, 2: 0.6, 4: 0.6}, rng, 0.01)
    verdict = claims.levels_in_own_blocks(own, other, RUNS, 0)
    self.assertEqual(verdict.verdict, verdicts.PASS)
    self.assertIn('2 cells', verdict.test)  # a network of one block has no other block
    self.assertEqual(claims.levels_in_own_blocks(other, own, RUNS, 0).verdict, verdicts.FAIL)
    equal = claims.levels_in_own_blocks(own, own + 0.01 * rng.normal(size=len(own)), RUNS, 0)
    self.assertNotEqual(equal.verdict, verdicts.PASS)


class ResultsTest(absltest.TestCase):

  def test_own_and_best_other_block_of_a_hand_made_grid(self):
    spec = data.LatentTree()
    groups = []
    for depth in (1, 2):
      rc = train.RunConfig(spec, model.TransformerConfig(20, 10, num_layers=depth), None, 8, 8,
                           10, 10)
      score = np.arange(2 * depth, dtype=float).reshape(1, 1, 2, depth).repeat(2, axis=0)
      history = {'step': np.array([0, 10]), 'train/loss': np.array([[np.nan], [1.0]]),
                 'eval/loss': np.array([[2.0], [1.0]]), 'eval/accuracy': np.array([[0.], [1.]]),
                 'attn/entropy': np.ones((2, 1, depth)),
                 'score/centred': score, 'score/uncentred': score}
      groups.append(sweep.GroupResult(rc, [{'seed': 1, 'lr': 0.01}], history, 10))
    reported = results.Results(groups)
    # depth 1: score [[0], [1]]; depth 2: [[0, 1], [2, 3]] (level, block)
    np.testing.assert_array_equal(reported.own_block()[-1], [[0, np.nan], [0, 3]])
    np.testing.assert_array_equal(reported.best_other_block()[-1], [[np.nan, np.nan], [1, 2]])
    self.assertEqual([r['num_layers'] for r in reported.rows], [1, 2])
    self.assertEqual(reported.rows[1]['level1_best_other_block'], 2)
    self.assertFalse(any(row['diverged'] for row in reported.rows))


if __name__ == '__main__':
  absltest.main()
