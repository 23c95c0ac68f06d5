"""The phase diagram: cells keyed by grid indices, their statistics against the runs, the
kept-last-step metrics, and its verdicts on planted and absent effects."""

import dataclasses
import math

from absl.testing import absltest
import jax
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import pipeline
from scan_snap.core import verdicts
from scan_snap.sequence_classes import calibration
from scan_snap.sequence_classes.claims import common
from scan_snap.sequence_classes.claims import learning_rates
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import experiment
from scan_snap.sequence_classes import results
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train
from tests.testing import load_config


def _tiny(figures=('phase_diagram',), **optimizer):
  """The smoke phase diagram, made smaller: 3 × 3 rates, 2 seeds, 8 steps."""
  c = load_config('phase_diagram', 'smoke')
  with c.unlocked():
    c.optimizer.lr_z = c.optimizer.lr_y = (0.1, 10.0, 1000.0)
    c.optimizer.update(optimizer)
    c.figures.names = figures
    c.sweep.num_seeds = 2
    c.train.steps = 8
  pipeline.plan(c)
  return c


def _results(c) -> results.Results:
  grid = config.grid(c)
  trained = sweep.Sweep(grid.runs, grid.seeds, grid.pairs, c.sweep.seeds_per_device,
                        pairs_per_block=c.sweep.pairs_per_block).train()
  return results.Results(grid, results.Readings.of(c), trained.groups)


class CellsTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.c = _tiny()
    cls.results = _results(cls.c)

  def test_a_cell_is_its_index_on_the_axes(self):
    group, (num_z, num_y) = self.results.groups[0], config.grid(self.c).shape
    np.testing.assert_array_equal(group.cell, np.tile(np.arange(num_z * num_y), 2))
    laid_out = self.results.cells(group, group.cell)  # [seeds, i_z, i_y]
    np.testing.assert_array_equal(laid_out, np.broadcast_to(
        np.arange(num_z)[:, None] * num_y + np.arange(num_y), (2, num_z, num_y)))
    lr_z, lr_y = config.grid(self.c).cell_rates()
    np.testing.assert_array_equal(self.results.cells(group, group.lr_y),
                                  np.broadcast_to(lr_y.astype(np.float32), laid_out.shape))
    np.testing.assert_array_equal(self.results.cells(group, group.lr_z),
                                  np.broadcast_to(lr_z.astype(np.float32), laid_out.shape))

  def test_a_group_that_is_not_the_grid_is_refused(self):
    group = self.results.groups[0]
    half = dataclasses.replace(group, seed=group.seed[::2], cell=group.cell[::2])
    with self.assertRaisesRegex(ValueError, "not the config's grid"):
      self.results.cells(half, group.lr_y[::2])

  def test_rates_compare_as_a_config_writes_them(self):
    self.assertEqual(results.as_written(float(np.float32(0.3))), 0.3)
    trained = float(np.float32(0.03)) / float(np.float32(0.003))  # 9.9999997
    self.assertLess(trained, 10)
    self.assertEqual(results.as_written(trained), 10.0)
    self.assertEqual(results.as_written(np.float32(0.3) / np.float32(0.03)), 10.0)  # 10.000001
    self.assertNotEqual(results.as_written(0.30001), 0.3)
    self.assertTrue(results.same_rate(float(np.float32(0.3)), 0.3))
    self.assertFalse(results.same_rate(0.30001, 0.3))
    np.testing.assert_array_equal(results.as_written(np.float32([[0.1, 0.7]])), [[0.1, 0.7]])

  def test_cells_are_the_per_cell_statistics_of_the_runs(self):
    """Each row of phase_diagram.csv from the per-run rows, grouped by the run's position in
    the grid (seed-major, η_Z-major), not by its float rates."""
    rows, table = self.results.rows, self.results.phase_diagram
    num_y = len(self.c.optimizer.lr_y)
    self.assertLen(table, len(self.c.optimizer.lr_z) * num_y)
    t0, steps = self.results.t0[0], self.results.steps_to_loss[0]
    for cell in table:
      pair = cell['lr_z_index'] * num_y + cell['lr_y_index']
      runs = [r for r in range(len(rows)) if r % (len(rows) // 2) == pair]
      self.assertEqual({rows[r]['seed'] for r in runs}, {1, 2})
      for r in runs:
        self.assertTrue(math.isclose(rows[r]['lr_z'], cell['lr_z'], rel_tol=1e-6))
        self.assertTrue(math.isclose(rows[r]['lr_y'], cell['lr_y'], rel_tol=1e-6))
      kept = [r for r in runs if not rows[r]['diverged']]
      self.assertEqual(cell['num_runs'], len(kept))
      self.assertAlmostEqual(cell['diverged_fraction'], 1 - len(kept) / len(runs))
      entropy = np.array([rows[r]['entropy'] for r in kept])
      if len(kept) == 2:
        self.assertAlmostEqual(cell['entropy_mean'], entropy.mean(), places=6)
        self.assertAlmostEqual(cell['entropy_se'], abs(entropy[0] - entropy[1]) / 2, places=6)
      reached = [steps[r] for r in kept if np.isfinite(steps[r])]
      if reached:
        self.assertAlmostEqual(cell['steps_to_loss_mean'], np.mean(reached))
        self.assertAlmostEqual(cell['reached_loss_fraction'], len(reached) / len(kept))
      found = [t0[r] for r in kept if np.isfinite(t0[r])]
      self.assertEqual(math.isnan(cell['t0_mean']), not found)
      if found:
        self.assertAlmostEqual(cell['t0_mean'], np.mean(found))
        self.assertAlmostEqual(cell['t0_found_fraction'], len(found) / len(kept))

  def test_rates_that_round_alike_stay_apart(self):
    """Relative rates: 0.1 × 3 and 0.3 × 1 are one float η_Y, in two cells."""
    c = _tiny(figures=(), lr_z=(0.1, 0.3), lr_y=(1.0, 3.0), lr_y_relative=True)
    with c.unlocked():
      c.train.steps = 2
    table = _results(c).phase_diagram
    self.assertEqual([(r['lr_z_index'], r['lr_y_index']) for r in table],
                     [(0, 0), (0, 1), (1, 0), (1, 1)])
    self.assertAlmostEqual(table[1]['lr_y'], table[2]['lr_y'])

  def test_last_step_only_keeps_the_same_final_values(self):
    run_config = config.run_config(self.c, 5)
    full = jax.jit(train.make_train(dataclasses.replace(run_config, trajectories=True)))
    last = jax.jit(train.make_train(run_config))
    _, a = full(jax.random.key(1), 10.0, 1.0)
    _, b = last(jax.random.key(1), 10.0, 1.0)
    self.assertEqual(b['attn/logits'].shape[0], 1)
    np.testing.assert_array_equal(a['attn/logits'][-1:], b['attn/logits'])
    np.testing.assert_array_equal(a['attn/ctilde'][-1:], b['attn/ctilde'])
    np.testing.assert_array_equal(a['attn/entropy'], b['attn/entropy'])
    np.testing.assert_array_equal(
        a['attn/top_logit'], a['attn/logits'][:, 0, run_config.data.top_distinct_slot()])

  def test_bad_values_of_the_new_keys_are_named(self):
    c = load_config('phase_diagram', 'smoke')
    with c.unlocked():
      c.train.eval_batches = -1
      c.figures.marked_lr_z = (0.0, 1.0)
      c.sweep.pairs_per_block = 0
    with self.assertRaises(core_config.ConfigError) as raised:
      pipeline.plan(c)
    for key in ('train.eval_batches', 'figures.marked_lr_z', 'sweep.pairs_per_block'):
      self.assertIn(key, str(raised.exception))

  def test_memory_estimate_holds_one_block_of_pairs(self):
    # The 1,024 pairs in blocks of 64: one block's training state is held at a time, and
    # every pair's curves.
    c = load_config('phase_diagram')
    blocked = experiment.footprint(pipeline.plan(c))['memory_bytes']
    with c.unlocked():
      c.sweep.pairs_per_block = 1024
    self.assertGreater(experiment.footprint(pipeline.plan(c))['memory_bytes'], 3 * blocked)

  def test_heat_maps_need_absolute_rates(self):
    with self.assertRaisesRegex(core_config.ConfigError, 'lr_y_relative'):
      _tiny(lr_y_relative=True)

  def test_trajectory_figures_and_claims_need_trajectories(self):
    c = _tiny()
    with c.unlocked():
      c.figures.names = ('attention_snapshots',)
    with self.assertRaisesRegex(core_config.ConfigError, 'train.trajectories'):
      pipeline.plan(c)

  def test_rays_need_a_grid_with_rays(self):
    rays = learning_rates.ray_index(config.grid(self.c))
    self.assertEqual(rays.min(), 0)  # every ray counts, those below η_Y = η_Z too
    self.assertLen(np.unique(rays), 2 * 3 - 1)
    self.assertEqual(rays[0, 0], rays[2, 2])
    c = load_config('phase_diagram', 'smoke')
    with c.unlocked():
      c.optimizer.lr_y = (0.2, 3.0, 50.0)
    self.assertIsNone(learning_rates.ray_index(c.optimizer))
    with self.assertRaisesRegex(core_config.ConfigError, 'rays'):
      pipeline.plan(c)


class VerdictsTest(absltest.TestCase):
  """Null and planted rates are calibration.CALIBRATIONS' (claims_test); here, hand cases and
  opposite effects."""

  def test_line_slopes_on_a_hand_grid(self):
    values = np.array([[0.0, 1.0, 2.0, 5.0, np.nan, 7.0],
                       [0.0, -2.0, -4.0, 1.0, 1.0, 1.0]])
    x = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
    slopes = common.line_slopes(values, x, np.array([0, 0, 0, 1, 1, 1]))
    self.assertEqual(slopes[0], {0: 1.0, 1: -2.0})
    self.assertEqual(slopes[1], {1: 0.0})  # Seed 0 has two finite cells on line 1.

  def _verdict(self, which, **planted):
    return calibration.phase_plane(np.random.default_rng(0), which=which, **planted).verdict

  def test_opposite_effects_fail(self):
    self.assertEqual(self._verdict(0, sparser=0.05), verdicts.FAIL)
    self.assertEqual(self._verdict(1, denser=-0.05), verdicts.FAIL)
    self.assertEqual(self._verdict(2, t0_power=-0.5), verdicts.FAIL)
    self.assertEqual(self._verdict(3, t0_power=0.4), verdicts.FAIL)

  def test_where_the_window_slope_changes_sign(self):
    rng = np.random.default_rng(0)
    slopes = {line: dict(enumerate(sign * 0.1 + rng.normal(0, 0.01, 10)))
              for line, sign in enumerate((1, 1, 0, -1, 1))}
    self.assertEqual(learning_rates.signs_by_line(slopes, np.array([0.1, 0.2, 0.3, 0.4, 0.5])),
                     'above 0 at 0.1–0.2, 0.5; below 0 at 0.4')


if __name__ == '__main__':
  absltest.main()
