"""The WikiText grid: runs that do not depend on the runs, devices or processes around them,
and its training with evaluations and checkpoints."""

import json
import pathlib
import shutil
import subprocess
import sys

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.core import outputs
from scan_snap.wikitext import sweep
from scan_snap.wikitext import train
from tests.testing import ROOT, tiny_text_run, tiny_tokens

_FOUR_RUNS = [{'seed': s, 'lr': lr} for s in (1, 2) for lr in (0.5, 2.0)]
_TWO_DEVICE_SCRIPT = '''
import json
import sys
import jax
jax.config.update('jax_num_cpu_devices', 2)
import numpy as np
from scan_snap.wikitext import sweep
from tests.testing import tiny_text_run, tiny_tokens
grid = sweep.Grid(tiny_text_run(), json.loads(sys.argv[2]), runs_per_device=2)
assert grid.num_devices == 2, grid.num_devices
tokens = tiny_tokens()
losses = np.stack([grid.train_interval(tokens, step) for step in (0, 6)])
np.savez(sys.argv[1], losses=losses, **grid.evaluate(tokens))
'''


class SweepTest(absltest.TestCase):

  def test_a_run_does_not_depend_on_the_grid_around_it(self):
    run, tokens = tiny_text_run(lr_groups=(('ff1', 0.5),)), tiny_tokens()
    target = {'seed': 2, 'lr': 3.0}
    others = [{'seed': 1, 'lr': 1.0}, {'seed': 3, 'lr': 2.0}]
    results = []
    for runs, index in (([target], 0), ([others[0], target, *others], 1), ([*others, target], 2)):
      grid = sweep.Grid(run, runs, runs_per_device=2)
      losses = [grid.train_interval(tokens, step)[index] for step in (0, run.eval_every)]
      results.append((losses, {k: v[index] for k, v in grid.evaluate(tokens).items()}))
    for other in results[1:]:  # alone (padded), second of four (padded), last of three
      jax.tree_util.tree_map(np.testing.assert_array_equal, other, results[0])

  def test_grid_run_equals_the_single_run_to_rounding(self):
    run, tokens = tiny_text_run(), tiny_tokens()
    init, train_interval, _ = train.make_functions(run)
    single, metrics = jax.jit(train_interval)(init(jnp.asarray(2)), tokens, jnp.asarray(2), 1.5,
                                              jnp.zeros(0), 0)
    grid = sweep.Grid(run, [{'seed': 1, 'lr': 1.0}, {'seed': 2, 'lr': 1.5}], 2)
    grid_loss = grid.train_interval(tokens, 0)
    # Unbatched, XLA compiles another program: equal up to float rounding only (2.5e-6 of a
    # parameter after two steps on some x86 CPUs; 1.1e-7 on one of 7e-4 here).
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-7)
    jax.tree_util.tree_map(lambda g, s: close(g[1], s), grid.state_arrays().params, single.params)
    close(grid_loss[1], metrics['train/loss'])

  def test_a_diverging_rate_leaves_the_other_runs_alone(self):
    run, tokens = tiny_text_run(), tiny_tokens()
    results = []
    for absurd in (2.0, 1e38):
      grid = sweep.Grid(run, [{'seed': 1, 'lr': 1.0}, {'seed': 1, 'lr': absurd}], 2)
      results.append((grid.train_interval(tokens, 0), grid.evaluate(tokens)))
    self.assertFalse(np.isfinite(results[1][1]['eval/loss'][1]))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a[0], b[0]), *results)

  def test_two_devices_agree_with_one_bit_for_bit(self):
    out = pathlib.Path(self.create_tempdir().full_path) / 'two_devices.npz'
    proc = subprocess.run([sys.executable, '-c', _TWO_DEVICE_SCRIPT, str(out),
                           json.dumps(_FOUR_RUNS)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    grid, tokens = sweep.Grid(tiny_text_run(), _FOUR_RUNS, runs_per_device=2), tiny_tokens()
    self.assertEqual(grid.num_devices, 1)
    losses = np.stack([grid.train_interval(tokens, step) for step in (0, 6)])
    evaluated = grid.evaluate(tokens)
    # Each group runs on one device by a one-device program, whatever the number of devices.
    with np.load(out) as two:
      np.testing.assert_array_equal(two['losses'], losses)
      for key, value in evaluated.items():
        np.testing.assert_array_equal(two[key], value, err_msg=key)

  def test_run_evaluates_checkpoints_and_resumes_to_the_same_history(self):
    run, tokens, runs = tiny_text_run(), tiny_tokens(), _FOUR_RUNS[:2]
    workdir = pathlib.Path(self.create_tempdir().full_path)
    calls = []
    trained = sweep.run(run, runs, tokens, 2, 6, workdir, on_start=lambda: calls.append('start'),
                        on_evaluation=lambda history: calls.append(history['step'].tolist()))
    self.assertEqual(calls, ['start', [0, 6], [0, 6, 12]])
    self.assertEqual(trained.steps_trained, 12)
    self.assertEqual({k: v.shape for k, v in trained.history.items()}, {
        'step': (3,), 'train/loss': (3, 2), 'eval/loss': (3, 2), 'attn/entropy': (3, 2, 2),
        'attn/maps': (3, 2, 2, 2, 2, 8, 8), 'attn/token_mass': (3, 2, 2, 6, 12)})
    self.assertTrue(np.isnan(trained.history['train/loss'][0]).all())  # Nothing trained at 0.

    self.assertEqual(sorted(p.name for p in (workdir / 'checkpoints').iterdir()), ['12', '6'])
    shutil.rmtree(workdir / 'checkpoints' / '12')
    resumed = sweep.run(run, runs, tokens, 2, 6, workdir)
    self.assertEqual(resumed.steps_trained, 6)
    jax.tree_util.tree_map(np.testing.assert_array_equal, resumed.history, trained.history)

    with self.assertRaisesRegex(outputs.WorkdirError, 'another config or code version'):
      sweep.run(tiny_text_run(lr_decay=0.5), runs, tokens, 2, 6, workdir)

  def test_joined_groups_pad_the_layers_a_run_lacks(self):
    grid = lambda runs, layers, value: sweep.GridResult(tiny_text_run(), runs, {
        'step': np.array([0, 6]), 'eval/loss': np.full((2, len(runs)), value),
        'attn/entropy': np.full((2, len(runs), layers), value),
        'attn/maps': np.full((2, len(runs), layers, 1, 1, 2, 2), value, np.float32)}, 6)
    one, two = grid([{'seed': 1}], 1, 1.0), grid([{'seed': 1}, {'seed': 2}], 2, 2.0)
    joined = sweep.joined([one, two])
    self.assertEqual((joined.runs, joined.steps_trained), ([{'seed': 1}, {'seed': 1}, {'seed': 2}],
                                                          12))
    np.testing.assert_array_equal(joined.history['step'], [0, 6])
    np.testing.assert_array_equal(joined.history['eval/loss'], [[1.0, 2.0, 2.0]] * 2)
    np.testing.assert_array_equal(joined.history['attn/entropy'][0],
                                  [[1.0, np.nan], [2.0, 2.0], [2.0, 2.0]])
    self.assertEqual(joined.history['attn/maps'].shape, (2, 3, 2, 1, 1, 2, 2))
    self.assertEqual(joined.history['attn/maps'].dtype, np.float32)
    self.assertTrue(np.isnan(joined.history['attn/maps'][:, 0, 1]).all())
    self.assertIs(sweep.joined([one]), one)


if __name__ == '__main__':
  absltest.main()
