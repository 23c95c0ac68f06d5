"""What the WikiText experiment reports: uniform attention's entropy, and the rows, summary,
metrics lines and trajectories of a hand-made history."""

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
  training loss becomes infinite. Of the token masses (Q = 3 query words, K + 1 = 3 key groups
  and the own position), word 0 attends to group 0 throughout (and 4 times as much to its own
  position: it occurs 20 times), word 1 to group 1 and then to group 2 at step 10, and word 2
  never occurs. After the first evaluation (left out): word 0's set is frozen from step 5 on
  (φ = 1), word 1's from step 10 (φ = 0)."""
  token_mass = np.zeros((3, 2, 1, 3, 4))
  token_mass[:, :, :, 0, 0] = 4.0
  token_mass[:, :, :, 0, 3] = 16.0
  token_mass[:2, :, :, 1, 1] = token_mass[2:, :, :, 1, 2] = 2.0
  maps = np.zeros((3, 2, 1, 1, 1, 2, 2))
  maps[..., 0, 0] = maps[..., 1, 0] = 1.0  # ‖A‖_F² = 2
  maps[2, 0, ..., 1, :] = [0.5, 0.5]  # run 0 moves by 1/√2 at the last evaluation
  history = {'step': np.array([0, 5, 10]),
             'train/loss': np.array([[np.nan, np.nan], [2.0, 3.0], [1.0, np.inf]]),
             'eval/loss': np.array([[3.0, 3.0], [2.5, 2.0], [2.0, np.nan]]),
             'attn/entropy': np.array([[[0.6], [0.6]], [[0.5], [0.4]], [[0.3], [np.nan]]]),
             'attn/token_mass': token_mass, 'attn/maps': maps}
  runs = [{'seed': 1, 'lr': 1.0}, {'seed': 1, 'lr': 10.0}]
  return sweep.GridResult(run_config=tiny_text_run(steps_per_epoch=20), runs=runs,
                          history=history, steps_trained=10)


class ResultsTest(absltest.TestCase):

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
        'attn_entropy/layer0': 0.3, 'attn_freezing/layer0': 0.5,
        'attended_frozen/layer0': 0.5, 'attended_freeze_step/layer0': 7.5,
        'attended_own/layer0': 0.4, 'diverged': False})
    np.testing.assert_array_equal(reported.attended.occurs, [True, True, False])
    np.testing.assert_array_equal(reported.attended.frozen[0, 0, :2], [1.0, 0.0])
    np.testing.assert_array_equal(reported.attended.changes[:, 0, 0, :2], [[False, True]])
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

  def test_a_diverged_first_run_leaves_the_words_that_occur(self):
    trained = _hand_made()
    trained.history['attn/token_mass'][1:, 0] = np.nan  # run 0 diverges after step 0
    attended = results.Results(results.Readings.of(_config()), trained, _PROBE_WORDS).attended
    np.testing.assert_array_equal(attended.occurs, [True, True, False])
    for reading in (attended.own, attended.frozen, attended.null, attended.freeze_step):
      self.assertTrue(np.isnan(reading[0]).all())  # marked, not read as sets that froze
    np.testing.assert_array_equal(attended.frozen[1, 0, :2], [1.0, 0.0])
    self.assertAlmostEqual(attended.own[1, 0, 0], 0.8)  # 16 of its 20 occurrences' attention

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
                                    'attn_token_mass', 'attn_maps', 'attn_freezing',
                                    'attended_frozen', 'attended_null', 'attended_freeze_step', 'attended_own',
                                    'seed', 'lr'])
    np.testing.assert_array_equal(arrays['val_loss'], trained.history['eval/loss'])
    np.testing.assert_array_equal(arrays['lr'], [1.0, 10.0])


if __name__ == '__main__':
  absltest.main()
