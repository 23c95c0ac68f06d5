"""The WikiText experiment end to end: a smoke run on a slice of the shipped files, and the
command line's error for a missing folder, and the size estimate."""

import csv
import json
import pathlib
import subprocess
import sys
import types

from absl.testing import absltest
import jax
import numpy as np

import scan_snap
from scan_snap.core import pipeline
from scan_snap.wikitext import claims
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import experiment
from scan_snap.wikitext import model
from tests.testing import ROOT, WIKITEXT_DIR, load_config, needs_wikitext


class ExperimentTest(absltest.TestCase):

  def _smoke(self, name: str):
    """The config file's smoke variant on the shipped files, run: (config, workdir, result)."""
    c = load_config(name, 'smoke')
    c.data.dir = str(WIKITEXT_DIR)
    c.data.cache_dir = self.create_tempdir().full_path
    workdir = pathlib.Path(self.create_tempdir().full_path)
    return c, workdir, scan_snap.run_experiment(c, workdir)

  @needs_wikitext
  def test_smoke_run_on_a_slice_of_the_shipped_files_alone_and_in_a_depth_grid(self):
    c, workdir, result = self._smoke('wikitext2')
    self.assertEqual(result['steps_trained'], c.train.steps)

    runs = text_config.grid(c)
    with open(workdir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    self.assertLen(rows, len(runs))
    self.assertEqual(list(rows[0])[:3], ['seed', 'lr', 'steps'])
    for layer in range(c.model.num_layers):
      self.assertIn(f'attn_entropy/layer{layer}', rows[0])
    self.assertEqual(len((workdir / 'vocab.txt').read_text().splitlines()), c.data.max_vocab)

    lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
    num_evals = c.train.steps // c.train.eval_every + 1
    self.assertLen(lines, num_evals * len(runs))
    first, last = lines[0], lines[-len(runs)]  # run 0 at steps 0 and the end
    self.assertEqual((first['step'], last['step']), (0, c.train.steps))
    self.assertIsNone(first['attn_freezing/layer0'])
    self.assertLess(last['val_loss'], first['val_loss'])
    self.assertAlmostEqual(last['val_ppl'], np.exp(last['val_loss']), places=3)
    with np.load(workdir / 'trajectories.npz') as npz:
      self.assertEqual(npz['attn_maps'].shape,
                       (num_evals, len(runs), c.model.num_layers, c.eval.num_probe,
                        c.model.num_heads, c.data.bptt, c.data.bptt))
      self.assertEqual(npz['probe_words'].shape, (c.eval.num_probe, c.data.bptt))
      self.assertEqual(npz['attn_token_mass'].shape,
                       (num_evals, len(runs), c.model.num_layers, c.eval.query_tokens,
                        c.eval.key_tokens + 2))
    for figure in c.figures.names:
      for ext in ('png', 'pdf'):
        self.assertNotEmpty(list((workdir / 'figures').glob(f'{figure}*.{ext}')))
    # One seed: every claim is measured and inconclusive, in report.md and claims.json.
    written = json.loads((workdir / 'claims.json').read_text())['Claims of the paper']
    self.assertEqual([v['claim'] for v in written],
                     [claims.ENTROPY_CLAIM, claims.FREEZING_CLAIM,
                      *(claims.WORDS_CLAIM.format(layer=layer)
                        for layer in range(c.model.num_layers)),
                      *(claims.TURN_CLAIM.format(layer=layer)
                        for layer in range(c.model.num_layers))])
    layers = list(range(c.model.num_layers))
    self.assertEqual([(v['name'], v['layer']) for v in written],  # For a program to select by.
                     [('entropy_falls_with_lr', None), ('attention_freezes', 0),
                      *(('attended_words_freeze', layer) for layer in layers),
                      *(('attention_turns_dense', layer) for layer in layers)])
    self.assertEqual([(v['verdict'], v['effect'], v['measured']) for v in written],
                     [(v['verdict'], v['effect'], v['measured']) for v in result['claims']])
    self.assertEqual({v['verdict'] for v in written}, {'inconclusive'})
    report = (workdir / 'report.md').read_text()
    self.assertIn('## Claims of the paper', report)
    for v in written:
      self.assertIn(f"| {v['claim']} |", report)

    again = scan_snap.run_experiment(c, workdir)  # A finished workdir trains nothing.
    self.assertEqual(again['steps_trained'], 0)
    self.assertEqual(again['results'], result['results'])

    # A depth axis: the grid's 2-layer runs again, and 1-layer ones, each group as it trains
    # alone; the second depth added to a work directory of the first, which resumes.
    c.model.num_layers, c.model.depths = 1, (1,)
    depth_dir = pathlib.Path(self.create_tempdir().full_path)
    self.assertEqual(scan_snap.run_experiment(c, depth_dir)['steps_trained'], c.train.steps)
    c.model.depths = (1, 2)
    deep = scan_snap.run_experiment(c, depth_dir)
    self.assertEqual(deep['steps_trained'], c.train.steps)  # depth 2 alone
    self.assertEqual(sorted(p.name for p in (depth_dir / 'checkpoints').iterdir()),
                     ['depth1', 'depth2'])
    with open(depth_dir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([(r['num_layers'], r['lr']) for r in rows],
                     [(n, lr) for n in ('1', '2') for lr in ('1.0', '10.0')])
    self.assertEqual({r['attn_entropy/layer1'] for r in rows[:2]}, {'nan'})  # 1 layer: no layer 1
    with np.load(workdir / 'trajectories.npz') as alone, \
         np.load(depth_dir / 'trajectories.npz') as both:
      np.testing.assert_array_equal(both['num_layers'], [1, 1, 2, 2])
      for key in ('val_loss', 'train_loss', 'attn_entropy', 'attn_maps', 'attn_token_mass'):
        # The depth-2 group's runs are the plain smoke's, bit for bit.
        np.testing.assert_array_equal(both[key][:, 2:], alone[key], err_msg=key)
        if both[key].ndim > 2:
          self.assertTrue(np.isnan(both[key][:, :2, 1]).all(), key)
    self.assertNotEmpty(list((depth_dir / 'figures').glob('attention_maps_seed1_lr1_layers1.png')))
    written = json.loads((depth_dir / 'claims.json').read_text())['Claims of the paper']
    self.assertIn(claims.TURN_CLAIM.format(layer=1), [v['claim'] for v in written])
    # The entropy claim reads each run's mean over its own layers: η = 1's over both depths.
    mean_h = np.mean([float(rows[0]['attn_entropy/layer0']),
                      (float(rows[2]['attn_entropy/layer0'])
                       + float(rows[2]['attn_entropy/layer1'])) / 2])
    self.assertIn(f'mean final H by η: 1: {mean_h:.3f}', written[0]['measured'])
    self.assertIn("H: mean over each run's layers", written[0]['measured'])

  @needs_wikitext
  def test_yz_smoke_run_trains_its_rate_grid_in_one_program(self):
    c, workdir, result = self._smoke('wikitext2_yz')
    with open(workdir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    cells = [(float(r['lr']), float(r['lr_factor[Y_]'])) for r in rows]
    self.assertEqual(cells, [(lr, f) for _ in range(2) for lr in (1.0, 3.0) for f in (1.0, 3.0)])
    # Each rate reaches training: the four cells of a seed end at four different losses.
    self.assertLen({r['final_val_loss'] for r in rows[:4]}, 4)
    written = json.loads((workdir / 'claims.json').read_text())['Claims of the paper']
    self.assertEqual([v['claim'] for v in written],
                     [claims.ENTROPY_CLAIM, claims.FACTOR_CLAIM.format(pattern='Y_'),
                      claims.TURN_CLAIM.format(layer=0)])
    self.assertEqual([v['n'] for v in written], [2, 2, 2])
    self.assertNotEmpty(list((workdir / 'figures').glob('attention_maps_seed1_lr3_x3.png')))
    self.assertEqual(result['steps_trained'], c.train.steps)

  def test_the_disk_estimate_counts_every_evaluation_kept(self):
    c = load_config('wikitext2', 'sample')
    c.data.dir = '/some/folder'
    data = types.SimpleNamespace(vocab=range(10_000))
    size = experiment.footprint(pipeline.plan(c), data)['disk_bytes']
    c.eval.query_tokens, c.eval.key_tokens = 10, 20
    smaller = experiment.footprint(pipeline.plan(c), data)['disk_bytes']
    # 3 runs × 21 evaluations × 1 layer of [Q, K + 2] float32s, in 2 checkpoints and trajectories.
    self.assertEqual(size - smaller, 3 * 21 * (50 * 202 - 10 * 22) * 4 * 3)

  def test_the_memory_estimate_counts_the_parameters_of_the_model_named(self):
    data = types.SimpleNamespace(vocab=range(5_000))
    for name, kind in (('wikitext2', 'transformer'), ('wikitext2_yz', 'yz')):
      c = load_config(name)
      c.data.dir = '/some/folder'
      plan = pipeline.plan(c)
      net = text_config.model_config(c, 5_000)
      self.assertEqual(model.KINDS[kind][0], type(net))
      if jax.default_backend() == 'cpu':
        self.assertEqual(experiment.footprint(plan, data)['memory_bytes'],
                         len(plan.grid) * 16 * model.num_params(net))
    self.assertEqual(model.num_params(net), 4 * 5_000 * c.model.d_model)  # Y and Z: 2 factors each

  def test_command_line_names_the_missing_folder(self):
    proc = subprocess.run(
        [sys.executable, '-m', 'scan_snap.main', '--config=configs/wikitext2.py:smoke',
         '--config.data.dir=/nonexistent/wikitext', '--workdir=/nonexistent/workdir'],
        cwd=ROOT, capture_output=True, text=True)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn("error: data.dir = '/nonexistent/wikitext' is not a folder", proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)


if __name__ == '__main__':
  absltest.main()
