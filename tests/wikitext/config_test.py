"""The WikiText configs: the shipped files, the checks of every key, the grid."""

from absl.testing import absltest
from absl.testing import parameterized

from scan_snap.core import config
from scan_snap.core import pipeline
from scan_snap.wikitext import config as text_config
from tests.testing import ROOT, load_config


class ConfigTest(parameterized.TestCase):

  @parameterized.parameters('wikitext2', 'wikitext103', 'wikitext2_yz')
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
    c.optimizer.lr = (1.0, -1.0)
    c.train.checkpoint_every = 75
    c.data.variant = 'parquet'
    c.sweep.runs_per_device = 0
    c.optimizer.weight_decay = -0.1
    c.data.tokenizer = 'spacy'
    c.model.init = 'xavier'
    c.report.claims = ('attention_freezes', 'entropy_rises')
    c.data.train_split = 'validation+validation'
    c.data.heldout_tokens = 0  # with eval_split 'heldout'
    c.eval.query_tokens = 0
    c.report.attended_mass = 1.0
    with self.assertRaises(config.ConfigError) as raised:
      pipeline.plan(c)
    message = str(raised.exception)
    for key in ('data.dir', 'data.bptt', 'model.num_heads', 'optimizer.lr',
                'train.checkpoint_every', 'data.variant', 'sweep.runs_per_device',
                'optimizer.weight_decay', 'data.tokenizer', 'model.init', 'report.claims',
                'data.train_split', 'data.heldout_tokens', 'eval.query_tokens',
                'report.attended_mass'):
      self.assertIn(f'config.{key} =', message)

  def test_the_yz_model_keys_are_checked(self):
    c = load_config('wikitext2_yz')
    c.data.dir = '/some/folder'
    c.model.num_layers = 2
    c.model.dropout = 0.2
    c.model.kind = 'yz'
    c.optimizer.lr_groups = (('Y_', (1.0, 3.0, 1.0 + 1e-9)), ('blocks', 2.0))
    with self.assertRaises(config.ConfigError) as raised:
      pipeline.plan(c)
    message = str(raised.exception)
    self.assertIn("config.model.num_layers = 2: must be 1 with model.kind = 'yz'", message)
    self.assertIn("config.model.dropout = 0.2: must be 0 with model.kind = 'yz'", message)
    self.assertIn("holds 'blocks', which names no parameter", message)
    c.model.num_layers, c.model.dropout = 1, 0.0
    c.optimizer.lr_groups = (('Y_', (1.0, 3.0, 1.0 + 1e-9)),)
    with self.assertRaisesRegex(config.ConfigError, r"factor of 'Y_' = \[1.0\] more than once"):
      pipeline.plan(c)
    c.model.kind = 'rnn'
    with self.assertRaisesRegex(config.ConfigError, r"config.model.kind = 'rnn': must be one of"):
      pipeline.plan(c)

  def test_an_axis_group_multiplies_the_grid(self):
    c = load_config('wikitext2_yz')
    c.optimizer.lr = (1.0, 3.0)
    c.optimizer.lr_groups = (('Y_', (1.0, 10.0)), ('Z_key', 0.5))
    c.sweep.num_seeds = 2
    runs = text_config.grid(c)
    self.assertEqual([(r['seed'], r['lr'], r['lr_factor[Y_]']) for r in runs],
                     [(s, lr, f) for s in (1, 2) for lr in (1.0, 3.0) for f in (1.0, 10.0)])
    self.assertEqual(set(runs[0]), {'seed', 'lr', 'lr_factor[Y_]'})  # fixed groups: no key
    rc = text_config.run_config(c, vocab_size=50, steps_per_epoch=10)
    self.assertEqual(rc.lr_groups, (('Y_', (1.0, 10.0)), ('Z_key', 0.5)))
    self.assertEqual((type(rc.model).__name__, rc.model.rank), ('YZConfig', c.model.d_model))

  def test_a_learning_rate_given_twice_is_refused(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    c.optimizer.lr = (1.0, 2.0, 1.0 + 1e-9)  # one float32 rate, twice
    with self.assertRaisesRegex(config.ConfigError,
                                r'config.optimizer.lr = .*gives η = \[1.0\] more than once'):
      pipeline.plan(c)

  def test_grid_is_seed_major(self):
    c = load_config('wikitext2', 'sample+fig10')
    c.sweep.num_seeds = 2
    runs = text_config.grid(c)
    self.assertLen(runs, 2 * 5)
    self.assertEqual(runs[1], {'seed': 1, 'lr': 2.0})
    self.assertEqual(runs[5]['seed'], 2)

  def test_a_depth_axis_is_checked_and_makes_a_group_per_depth(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    c.model.depths = (1, 4)
    runs = text_config.grid(c)
    self.assertEqual([(r['num_layers'], r['seed']) for r in runs],
                     [(n, s) for n in (1, 4) for s in (1, 2, 3)])  # depth-major
    self.assertEqual(text_config.depths(c), (1, 4))
    self.assertEqual([(n, group) for n, group in text_config.depth_groups(c, runs)],
                     [(1, runs[:3]), (4, runs[3:])])
    self.assertEqual(text_config.run_config(c, 50, 10, num_layers=4).model.num_layers, 4)
    pipeline.plan(c)
    c.optimizer.lr_groups = (('blocks/1', 2.0),)  # names nothing in the 1-layer network
    with self.assertRaisesRegex(config.ConfigError, "holds 'blocks/1', which names no parameter"):
      pipeline.plan(c)
    c.optimizer.lr_groups = ()
    c.model.depths = ()  # no axis: num_layers alone, and the runs hold no depth
    self.assertEqual((text_config.depths(c), set(text_config.grid(c)[0])), ((1,), {'seed', 'lr'}))
    for depths, num_layers, message in (
        ((1, 0), 1, r'config.model.depths = \(1, 0\): must be a tuple of positive integers'),
        ((2, 2), 1, r'config.model.depths = \(2, 2\): must give each depth once'),
        ((1, 2), 2, 'config.model.num_layers = 2: must be 1 with model.depths, which gives the '
         'depths: add --config.model.num_layers=1')):
      c.model.depths, c.model.num_layers = depths, num_layers
      with self.assertRaisesRegex(config.ConfigError, message):
        pipeline.plan(c)
    c = load_config('wikitext2_yz')
    c.data.dir = '/some/folder'
    c.model.depths = (1, 2)
    with self.assertRaisesRegex(config.ConfigError, "must be 1 with model.kind = 'yz', and "
                                r'model.depths \(\) or \(1,\)'):
      pipeline.plan(c)

  def test_a_heldout_slice_needs_its_size(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    pipeline.plan(c)
    self.assertEqual((c.data.train_split, c.data.eval_split), ('validation+test', 'heldout'))
    c.data.eval_split = 'test'  # a held-out size with a split to evaluate on
    with self.assertRaisesRegex(config.ConfigError, r"config.data.heldout_tokens = 20000: must be "
                                r"a positive integer with data.eval_split = 'heldout'"):
      pipeline.plan(c)

  def test_rate_groups_name_parameters(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    for groups, says in (((('ff3', 2.0),), "holds 'ff3', which names no parameter: the names are "
                                           'blocks/0/attention/key/bias, '),
                         ((('ff[', 2.0),), "holds 'ff[', not a regular expression"),
                         ((('ff1', 0.0),), 'must be (pattern, factor) pairs'),
                         ((('ff1', 1e39),), 'must be (pattern, factor) pairs'),  # inf in float32
                         ((('ff', 2.0), ('ff1', 3.0)), "holds 'ff1', which names no parameter "
                                                       'that the patterns before it have not '
                                                       'taken'),
                         (('ff1',), 'must be (pattern, factor) pairs')):
      c.optimizer.lr_groups = groups
      with self.assertRaises(config.ConfigError) as raised:
        pipeline.plan(c)
      self.assertIn(f'config.optimizer.lr_groups = {groups!r}', str(raised.exception))
      self.assertIn(says, str(raised.exception))
    c.optimizer.lr_groups = (('blocks/1/', 2.0),)  # Layer 1 exists with 2 layers only.
    self.assertRaises(config.ConfigError, pipeline.plan, c)
    c.model.num_layers = 2
    pipeline.plan(c)

  @parameterized.parameters('fig7', 'fig10', 'sample+fig7', 'sample+fig10')
  def test_the_authors_variants(self, variant):
    c = load_config('wikitext2', variant)
    c.data.dir = '/some/folder'
    pipeline.plan(c)
    self.assertEqual(c.optimizer.lr_decay, 1.0)  # The authors' rate is constant.
    if 'fig7' in variant:
      self.assertEqual((c.model.dropout, tuple(c.optimizer.lr), tuple(c.optimizer.lr_groups)),
                       (0.3, (5.0,), (('ff1|ff2', 2.0),)))
      self.assertEqual(c.train.steps, 2_000)
      self.assertGreaterEqual(c.sweep.num_seeds, 3)
    else:
      self.assertEqual(tuple(c.optimizer.lr_groups), ())
    self.assertEqual(c.data.train_split, 'validation+test' if 'sample' in variant else 'train')
    if variant.endswith('fig10'):
      self.assertEqual(tuple(c.optimizer.lr), (1.0, 2.0, 5.0, 10.0, 20.0))
      self.assertIn('entropy_falls_with_lr', c.report.claims)


if __name__ == '__main__':
  absltest.main()
