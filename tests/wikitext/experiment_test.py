"""The WikiText experiment: data through TFDS, the transformer, its training, and a smoke run."""

import csv
import dataclasses
import functools
import json
import pathlib
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from scan_snap.core import config
from scan_snap.core import optimizer as core_optimizer
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import data
from scan_snap.wikitext import experiment
from scan_snap.wikitext import train
from scan_snap.wikitext import model
from scan_snap.wikitext import optimizer
from scan_snap.wikitext import results
from scan_snap.wikitext import sweep
from tests.testing import ROOT, WIKITEXT_DIR, load_config

_TINY = {  # A hand-made WikiText folder: article headings, blank lines, <unk>.
    'train': ' \n = Alpha = \n \n the cat sat on the mat . \n the dog sat . \n',
    'valid': ' \n = Beta = \n \n the bird sat on a mat . \n',
    'test': ' \n = Gamma = \n \n a <unk> ran . \n',
}
_needs_shipped_files = absltest.skipUnless(
    (WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
    f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')


def _tiny_folder(root: pathlib.Path, variant: str = 'tokens') -> pathlib.Path:
  for infix, text in _TINY.items():
    (root / f'wiki.{infix}.{variant}').write_text(text)
  return root


class DatasetTest(parameterized.TestCase):

  @parameterized.parameters('tokens', 'raw')
  def test_builder_round_trips_every_line_in_order(self, variant):
    folder = _tiny_folder(pathlib.Path(self.create_tempdir().full_path), variant)
    builder = data.prepare(folder, variant, pathlib.Path(self.create_tempdir().full_path),
                              ('train', 'validation', 'test'))
    for split, infix in data.SPLITS.items():
      self.assertEqual(list(data.read_lines(builder, split)), _TINY[infix].split('\n')[:-1])

  @_needs_shipped_files
  def test_builder_keeps_the_word_order_of_the_shipped_files(self):
    builder = data.prepare(WIKITEXT_DIR, 'tokens',
                              pathlib.Path(self.create_tempdir().full_path),
                              ('validation', 'test'))
    for split, name in (('validation', 'wiki.valid.tokens'), ('test', 'wiki.test.tokens')):
      text = (WIKITEXT_DIR / name).read_text(encoding='utf-8')
      self.assertEqual(list(data.read_lines(builder, split, block=1000)), text.split('\n')[:-1])

  def test_words_end_each_line_with_eos(self):
    self.assertEqual(list(data.words_of([' ', ' = A b = ', ' x , y '])),
                     ['<eos>', '=', 'A', 'b', '=', '<eos>', 'x', ',', 'y', '<eos>'])

  def test_vocabulary_by_count_then_first_appearance(self):
    words = list(data.words_of(_TINY['train'].split('\n')[:-1]))
    vocab = data.Vocabulary.build(words)
    self.assertEqual(vocab.words, ('<eos>', '<unk>', 'the', '=', 'sat', '.', 'Alpha', 'cat', 'on',
                                   'mat', 'dog'))
    valid = list(data.words_of(_TINY['valid'].split('\n')[:-1]))
    np.testing.assert_array_equal(vocab.encode(valid[6:]), [2, 1, 4, 8, 1, 9, 5, 0])
    self.assertEqual(data.Vocabulary.build(words, max_size=5).words,
                     ('<eos>', '<unk>', 'the', '=', 'sat'))

  def test_batchify_and_windows(self):
    streams = data.batchify(np.arange(23), 3)  # Three streams of 7; two tokens dropped.
    np.testing.assert_array_equal(streams[1], np.arange(7, 14))
    self.assertEqual(data.num_windows(streams.shape[1], 3), 2)
    inputs, targets = train.window(jnp.asarray(streams), 1, 3)
    np.testing.assert_array_equal(inputs, [[3, 4, 5], [10, 11, 12], [17, 18, 19]])
    np.testing.assert_array_equal(targets, inputs + 1)

  def test_missing_folder_or_file_is_a_clear_error(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    with self.assertRaisesRegex(data.DataError, 'is not a folder: expected a WikiText folder '
                                'holding wiki.train.tokens'):
      data.check_folder(root / 'absent', 'tokens', ('train',))
    _tiny_folder(root)
    (root / 'wiki.test.tokens').unlink()
    with self.assertRaisesRegex(data.DataError, r'lacks wiki.test.tokens \(it holds'):
      data.check_folder(root, 'tokens', ('train', 'test'))
    with self.assertRaisesRegex(data.DataError, 'lacks wiki.train.raw'):
      data.check_folder(root, 'raw', ('train',))

  def test_wrong_format_is_a_clear_error(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    (root / 'wiki.train.tokens').write_bytes(b'PAR1\x00\x15\xff\xfe')  # e.g. a parquet file
    with self.assertRaisesRegex(data.DataError, 'is not UTF-8 text'):
      data.check_folder(root, 'tokens', ('train',))
    (root / 'wiki.train.tokens').write_text('{"text": "a json line"}\n')
    with self.assertRaisesRegex(data.DataError, 'not a WikiText file'):
      data.check_folder(root, 'tokens', ('train',))


def _tiny_model(**overrides) -> tuple[model.TransformerConfig, nnx.GraphDef, nnx.State]:
  cfg = model.TransformerConfig(**{
      'vocab_size': 24, 'max_len': 8, 'd_model': 16, 'd_ff': 12, 'num_heads': 2,
      'num_layers': 2, 'dropout': 0.0, **overrides})
  graphdef, params = nnx.split(model.Transformer(cfg, rngs=nnx.Rngs(0)))
  return cfg, graphdef, params


class TransformerTest(parameterized.TestCase):

  def test_no_gradient_from_future_tokens(self):
    cfg, graphdef, params = _tiny_model()
    tokens = jnp.arange(3, 3 + cfg.max_len)[None]  # Each position has its own token.
    for i in (0, 3, cfg.max_len - 1):
      def loss(p):
        logits, _ = nnx.merge(graphdef, p)(tokens)
        return logits[0, i].sum()
      grad_VxD = jax.grad(loss)(params)['embed']['embedding'][...][tokens[0]]
      norms = np.linalg.norm(grad_VxD, axis=-1)
      self.assertTrue((norms[:i + 1] > 0).all(), norms)
      np.testing.assert_array_equal(norms[i + 1:], 0.0)

  @parameterized.parameters(None, 7)
  def test_attention_rows_sum_to_one_over_the_past(self, dropout_seed):
    cfg, graphdef, params = _tiny_model(dropout=0.3)
    key = None if dropout_seed is None else jax.random.key(dropout_seed)
    tokens = jax.random.randint(jax.random.key(1), (3, cfg.max_len), 0, cfg.vocab_size)
    logits, attns = nnx.merge(graphdef, params)(tokens, key)
    self.assertEqual(logits.shape, (3, cfg.max_len, cfg.vocab_size))
    self.assertLen(attns, cfg.num_layers)
    for attn in attns:
      self.assertEqual(attn.shape, (3, cfg.num_heads, cfg.max_len, cfg.max_len))
      np.testing.assert_allclose(attn.sum(-1), 1.0, rtol=1e-6)
      np.testing.assert_array_equal(jnp.triu(attn, k=1), 0.0)

  def test_dropout_only_with_a_key(self):
    cfg, graphdef, params = _tiny_model(dropout=0.5)
    net = nnx.merge(graphdef, params)
    tokens = jnp.arange(cfg.max_len)[None]
    np.testing.assert_array_equal(net(tokens)[0], net(tokens)[0])
    self.assertFalse(np.allclose(net(tokens, jax.random.key(0))[0], net(tokens)[0]))
    x = jnp.ones(20_000)
    kept = model.dropout(x, 0.5, jax.random.key(0))
    self.assertAlmostEqual(float(kept.mean()), 1.0, delta=4 * np.sqrt(1.0 / 20_000))  # ±4σ
    self.assertEqual(set(np.unique(kept).tolist()), {0.0, 2.0})

  def test_sinusoidal_positions(self):
    pe = np.asarray(model.sinusoidal_positions(5, 6))
    for p in range(5):
      for i in range(3):
        angle = p / 10000 ** (2 * i / 6)
        np.testing.assert_allclose(pe[p, 2 * i:2 * i + 2], [np.sin(angle), np.cos(angle)],
                                   rtol=1e-5, atol=1e-6)

  def test_attention_entropy_hand_cases(self):
    uniform3 = jnp.full((1, 1, 1, 3), 1 / 3)
    one_hot = jnp.array([0.0, 1.0, 0.0])[None, None, None]
    mixed = jnp.array([0.5, 0.25, 0.25])[None, None, None]
    np.testing.assert_allclose(model.attention_entropy(uniform3), [[[np.log(3)]]], rtol=1e-6)
    np.testing.assert_array_equal(model.attention_entropy(one_hot), [[[0.0]]])
    np.testing.assert_allclose(model.attention_entropy(mixed), [[[1.5 * np.log(2)]]],
                               rtol=1e-6)
    self.assertAlmostEqual(results.mean_uniform_entropy(3), (np.log(2) + np.log(3)) / 3,
                           places=12)

  def test_attention_parameters_are_w_q_and_w_k(self):
    cfg, _, params = _tiny_model()
    labels = jax.tree_util.tree_leaves(optimizer.param_labels(params))
    self.assertEqual(labels.count('attention'), 4 * cfg.num_layers)  # W_Q, W_K and biases
    labelled = optimizer.param_labels(params)
    layers = labelled['blocks']
    self.assertEqual(layers[0]['attention']['query']['kernel'].get_value(), 'attention')
    self.assertEqual(layers[1]['attention']['value']['kernel'].get_value(), 'other')


_TWO_DEVICE_SCRIPT = '''
import sys
import jax
jax.config.update('jax_num_cpu_devices', 2)
import numpy as np
from scan_snap.wikitext import sweep
from tests.wikitext.experiment_test import FOUR_RUNS, _tiny_data, _tiny_run
grid = sweep.Grid(_tiny_run(), FOUR_RUNS, runs_per_device=2)
assert grid.num_devices == 2, grid.num_devices
tokens = _tiny_data()
losses = np.stack([grid.train_chunk(tokens, step) for step in (0, 6)])
np.savez(sys.argv[1], losses=losses, **grid.evaluate(tokens))
'''
FOUR_RUNS = [{'seed': s, 'lr_attention': a, 'lr_other': 1.0} for s in (1, 2) for a in (0.5, 2.0)]


def _tiny_data(vocab_size: int = 24, bptt: int = 8) -> train.TextData:
  ids = jax.random.randint(jax.random.key(5), (3000,), 0, vocab_size)
  return train.TextData(train_BxN=jnp.asarray(data.batchify(np.asarray(ids[:2000]), 4)),
                        eval_ExN=jnp.asarray(data.batchify(np.asarray(ids[2000:2400]), 2)),
                        probe_PxL=ids[2400:2400 + 2 * bptt].reshape(2, bptt))


SGD = core_optimizer.OptimizerConfig(name='sgd', momentum=0.0, b1=0.9, b2=0.999, eps=1e-8,
                                     weight_decay=0.0)


def _tiny_run(**overrides) -> train.TextRunConfig:
  cfg, _, _ = _tiny_model(dropout=0.1)
  return train.TextRunConfig(**{
      'model': cfg, 'optimizer': SGD, 'clip_norm': 0.5, 'lr_decay': 0.95, 'steps_per_epoch': 10,
      'steps': 12, 'eval_every': 6, **overrides})


class TrainTest(parameterized.TestCase):

  def test_rates_per_group_decay_per_epoch(self):
    _, _, params = _tiny_model()
    opt = optimizer.make_optimizer(SGD, 0.0, 2.0, clip_norm=1e9, lr_decay=0.95,
                                   steps_per_epoch=2)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 1e-3), params)
    state = opt.init(params)
    for step, factor in enumerate((1.0, 1.0, 0.95, 0.95, 0.95 ** 2)):
      updates, state = opt.update(grads, state, params)
      w_k = updates['blocks'][0]['attention']['key']['kernel'][...]
      np.testing.assert_array_equal(w_k, 0.0)  # η_attn = 0
      np.testing.assert_allclose(updates['decoder']['kernel'][...], -2.0 * 1e-3 * factor,
                                 rtol=1e-6, err_msg=f'step {step}')

  def test_adam_first_step_is_the_rate_times_the_gradient_sign(self):
    _, _, params = _tiny_model()
    adam = dataclasses.replace(SGD, name='adam')
    opt = optimizer.make_optimizer(adam, 0.5, 0.01, clip_norm=1e9, lr_decay=0.95,
                                   steps_per_epoch=10)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, -3e-3), params)
    updates, _ = opt.update(grads, opt.init(params), params)
    # m̂ = g and v̂ = g² after one step, so the update is −η g/(|g| + ε) ≈ η·sign(−g).
    np.testing.assert_allclose(updates['blocks'][0]['attention']['query']['kernel'][...], 0.5,
                               rtol=1e-4)
    np.testing.assert_allclose(updates['blocks'][0]['ff1']['kernel'][...], 0.01, rtol=1e-4)

  def test_gradients_are_clipped_to_the_global_norm(self):
    _, _, params = _tiny_model()
    opt = optimizer.make_optimizer(SGD, 1.0, 1.0, clip_norm=0.5, lr_decay=0.95,
                                   steps_per_epoch=10)
    grads = jax.tree_util.tree_map(lambda p: jnp.ones_like(p), params)
    updates, _ = opt.update(grads, opt.init(params), params)
    self.assertAlmostEqual(float(optax_global_norm(updates)), 0.5, places=5)

  def test_weight_decay_is_added_after_clipping(self):
    _, _, params = _tiny_model()
    decaying = dataclasses.replace(SGD, weight_decay=0.1)
    opt = optimizer.make_optimizer(decaying, 2.0, 1.0, clip_norm=1e-9, lr_decay=0.95,
                                   steps_per_epoch=10)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)  # Clipped to almost nothing.
    updates, _ = opt.update(grads, opt.init(params), params)
    for path, lr in ((('blocks', 0, 'attention', 'key', 'kernel'), 2.0),
                     (('decoder', 'kernel'), 1.0)):
      pick = lambda tree: functools.reduce(lambda t, k: t[k], path, tree)[...]
      np.testing.assert_allclose(pick(updates), -lr * 0.1 * pick(params), rtol=1e-5, atol=1e-8)

  def test_evaluation_matches_a_direct_computation(self):
    run, tokens = _tiny_run(), _tiny_data()
    init, _, evaluate = train.make_functions(run)
    state = init(jnp.asarray(3))
    got = evaluate(state.params, tokens)
    graphdef, _ = nnx.split(model.Transformer(run.model, rngs=nnx.Rngs(0)))
    net = nnx.merge(graphdef, state.params)
    losses, entropies = [], []
    for start in range(0, tokens.eval_ExN.shape[1] - run.model.max_len, run.model.max_len):
      inputs = tokens.eval_ExN[:, start:start + run.model.max_len]
      logits, attns = net(inputs)
      log_p = jax.nn.log_softmax(logits)
      targets = tokens.eval_ExN[:, start + 1:start + 1 + run.model.max_len]
      picked = np.take_along_axis(np.asarray(log_p), np.asarray(targets)[..., None], axis=-1)
      losses.append(-picked.mean())
      entropies.append([model.attention_entropy(a).mean() for a in attns])
    np.testing.assert_allclose(got['eval/loss'], np.mean(losses), rtol=1e-5)
    np.testing.assert_allclose(got['attn/entropy'], np.mean(entropies, axis=0), rtol=1e-5)
    _, probe_attns = net(tokens.probe_PxL)
    np.testing.assert_allclose(got['attn/maps'], np.stack(probe_attns), rtol=1e-5, atol=1e-7)

  def test_a_run_does_not_depend_on_the_grid_around_it(self):
    run, tokens = _tiny_run(), _tiny_data()
    target = {'seed': 2, 'lr_attention': 3.0, 'lr_other': 1.5}
    others = [{'seed': 1, 'lr_attention': 1.0, 'lr_other': 1.0},
              {'seed': 3, 'lr_attention': 2.0, 'lr_other': 0.5}]
    results = []
    for runs, index in (([target], 0), ([others[0], target, *others], 1), ([*others, target], 2)):
      grid = sweep.Grid(run, runs, runs_per_device=2)
      losses = [grid.train_chunk(tokens, step)[index] for step in (0, run.eval_every)]
      results.append((losses, {k: v[index] for k, v in grid.evaluate(tokens).items()}))
    for other in results[1:]:  # alone (padded), second of four (padded), last of three
      jax.tree_util.tree_map(np.testing.assert_array_equal, other, results[0])

  def test_grid_run_equals_the_single_run_to_rounding(self):
    run, tokens = _tiny_run(), _tiny_data()
    init, train_chunk, _ = train.make_functions(run)
    single, metrics = jax.jit(train_chunk)(init(jnp.asarray(2)), tokens, jnp.asarray(2), 3.0,
                                           1.5, 0)
    grid = sweep.Grid(run, [{'seed': 1, 'lr_attention': 1.0, 'lr_other': 1.0},
                            {'seed': 2, 'lr_attention': 3.0, 'lr_other': 1.5}], 2)
    grid_loss = grid.train_chunk(tokens, 0)
    # Unbatched, XLA compiles another program: equal up to float rounding only.
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    jax.tree_util.tree_map(lambda g, s: close(g[1], s), grid.state_arrays().params, single.params)
    close(grid_loss[1], metrics['train/loss'])

  def test_result_does_not_depend_on_the_evaluation_interval(self):
    tokens, params = _tiny_data(), []
    for eval_every in (3, 6):
      init, train_chunk, _ = train.make_functions(_tiny_run(eval_every=eval_every))
      state, chunk = init(jnp.asarray(4)), jax.jit(train_chunk)
      for first_step in range(0, 12, eval_every):
        state, _ = chunk(state, tokens, jnp.asarray(4), 2.0, 1.0, first_step)
      params.append(state.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, *params)

  def test_a_diverging_rate_leaves_the_other_runs_alone(self):
    run, tokens = _tiny_run(), _tiny_data()
    results = []
    for absurd in (2.0, 1e38):
      grid = sweep.Grid(run, [{'seed': 1, 'lr_attention': 1.0, 'lr_other': 1.0},
                              {'seed': 1, 'lr_attention': absurd, 'lr_other': absurd}], 2)
      results.append((grid.train_chunk(tokens, 0), grid.evaluate(tokens)))
    self.assertFalse(np.isfinite(results[1][1]['eval/loss'][1]))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a[0], b[0]), *results)

  def test_two_devices_agree_with_one_to_rounding(self):
    out = pathlib.Path(self.create_tempdir().full_path) / 'two_devices.npz'
    proc = subprocess.run([sys.executable, '-c', _TWO_DEVICE_SCRIPT, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    grid, tokens = sweep.Grid(_tiny_run(), FOUR_RUNS, runs_per_device=2), _tiny_data()
    self.assertEqual(grid.num_devices, 1)
    losses = np.stack([grid.train_chunk(tokens, step) for step in (0, 6)])
    evaluated = grid.evaluate(tokens)
    # XLA optimizes a one-device program differently from a sharded one: rounding differs.
    with np.load(out) as two:
      np.testing.assert_allclose(two['losses'], losses, rtol=1e-5)
      for key, value in evaluated.items():
        np.testing.assert_allclose(two[key], value, rtol=1e-4, atol=1e-6, err_msg=key)

  def test_freezing_measure(self):
    before = np.zeros((2, 1, 1, 2, 2))
    before[..., 0, 0] = before[..., 1, 0] = 1.0  # ‖A‖_F² = 2 per layer
    after = before.copy()
    after[1, ..., 1, :] = [0.5, 0.5]  # layer 1 moves by ‖(−0.5, 0.5)‖ = 1/√2
    np.testing.assert_allclose(results.freezing(before, after), [0.0, 0.5], atol=1e-12)


def optax_global_norm(tree) -> jax.Array:
  return jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree_util.tree_leaves(tree)))


class ConfigTest(parameterized.TestCase):

  @parameterized.parameters('wikitext2', 'wikitext103')
  def test_config_files_are_valid_and_documented(self, name):
    c = load_config(name)
    c.data.dir = '/some/folder'
    text_config.validate(c)
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
    with self.assertRaises(config.ConfigError) as raised:
      text_config.validate(c)
    message = str(raised.exception)
    for key in ('data.dir', 'data.bptt', 'model.num_heads', 'optimizer.lr_attention',
                'train.checkpoint_every', 'data.variant', 'sweep.runs_per_device'):
      self.assertIn(f'config.{key} =', message)

  def test_grid_is_seed_major_with_relative_rates(self):
    c = load_config('wikitext2', 'sample')
    c.sweep.num_seeds = 2
    c.optimizer.lr_other = (1.0, 2.0)
    runs = text_config.grid(c)
    self.assertLen(runs, 2 * 3 * 2)
    self.assertEqual(runs[1], {'seed': 1, 'lr_attention': 1.0, 'lr_other': 2.0})
    self.assertEqual(runs[6]['seed'], 2)


@_needs_shipped_files
class SmokeRunTest(absltest.TestCase):

  def test_smoke_run_on_a_slice_of_the_shipped_files(self):
    c = load_config('wikitext2', 'smoke')
    c.data.dir = str(WIKITEXT_DIR)
    c.data.cache_dir = self.create_tempdir().full_path
    workdir = pathlib.Path(self.create_tempdir().full_path)
    result = experiment.run(c, workdir)
    self.assertEqual(result['steps_trained'], c.train.steps)

    runs = text_config.grid(c)
    with open(workdir / 'results.csv') as f:
      rows = list(csv.DictReader(f))
    self.assertLen(rows, len(runs))
    self.assertEqual(list(rows[0])[:3], ['seed', 'lr_attention', 'lr_other'])
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
    for figure in c.figures.names:
      for ext in ('png', 'pdf'):
        self.assertNotEmpty(list((workdir / 'figures').glob(f'{figure}*.{ext}')))

    again = experiment.run(c, workdir)  # A finished workdir trains nothing.
    self.assertEqual(again['steps_trained'], 0)
    self.assertEqual(again['results'], result['results'])

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
