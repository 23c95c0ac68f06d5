"""The trainer and the vmapped sweep: equivalences, frozen groups, divergence, Theorem 2."""

import dataclasses
import pathlib
import subprocess
import sys

from absl.testing import absltest
import chex
import jax
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import results
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train
from tests.testing import ROOT, load_config


def _smoke_run():
  return config.run_config(load_config('syn_medium', 'smoke'), num_last=3)


class TrainTest(chex.TestCase):

  def test_metric_shapes_and_finiteness(self):
    run_config = _smoke_run()
    params, m = jax.jit(train.make_train(run_config))(jax.random.key(1), 2.0, 1.0)
    num_logs, spec = run_config.steps // run_config.log_every, run_config.data
    chex.assert_shape(m['attn/ctilde'], (num_logs + 1, spec.num_classes, spec.support_size))
    chex.assert_shape(m['attn/entropy'], (num_logs + 1,))
    chex.assert_shape([m['train/loss'], m['train/accuracy']], (num_logs,))
    chex.assert_shape([params['Y'], params['Z']], (spec.vocab_size, spec.vocab_size))
    chex.assert_tree_all_finite((params, m['attn/ctilde'], m['train/loss']))
    self.assertFalse(m['diverged'])
    np.testing.assert_allclose(m['attn/ctilde'].sum(-1), 1.0, rtol=1e-5)

  def test_zero_learning_rate_freezes_its_group(self):
    run_config = _smoke_run()
    train_fn = jax.jit(train.make_train(run_config))
    key = jax.random.key(3)
    start = model.init_params(jax.random.split(key)[0], run_config.data.vocab_size,
                              run_config.model)
    frozen_y, _ = train_fn(key, 0.0, 1.0)
    frozen_z, _ = train_fn(key, 1.0, 0.0)
    np.testing.assert_array_equal(frozen_y['Y'], start['Y'])
    np.testing.assert_array_equal(frozen_z['Z'], start['Z'])
    # The other group did move in each case.
    self.assertGreater(np.abs(frozen_y['Z'] - start['Z']).max(), 1e-3)
    self.assertGreater(np.abs(frozen_z['Y'] - start['Y']).max(), 1e-3)


  def test_only_the_read_block_of_z_is_trained(self):
    # Every logit reads Z at a query (id ≥ C) and a contextual token (id < C): training steps
    # that block; the rest of Z keeps its start even under weight decay, which would pull it.
    run_config = dataclasses.replace(
        _smoke_run(), model=dataclasses.replace(_smoke_run().model, init='uniform'),
        optimizer=dataclasses.replace(_smoke_run().optimizer, weight_decay=0.5))
    key, num_context = jax.random.key(4), run_config.data.num_context_tokens
    start = model.init_params(jax.random.split(key)[0], run_config.data.vocab_size,
                              run_config.model)
    final, _ = jax.jit(train.make_train(run_config))(key, 1.0, 1.0)
    read = np.zeros(start['Z'].shape, bool)
    read[num_context:, :num_context] = True
    np.testing.assert_array_equal(np.asarray(final['Z'])[~read], np.asarray(start['Z'])[~read])
    self.assertGreater(np.abs(final['Z'] - start['Z'])[read].max(), 1e-3)
    self.assertGreater(np.abs(final['Y'] - start['Y']).min(), 0.0)


class SweepTest(chex.TestCase):

  def test_vmapped_run_equals_single_run(self):
    run_config = _smoke_run()
    seeds, pairs = [1, 2], [(1.0, 1.0), (5.0, 1.0), (3.0, 3.0)]
    grid = sweep.train_grid(run_config, seeds, pairs, seeds_per_device=1)
    single = jax.jit(lambda k, y, z: train.make_train(run_config)(k, y, z)[1])
    entropies = set()
    for r in range(len(grid.seed)):
      want = single(jax.random.key(int(grid.seed[r])), grid.lr_y[r], grid.lr_z[r])
      for key in ('attn/ctilde', 'attn/entropy', 'train/loss'):
        np.testing.assert_allclose(grid.metrics[key][r], want[key], rtol=1e-5, atol=1e-7,
                                   err_msg=f'run {r}: {key}')
      entropies.add(float(want['attn/entropy'][-1]))
    self.assertLen(entropies, len(grid.seed))  # Every run of the grid is a different run.

  def test_reference_runs_are_trained_with_the_grid(self):
    # The population reference of every num_last and pair: the population run of that pair,
    # trained alone; checkpointed with the grid, so that a second sweep restores it all.
    runs = [_smoke_run(), config.run_config(load_config('syn_medium', 'smoke'), num_last=1)]
    pairs = [(1.0, 1.0), (5.0, 3.0), (2.0, 0.5)]
    workdir = pathlib.Path(self.create_tempdir().full_path)
    trained = sweep.Sweep(runs, [1, 2], pairs, 2, workdir=workdir,
                          references=('population',)).train()
    self.assertLen(trained.groups, 2)
    population = trained.references['population']  # by num_last and cell, cells by rates
    self.assertEqual(list(population), [(n, cell) for n in (3, 1) for cell in (0, 2, 1)])
    for run_config in runs:
      single = jax.jit(train.make_train(dataclasses.replace(run_config, dynamics='population')))
      for cell, (lr_y, lr_z) in enumerate(pairs):
        want = single(jax.random.key(0), np.float32(lr_y), np.float32(lr_z))[1]['attn/ctilde']
        got = population[run_config.data.num_last, cell]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    self.assertEqual(sorted(p.name for p in (workdir / 'checkpoints').iterdir()),
                     ['num_last1_T16', 'num_last3_T16', 'population_num_last1',
                      'population_num_last3'])
    again_sweep = sweep.Sweep(runs, [1, 2], pairs, 2, workdir=workdir,
                              references=('population',))
    again = again_sweep.train()
    self.assertEqual(again.seconds, {'compile': 0.0, 'train': 0.0})
    # What a stop after the last chunk would say.
    self.assertEqual(again_sweep._saved(),  # pylint: disable=protected-access
                     'all 4 chunks saved: the same command writes the results from them')
    for key, value in population.items():
      np.testing.assert_array_equal(again.references['population'][key], value)

  def test_diverging_run_is_marked_and_changes_no_other_run(self):
    run_config = _smoke_run()
    pairs = [(1.0, 1.0), (3.0e38, 3.0e38), (5.0, 3.0)]  # Both rates near float32's limit.
    with_bad = sweep.train_grid(run_config, [1, 2], pairs, seeds_per_device=2)
    without = sweep.train_grid(run_config, [1, 2], [pairs[0], pairs[2]], seeds_per_device=2)
    np.testing.assert_array_equal(with_bad.metrics['diverged'], [False, True, False] * 2)
    keep = ~with_bad.metrics['diverged']
    for key in ('attn/ctilde', 'train/loss'):
      np.testing.assert_array_equal(with_bad.metrics[key][keep], without.metrics[key])
    summary = results.summarize([with_bad])
    self.assertEqual([(s['num_runs'], s['num_diverged']) for s in summary],
                     [(2, 0), (2, 0), (0, 2)])  # Cells in (η_Z, η_Y) order.
    self.assertTrue(np.isnan(summary[2]['entropy_mean']))
    self.assertTrue(np.isfinite(summary[0]['entropy_mean']))


class TheoremTwoTest(absltest.TestCase):
  """Paper Theorem 2 on Syn-Small from a zero start (docs/model.md, "What the paper claims"), at the paper's settings."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    c = load_config('syn_small')
    cls.run_config = config.run_config(c, num_last=2)
    train_fn = jax.jit(train.make_train(cls.run_config))
    cls.params, cls.metrics = train_fn(jax.random.key(1), 1.0, 1.0)

  def _query_logits(self, k):
    spec = self.run_config.data
    return np.asarray(self.params['Z'])[spec.class_query()[k], spec.support()[k]]

  def test_common_logits_fall_distinct_logits_rise(self):
    spec = self.run_config.data
    for k in range(spec.num_classes):
      z = self._query_logits(k)
      self.assertLess(z[~spec.is_distinct()].max(), 0.0)  # Every common logit below its start.
      self.assertGreater(z[spec.is_distinct()].mean(), 0.0)

  def test_distinct_logits_ordered_like_probs(self):
    spec = self.run_config.data
    for k in range(spec.num_classes):
      z = self._query_logits(k)[spec.is_distinct()]
      # P(l|m,n) increases along the distinct slots; the rarest token may stay near 0 (noise),
      # so its neighbours are compared through ranks: Spearman's ρ on 10 tokens.
      rank_corr = np.corrcoef(np.argsort(np.argsort(z)), np.arange(len(z)))[0, 1]
      self.assertGreater(rank_corr, 0.9, f'class {k}: logits {z}')
      self.assertEqual(np.argmax(z), len(z) - 1)

  def test_attention_on_distinct_tokens_grows(self):
    is_distinct = self.run_config.data.is_distinct()
    distinct_mass = np.asarray(self.metrics['attn/ctilde'])[..., is_distinct].sum(-1)
    self.assertTrue(np.all(distinct_mass[-1] > distinct_mass[0] + 0.1), distinct_mass[[0, -1]])


class TokenPriorTrainingTest(absltest.TestCase):
  """With SGD (momentum, no weight decay) b_l is at every step the change of z_{m,l} summed over
  the queries m (docs/model.md, "A learned token prior"); training logs it on the supports."""

  def _trained(self, dynamics):
    c = load_config('token_prior', 'smoke')
    with c.unlocked():
      c.train.dynamics = dynamics
      if dynamics == 'flow':
        c.optimizer.momentum = 0.0
    run_config = config.run_config(c, num_last=3)
    params, metrics = jax.jit(train.make_train(run_config))(jax.random.key(2), 2.0, 1.0)
    return run_config.data, jax.tree.map(np.asarray, params), jax.tree.map(np.asarray, metrics)

  def test_b_is_the_change_of_z_summed_over_the_queries(self):
    for dynamics, tolerance in (('sampled', 1e-6), ('population', 1e-6), ('flow', 1e-4)):
      spec, params, metrics = self._trained(dynamics)
      num_context = spec.tables().num_context_tokens
      b = params['b']
      self.assertGreater(np.abs(b).max(), 1e-2, dynamics)  # b moved
      # A zero start: the change of Z is Z itself; only the rows of the queries, ≥ C, move.
      np.testing.assert_allclose(b[:num_context], params['Z'][num_context:, :num_context].sum(0),
                                 atol=tolerance, err_msg=dynamics)
      np.testing.assert_array_equal(b[num_context:], 0.0)
      np.testing.assert_array_equal(metrics['prior/b'], b[spec.support()])



_MULTI_DEVICE_SCRIPT = '''
import pathlib
import shutil
import sys
import jax
jax.config.update('jax_num_cpu_devices', 4)
import numpy as np
from scan_snap.core import checkpoints
from scan_snap.sequence_classes import config, sweep
from tests.testing import load_config
assert jax.device_count() == 4
out, made_here, made_there = map(pathlib.Path, sys.argv[1:])
run = config.run_config(load_config('syn_medium', 'smoke'), num_last=3)

def train(workdir):
  store = checkpoints.Checkpoints(workdir, 'group')
  grid = sweep.train_grid(run, [1, 2, 3], [(1.0, 1.0), (5.0, 3.0), (2.0, 0.5)],
                          seeds_per_device=1, pairs_per_block=2, store=store)
  store.wait()
  return grid

grid = train(made_there)
shutil.rmtree(made_here / 'checkpoints' / 'group' / '1')  # Made on one device: resumed on four.
resumed = train(made_here)
assert resumed.seconds['compile'] > 0
for key, value in grid.metrics.items():
  np.testing.assert_array_equal(resumed.metrics[key], value, err_msg=key)
np.savez(out, **{k.replace('/', '_'): v for k, v in grid.metrics.items()})
'''


class ChunkAndDeviceInvarianceTest(absltest.TestCase):
  """A run's result is bit for bit the same whatever the grid around it, the chunking and the
  number of devices."""

  def setUp(self):
    super().setUp()
    self.run_config = _smoke_run()
    self.pairs = [(1.0, 1.0), (5.0, 3.0)]
    self.reference = sweep.train_grid(self.run_config, [1, 2, 3], self.pairs, seeds_per_device=2)

  def _assert_same_runs(self, got, rows, msg):
    for key, value in got.metrics.items():
      np.testing.assert_array_equal(value, self.reference.metrics[key][rows], err_msg=msg + key)

  def test_grid_size_and_chunking(self):
    for seeds, per_device in (([1, 2, 3, 4, 5], 2), ([1, 2, 3], 1), ([1, 2, 3], 3)):
      grid = sweep.train_grid(self.run_config, seeds, self.pairs, per_device)
      for key, value in self.reference.metrics.items():
        np.testing.assert_array_equal(grid.metrics[key][:len(value)], value,
                                      err_msg=f'{seeds}, {per_device}: {key}')

  def test_blocks_of_pairs(self):
    # Five pairs in blocks of two and of three (both padded to six), one block after another:
    # the same runs as each other and, for the first two pairs, as the one-block reference.
    pairs = self.pairs + [(2.0, 0.5), (0.5, 2.0), (3.0, 0.3)]
    by_two, by_three = (sweep.train_grid(self.run_config, [1, 2, 3], pairs, 2,
                                         pairs_per_block=size) for size in (2, 3))
    for key, value in self.reference.metrics.items():
      np.testing.assert_array_equal(by_two.metrics[key][[0, 1, 5, 6, 10, 11]], value,
                                    err_msg=key)
      np.testing.assert_array_equal(by_three.metrics[key], by_two.metrics[key], err_msg=key)

  def test_learning_rate_pairs_around_a_run(self):
    alone = sweep.train_grid(self.run_config, [1, 2, 3], self.pairs[1:], seeds_per_device=2)
    self._assert_same_runs(alone, [1, 3, 5], 'one pair: ')
    wider = sweep.train_grid(self.run_config, [1, 2, 3], self.pairs + [(2.0, 0.5)], 2)
    for key, value in self.reference.metrics.items():
      np.testing.assert_array_equal(wider.metrics[key][[0, 1, 3, 4, 6, 7]], value, err_msg=key)

  def test_four_devices_and_their_checkpoints(self):
    # Chunks of seeds are fixed by the config: a work directory made on one device resumes on
    # four (one of its chunks deleted, which is trained again), and one made on four resumes on
    # one, training nothing.
    tmp = pathlib.Path(self.create_tempdir().full_path)
    out, made_here, made_there = tmp / 'metrics.npz', tmp / 'here', tmp / 'there'
    pairs = self.pairs + [(2.0, 0.5)]

    def train(workdir):
      store = checkpoints.Checkpoints(workdir, 'group')
      grid = sweep.train_grid(self.run_config, [1, 2, 3], pairs, 1, pairs_per_block=2,
                              store=store)
      store.wait()
      return grid

    train(made_here)
    proc = subprocess.run([sys.executable, '-c', _MULTI_DEVICE_SCRIPT, str(out), str(made_here),
                           str(made_there)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    resumed = train(made_there)
    self.assertEqual(resumed.seconds, {'compile': 0.0, 'train': 0.0})
    with np.load(out) as sharded:
      for key, value in self.reference.metrics.items():  # The runs of the first two pairs.
        np.testing.assert_array_equal(sharded[key.replace('/', '_')][[0, 1, 3, 4, 6, 7]], value,
                                      err_msg=key)
        np.testing.assert_array_equal(resumed.metrics[key], sharded[key.replace('/', '_')],
                                      err_msg=key)


class PairBlockTest(absltest.TestCase):

  def test_fewest_equal_blocks_of_at_least_two(self):
    for num_pairs, pairs_per_block, want in ((1024, 64, 64), (100, 64, 50), (16, 64, 16),
                                             (65, 64, 33), (1, 64, 2), (3, 1, 2), (3, None, 3)):
      self.assertEqual(sweep.pair_block(num_pairs, pairs_per_block), want,
                       (num_pairs, pairs_per_block))


if __name__ == '__main__':
  absltest.main()
