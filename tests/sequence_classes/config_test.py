"""Config files, validation of bad input, the command line, and the work directory."""

import csv
import json
import pathlib
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

import scan_snap

from scan_snap.core import config as core_config
from scan_snap.core import pipeline
from scan_snap.sequence_classes import claims
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import figures
from scan_snap.sequence_classes import sweep
from tests.testing import CONFIG_FILES, ROOT, load_config

NAMES = [path.stem for path in CONFIG_FILES  # The WikiText configs: wikitext/config_test.py.
         if load_config(path.stem).experiment == 'sequence_classes']
RESULT_COLUMNS = ['num_last', 'num_next_per_last', 'seq_len', 'train_set_size', 'lr_y', 'lr_z',
                  'lr_y_over_lr_z', 'seed', 'optimizer', 'init', 'steps', 'final_loss',
                  'final_accuracy', 'entropy', 'diverged']
FRESH_COLUMNS = ['fresh_loss', 'fresh_accuracy']  # before 'entropy', with train.eval_batches
# Claims that a smoke run may fail, because the full run fails them too (docs/model.md).
SMOKE_FINDINGS = {
    'residual': {"Sec. 7, with the residual: every distinct token's logit rises"},  # the rare ones
}


class ConfigFilesTest(parameterized.TestCase):

  @parameterized.named_parameters(*((name, name) for name in NAMES))
  def test_full_config_is_valid_and_documented(self, name):
    c = load_config(name)
    pipeline.plan(c)
    doc = (ROOT / 'configs' / f'{name}.py').read_text()
    self.assertIn(f'python -m scan_snap.main --config=configs/{name}.py', doc)
    self.assertIn(f'--config=configs/{name}.py:smoke', doc)

  @parameterized.named_parameters(*((name, name) for name in NAMES))
  def test_smoke_variant_runs_and_writes_the_workdir(self, name):
    c = load_config(name, 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    scan_snap.run_experiment(c, workdir)

    saved = json.loads((workdir / 'config.json').read_text())
    self.assertEqual(saved['data']['num_last'], list(c.data.num_last))
    with open(workdir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    extra = list(dict.fromkeys(column for name in c.report.claims
                               for column in claims.CLAIMS[name].columns))
    columns = (RESULT_COLUMNS[:-2] + FRESH_COLUMNS * bool(c.train.eval_batches)
               + RESULT_COLUMNS[-2:])
    self.assertEqual(list(rows[0]), columns + extra)
    if c.report.claims:
      report = (workdir / 'report.md').read_text()
      table = [line.split(' | ') for line in report.splitlines()
               if line.startswith('| ') and not line.startswith('| claim |')]
      found = json.loads((workdir / 'claims.json').read_text())
      self.assertEqual([row[7] for row in table],  # One verdict per claim row, as in the JSON.
                       [v['verdict'] for section in found.values() for v in section])
      self.assertTrue(all(v['test'] and v['alpha'] is not None
                          for section in found.values() for v in section))
      # Too short to test a claim is inconclusive, not a finding against it; but a finding that
      # shows within seconds may fail there too, when the docs report it.
      self.assertContainsSubset(
          {v['claim'] for section in found.values() for v in section if v['verdict'] == 'fail'},
          SMOKE_FINDINGS.get(name, set()))
    num_pairs = len(config.learning_rate_pairs(c))
    self.assertLen(rows, len(config.data_specs(c)) * c.sweep.num_seeds * num_pairs)
    self.assertTrue(all(np.isfinite(float(row['entropy'])) for row in rows))
    self.assertTrue((workdir / 'summary.csv').exists() and (workdir / 'summary.md').exists())
    lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
    self.assertLen(lines, len(config.data_specs(c)) * num_pairs
                   * (c.train.steps // c.train.log_every + 1))  # One curve per cell.
    self.assertEqual([l['step'] for l in lines[:2]], [0, c.train.log_every])
    self.assertEqual(lines[0]['num_runs'], c.sweep.num_seeds)
    self.assertIn('train/loss', lines[1])
    for spec in config.data_specs(c):
      name = sweep.group_name(config.run_config(c, *spec))
      with np.load(workdir / 'trajectories' / f'{name}.npz') as npz:
        ctilde = npz['ctilde']
        kept = c.train.steps // c.train.log_every + 1 if c.train.trajectories else 1
        self.assertEqual(ctilde.shape[:2], (c.sweep.num_seeds * num_pairs, kept))
        self.assertLen(npz['attn_steps'], kept)
        np.testing.assert_allclose(ctilde.sum(-1), 1.0, rtol=1e-5)
    for figure in c.figures.names:
      for ext in ('png', 'pdf'):
        self.assertNotEmpty(list((workdir / 'figures').glob(f'{figure}*.{ext}')))
    wanted = ([figures.FIGURES[n] for n in c.figures.names]
              + [claims.CLAIMS[n] for n in c.report.claims])
    for table in {t for w in wanted for t in w.tables}:
      self.assertTrue((workdir / f'{table}.csv').exists(), table)
    if c.train.eval_batches:
      self.assertTrue(all(np.isfinite(float(row['fresh_loss'])) for row in rows))

  def test_unknown_variant(self):
    with self.assertRaisesRegex(core_config.ConfigError, "unknown config variant 'big'"):
      load_config('syn_medium', 'big')

  def test_learning_rate_pairs(self):
    c = load_config('syn_medium')
    pairs = config.learning_rate_pairs(c)
    self.assertLen(pairs, 16)
    self.assertEqual(pairs[:2], [(0.5, 0.5), (1.0, 0.5)])
    self.assertIn((30.0, 3.0), pairs)
    c.optimizer.lr_y_relative = False
    self.assertIn((10.0, 0.5), config.learning_rate_pairs(c))


class ValidationTest(parameterized.TestCase):

  @parameterized.parameters(
      ('data.family', 'zipf'),
      ('data.num_last', (0,)),
      ('data.num_last', (1, -3)),
      ('data.batch_size', 0),
      ('data.seq_len', (1,)),
      ('data.train_set_size', (64,)),  # Below the batch of 128.
      ('data.num_unique_per_next', 0),
      ('data.num_shared_across', -1),
      ('data.num_shared_across', 2),  # Read by data.family='shared_across_queries' only.
      ('optimizer.lr_z', (-1.0,)),
      ('optimizer.lr_y', (float('inf'),)),
      ('optimizer.lr_y', (float('nan'),)),
      ('optimizer.name', 'lbfgs'),
      ('optimizer.momentum', 1.0),
      ('model.init', 'ones'),
      ('train.steps', 0),
      ('train.log_every', 7),
      ('sweep.num_seeds', 0),
      ('figures.names', ('fig99',)),
      ('report.loss_threshold', 0.0),
      ('optimizer.lr_z', (1e39,)),  # Beyond float32: inf on device.
      ('sweep.first_seed', 2**31 - 1),  # With 10 seeds, past int32.
  )
  def test_bad_value_names_its_key(self, key, value):
    c = load_config('syn_medium')
    section, field = key.split('.')
    c[section][field] = value
    with self.assertRaisesRegex(core_config.ConfigError, f'config.{key} = '):
      pipeline.plan(c)

  def test_tokens_shared_across_queries_need_two_queries(self):
    c = load_config('residual', 'smoke')
    c.data.num_last = (1, 2)
    with self.assertRaisesRegex(core_config.ConfigError,
                                r'config.data.num_last = \(1, 2\): must be ≥ 2 with '
                                'data.num_shared_across > 0'):
      pipeline.plan(c)

  def test_relative_rate_beyond_float32(self):
    c = load_config('syn_medium')
    c.optimizer.lr_z = (1e38,)
    with self.assertRaisesRegex(core_config.ConfigError,
                                r'config.optimizer.lr_y = .*× optimizer.lr_z'):
      pipeline.plan(c)

  @parameterized.parameters(
      ({'optimizer.lr_z': (0.0,)}, r'\(0.0, 0.0\)\] more than once \(η_Y = lr_y × lr_z'),
      ({'optimizer.lr_z': (1.0, 1.0 + 1e-9)}, r'\(1.0, 1.0\), \(2.0, 1.0\)'),  # float32: one
      ({'optimizer.lr_y_relative': False, 'optimizer.lr_y': (2.0, 2.0)}, r'\(2.0, 0.5\)'),
  )
  def test_a_learning_rate_pair_given_twice_is_refused(self, overrides, pairs):
    c = scan_snap.override(load_config('syn_medium'), overrides)
    with self.assertRaisesRegex(core_config.ConfigError,
                                r'config.optimizer.lr_y = .*gives the pairs \(η_Y, η_Z\) = \[.*'
                                + pairs):
      pipeline.plan(c)
    c.optimizer.lr_z = (1.0, 1.0 + 1e-6)  # Two float32 rates: two cells.
    c.optimizer.lr_y = (1.0,)
    pipeline.plan(c)

  def test_claim_outside_its_assumptions_is_refused(self):
    for name, claim, about in (('syn_small', 'adam_subsets', 'Adam'),
                               ('syn_small_adam', 'convergence_vs_sparsity', 'several η_Y')):
      c = load_config(name)
      c.report.claims = (claim,)
      with self.assertRaisesRegex(core_config.ConfigError, f"'{claim}' is a claim about {about}"):
        pipeline.plan(c)

  def test_every_problem_is_listed(self):
    c = load_config('syn_small')
    c.data.batch_size = -1
    c.optimizer.name = 'rmsprop'
    with self.assertRaises(core_config.ConfigError) as ctx:
      pipeline.plan(c)
    self.assertIn('data.batch_size', str(ctx.exception))
    self.assertIn('optimizer.name', str(ctx.exception))

  def test_experiment_refuses_before_writing_anything(self):
    c = load_config('syn_small', 'smoke')
    c.data.num_last = (0,)
    workdir = pathlib.Path(self.create_tempdir().full_path) / 'run'
    with self.assertRaises(core_config.ConfigError):
      scan_snap.run_experiment(c, workdir)
    self.assertFalse(workdir.exists())


def _main(*flags):
  return subprocess.run([sys.executable, '-m', 'scan_snap.main', '--compilation_cache=', *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)


class CommandLineTest(absltest.TestCase):

  def test_overrides_reach_the_run(self):
    workdir = self.create_tempdir().full_path
    proc = _main('--config=configs/syn_medium.py:smoke', f'--workdir={workdir}',
                 '--config.data.num_last=2', '--config.optimizer.lr_z=2',
                 '--config.sweep.num_seeds=1', '--config.train.steps=5')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    with open(pathlib.Path(workdir) / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    self.assertEqual({(r['num_last'], r['lr_z'], r['seed'], r['steps']) for r in rows},
                     {('2', '2.0', '1', '5')})
    self.assertIn('entropy_mean', proc.stdout)  # The summary table is printed.

  def test_unknown_key_is_an_error(self):
    proc = _main('--config=configs/syn_small.py:smoke', '--workdir=/nonexistent',
                 '--config.optimizer.learning_rate=2')
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('learning_rate', proc.stderr)

  def test_bad_value_is_a_clear_error(self):
    proc = _main('--config=configs/syn_small.py:smoke', '--workdir=/nonexistent',
                 '--config.optimizer.lr_z=-1')
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('config.optimizer.lr_z = (-1,): must be one or more learning rates in '
                  '[0, 3.403e+38] (float32)', proc.stderr)


if __name__ == '__main__':
  absltest.main()
