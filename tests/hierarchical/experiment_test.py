"""The hierarchical config and its smoke run end to end: the checks, the work directory, the
verdicts, a resume, and a run that does not depend on the runs around it."""

import copy
import csv
import functools
import json
import pathlib

from absl.testing import absltest
import numpy as np

import scan_snap
from scan_snap.core import config
from scan_snap.core import intervals
from scan_snap.core import pipeline
from scan_snap.hierarchical import config as hier_config
from scan_snap.hierarchical import sweep
from scan_snap.hierarchical import train
from tests.testing import ROOT, load_config


class ConfigTest(absltest.TestCase):

  def test_config_file_is_valid_and_documented(self):
    pipeline.plan(load_config('hierarchical'))
    self.assertEqual(load_config('hierarchical', 'varied').data.child_prob, 0.7)
    doc = (ROOT / 'configs' / 'hierarchical.py').read_text()
    self.assertIn('python -m scan_snap.main --config=configs/hierarchical.py', doc)
    self.assertIn('--config=configs/hierarchical.py:smoke', doc)

  def test_every_problem_is_listed(self):
    c = load_config('hierarchical', 'smoke')
    c.data.num_latents = (20, 10, 4)  # one level more than num_combinations
    c.model.num_layers = (2, 2)
    c.model.num_heads = 3
    c.optimizer.lr = (0.01, -1.0)
    c.train.eval_every = 7
    c.eval.batch_size = 1
    c.data.child_prob = 0.0
    c.model.kind = 'rnn'
    c.model.hidden_vocab = 0
    with self.assertRaises(config.ConfigError) as raised:
      pipeline.plan(c)
    for key in ('data.num_combinations', 'model.num_layers', 'model.num_heads', 'optimizer.lr',
                'train.eval_every', 'eval.batch_size', 'data.child_prob', 'model.kind',
                'model.hidden_vocab'):
      self.assertIn(f'config.{key} =', str(raised.exception))

  def test_a_tree_that_cannot_be_drawn_is_refused(self):
    c = load_config('hierarchical', 'smoke')
    c.data.vocab_size = 5
    with self.assertRaisesRegex(config.ConfigError, 'level 0: 20 variables, but only 4 distinct'):
      pipeline.plan(c)


class SmokeTest(absltest.TestCase):

  def test_smoke_run_writes_the_workdir_and_resumes(self):
    c = load_config('hierarchical', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    first = scan_snap.run_experiment(c, workdir)
    with open(workdir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    self.assertLen(rows, len(c.model.num_layers) * len(c.optimizer.lr) * c.sweep.num_seeds)
    self.assertTrue(all(np.isfinite(float(row['eval_loss'])) for row in rows))
    found = json.loads((workdir / 'claims.json').read_text())
    self.assertLen(found['Claims of the paper'], 4)  # two claims × two levels
    for name in ('report.md', 'summary.csv', 'trajectories.npz', 'metrics.jsonl',
                 'figures/scores.png', 'figures/scores.pdf'):
      self.assertTrue((workdir / name).exists(), name)
    lines = (workdir / 'metrics.jsonl').read_text().splitlines()
    self.assertLen(lines, len(rows) * (c.train.steps // c.train.eval_every + 1))
    line = json.loads(lines[0])  # valid JSON: no NaN, the training loss at step 0 is null
    self.assertIsNone(line['train_loss'])
    self.assertEqual(sorted(k for k in line if k.startswith('score/'))[:2],
                     ['score/centred/level0/block0', 'score/centred/level1/block0'])
    again = scan_snap.run_experiment(c, workdir)  # every checkpoint there: nothing to train
    self.assertEqual(again['steps_trained'], 0)
    np.testing.assert_equal(first['results'], again['results'])  # NaN where a block is missing
    # A depth added: the depths found resume, the new one alone is trained.
    deeper = copy.deepcopy(c)
    with deeper.unlocked():
      deeper.model.num_layers = (*c.model.num_layers, 3)
    grown = scan_snap.run_experiment(deeper, workdir)
    self.assertEqual(grown['steps_trained'], c.train.steps)
    self.assertEqual(json.loads((workdir / 'config.json').read_text())['model']['num_layers'],
                     [*c.model.num_layers, 3])
    kept = [row for row in grown['results'] if row['num_layers'] in c.model.num_layers]
    np.testing.assert_equal(kept, [{k: row.get(k, np.nan) for k in kept[0]}
                                   for row in first['results']])

  def test_the_yz_model_runs_and_decides_its_order_of_snapping(self):
    c = load_config('hierarchical', 'smoke+yz')
    result = scan_snap.run_experiment(c)
    self.assertLen(result['results'], 3 * c.sweep.num_seeds)
    self.assertIn('block1_snapping_step', result['results'][0])
    claims_found = [check['claim'] for check in result['claims']]
    self.assertIn("JoMA: layer 1's attention snaps before layer 2's (t₀ of block 1 − block 0 > 0)",
                  claims_found)

  def test_a_run_does_not_depend_on_the_grid_around_it(self):
    c = load_config('hierarchical', 'smoke')
    rc = hier_config.run_config(c, 2)
    target, others = {'seed': 2, 'lr': 0.02}, [{'seed': 1, 'lr': 0.01}, {'seed': 3, 'lr': 0.01}]
    got = []
    for runs, index in (([target], 0), ([others[0], target, others[1]], 1)):
      grid = intervals.Grid(functools.partial(train.grid_functions, rc), sweep.arguments(rc.spec),
                            runs, runs_per_device=2)
      loss = grid.train_interval(None, 0)[index]
      got.append((loss, {k: v[index] for k, v in grid.evaluate(None).items()}))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    for key in got[0][1]:
      np.testing.assert_array_equal(got[0][1][key], got[1][1][key])


if __name__ == '__main__':
  absltest.main()
