"""What the WikiText experiment reports: the freezing measure, uniform attention's entropy, and
the rows, summary, metrics lines and trajectories of a hand-made history."""

import math

from absl.testing import absltest
import numpy as np

from scan_snap.wikitext import config
from scan_snap.wikitext import results
from scan_snap.wikitext import sweep
from tests.testing import tiny_text_run


_PROBE_WORDS = np.array([['the', 'end']])


def _config():
  return config.wikitext_config()


def _hand_made() -> sweep.GridResult:
  """Three evaluations of two runs (one layer, one probe, one head, L = 2); the second run's
  training loss becomes infinite."""
  maps = np.zeros((3, 2, 1, 1, 1, 2, 2))
  maps[..., 0, 0] = maps[..., 1, 0] = 1.0  # ‖A‖_F² = 2
  maps[2, 0, ..., 1, :] = [0.5, 0.5]  # run 0 moves by 1/√2 at the last evaluation
  history = {'step': np.array([0, 5, 10]),
             'train/loss': np.array([[np.nan, np.nan], [2.0, 3.0], [1.0, np.inf]]),
             'eval/loss': np.array([[3.0, 3.0], [2.5, 2.0], [2.0, np.nan]]),
             'attn/entropy': np.array([[[0.6], [0.6]], [[0.5], [0.4]], [[0.3], [np.nan]]]),
             'attn/maps': maps}
  runs = [{'seed': 1, 'lr': 1.0}, {'seed': 1, 'lr': 10.0}]
  return sweep.GridResult(run_config=tiny_text_run(steps_per_epoch=20), runs=runs,
                          history=history, steps_trained=10)


class ResultsTest(absltest.TestCase):

  def test_freezing_measure(self):
    before = np.zeros((2, 1, 1, 2, 2))
    before[..., 0, 0] = before[..., 1, 0] = 1.0  # ‖A‖_F² = 2 per layer
    after = before.copy()
    after[1, ..., 1, :] = [0.5, 0.5]  # layer 1 moves by ‖(−0.5, 0.5)‖ = 1/√2
    np.testing.assert_allclose(results.freezing(before, after), [0.0, 0.5], atol=1e-12)

  def test_mean_uniform_entropy(self):
    self.assertAlmostEqual(results.mean_uniform_entropy(3), (np.log(2) + np.log(3)) / 3,
                           places=12)

  def test_rows_and_summary(self):
    reported = results.Results(results.Readings.of(_config()), _hand_made(), _PROBE_WORDS)
    np.testing.assert_allclose(reported.freezing[:, :, 0], [[np.nan, np.nan], [0.0, 0.0],
                                                            [0.5, 0.0]])
    self.assertEqual(reported.rows[0], {
        'seed': 1, 'lr': 1.0, 'steps': 10, 'epochs': 0.5,
        'final_train_loss': 1.0, 'final_val_loss': 2.0, 'final_val_ppl': math.exp(2.0),
        'attn_entropy/layer0': 0.3, 'attn_freezing/layer0': 0.5, 'diverged': False})
    self.assertTrue(reported.rows[1]['diverged'])
    self.assertEqual(reported.num_diverged, 1)
    first = dict(reported.summary[0])
    for key in ('final_val_loss_std', 'attn_entropy/layer0_std'):  # One seed: no std.
      self.assertTrue(math.isnan(first.pop(key)), key)
    self.assertEqual(first, {'lr': 1.0, 'num_runs': 1,
                             'num_diverged': 0, 'final_val_loss_mean': 2.0,
                             'attn_entropy/layer0_mean': 0.3})
    self.assertEqual((reported.summary[1]['num_runs'], reported.summary[1]['num_diverged']),
                     (0, 1))

  def test_metric_lines_say_none_for_what_is_not_finite(self):
    lines = results.Results(results.Readings.of(_config()), _hand_made(), _PROBE_WORDS).metric_lines()
    self.assertLen(lines, 3 * 2)  # evaluation-major
    self.assertEqual(lines[0], {
        'step': 0, 'epoch': 0.0, 'seed': 1, 'lr': 1.0,
        'train_loss': None, 'val_loss': 3.0, 'val_ppl': math.exp(3.0),
        'attn_entropy/layer0': 0.6, 'attn_freezing/layer0': None})
    last = lines[-1]
    self.assertEqual((last['step'], last['lr']), (10, 10.0))
    self.assertEqual([last[k] for k in ('train_loss', 'val_loss', 'val_ppl',
                                        'attn_entropy/layer0')], [None] * 4)

  def test_trajectories_keep_their_file_names(self):
    trained = _hand_made()
    arrays = results.Results(results.Readings.of(_config()), trained, _PROBE_WORDS).trajectories()
    self.assertEqual(list(arrays), ['step', 'train_loss', 'val_loss', 'attn_entropy',
                                    'attn_maps', 'attn_freezing', 'seed', 'lr'])
    np.testing.assert_array_equal(arrays['val_loss'], trained.history['eval/loss'])
    np.testing.assert_array_equal(arrays['lr'], [1.0, 10.0])


if __name__ == '__main__':
  absltest.main()
