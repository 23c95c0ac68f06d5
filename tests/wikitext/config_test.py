"""The WikiText configs: the shipped files, the checks of every key, the grid."""

from absl.testing import absltest
from absl.testing import parameterized

from scan_snap.core import config
from scan_snap.core import pipeline
from scan_snap.wikitext import config as text_config
from tests.testing import ROOT, load_config


class ConfigTest(parameterized.TestCase):

  @parameterized.parameters('wikitext2', 'wikitext103')
  def test_config_files_are_valid_and_documented(self, name):
    c = load_config(name)
    c.data.dir = '/some/folder'
    pipeline.plan(c)
    doc = (ROOT / 'configs' / f'{name}.py').read_text()
    self.assertIn(f'python -m scan_snap.main --config=configs/{name}.py', doc)
    self.assertIn(f'--config=configs/{name}.py:smoke', doc)

  def test_every_problem_is_listed(self):
    c = load_config('wikitext2', 'sample')  # data.dir left empty
    c.data.bptt = 0
    c.model.num_heads = 3  # does not divide 200
    c.optimizer.lr_attention = (1.0, -1.0)
    c.train.checkpoint_every = 75
    c.data.variant = 'parquet'
    c.sweep.runs_per_device = 0
    c.optimizer.weight_decay = -0.1
    c.report.claims = ('attention_freezes', 'entropy_rises')
    with self.assertRaises(config.ConfigError) as raised:
      pipeline.plan(c)
    message = str(raised.exception)
    for key in ('data.dir', 'data.bptt', 'model.num_heads', 'optimizer.lr_attention',
                'train.checkpoint_every', 'data.variant', 'sweep.runs_per_device',
                'optimizer.weight_decay', 'report.claims'):
      self.assertIn(f'config.{key} =', message)

  def test_a_learning_rate_pair_given_twice_is_refused(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    c.optimizer.lr_other_relative = True
    c.optimizer.lr_attention, c.optimizer.lr_other = (0.0, 1.0), (1.0, 2.0)  # 0 × 1 and 0 × 2
    with self.assertRaisesRegex(config.ConfigError, r'config.optimizer.lr_other = .*gives the '
                                r'pairs \(lr_attention, lr_other\) = \[\(0.0, 0.0\)\] more than once'):
      pipeline.plan(c)
    c.optimizer.lr_other_relative = False  # (0, 1), (0, 2), (1, 1), (1, 2): four cells.
    pipeline.plan(c)

  def test_grid_is_seed_major_with_relative_rates(self):
    c = load_config('wikitext2', 'sample')
    c.sweep.num_seeds = 2
    c.optimizer.lr_other = (1.0, 2.0)
    runs = text_config.grid(c)
    self.assertLen(runs, 2 * 3 * 2)
    self.assertEqual(runs[1], {'seed': 1, 'lr_attention': 1.0, 'lr_other': 2.0})
    self.assertEqual(runs[6]['seed'], 2)


if __name__ == '__main__':
  absltest.main()
