"""The hierarchical-class transformer against the formula written out per position in numpy,
and its initialization against PyTorch's defaults."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.hierarchical import model

CFG = model.TransformerConfig(vocab_size=7, num_classes=3, d_model=8, d_ff=12, num_heads=2,
                              num_layers=2)


def by_hand(params, tokens):
  """The module docstring's formula, one sequence and one query position at a time."""
  p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
  ln = lambda q, x: (x - x.mean()) / np.sqrt(x.var() + model.LN_EPS) * q['scale'] + q['bias']
  logits, hiddens = [], [[] for _ in p['blocks']]
  d, heads = CFG.d_model, CFG.num_heads
  e = d // heads
  for seq in tokens:
    x = p['embed'][seq]
    for b, block in enumerate(p['blocks']):
      q, k, v = x @ block['wq'], x @ block['wk'], x @ block['wv']
      out = np.zeros_like(x)
      for i in range(len(seq)):
        for h in range(heads):
          cols = slice(h * e, (h + 1) * e)
          w = np.exp(q[i, cols] @ k[:i + 1, cols].T / np.sqrt(e))
          out[i, cols] = (w / w.sum()) @ v[:i + 1, cols]
      u = np.stack([ln(block['ln1'], row) for row in out + x])
      hidden = np.maximum(u @ block['ff1']['kernel'] + block['ff1']['bias'], 0)
      x = np.stack([ln(block['ln2'], row)
                    for row in hidden @ block['ff2']['kernel'] + block['ff2']['bias'] + u])
      hiddens[b].append(hidden)
    logits.append(x[-1] @ p['out']['kernel'] + p['out']['bias'])
  return np.stack(logits), [np.stack(h) for h in hiddens]


class ModelTest(absltest.TestCase):

  def test_apply_is_the_formula(self):
    params = model.init(CFG, jax.random.key(0))
    # Nonzero LayerNorm parameters, so that they enter the comparison.
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 0.1 * jnp.arange(x.size).reshape(x.shape) / x.size
        if 'ln' in jax.tree_util.keystr(path) else x, params)
    tokens = np.random.default_rng(0).integers(0, CFG.vocab_size, (3, 5))
    logits, hiddens, _ = model.apply(CFG, params, jnp.asarray(tokens))
    want_logits, want_hiddens = by_hand(params, tokens)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)
    for got, want in zip(hiddens, want_hiddens):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

  def test_a_position_sees_only_itself_and_earlier_positions(self):
    params = model.init(CFG, jax.random.key(1))
    tokens = jnp.asarray([[1, 2, 3, 4], [1, 2, 3, 5]])
    _, hiddens, _ = model.apply(CFG, params, tokens)
    for h in hiddens:
      np.testing.assert_array_equal(h[0, :3], h[1, :3])
      self.assertFalse(np.allclose(h[0, 3], h[1, 3]))

  def test_initialization_is_pytorch_default(self):
    cfg = model.TransformerConfig(vocab_size=50, num_classes=10, d_model=64, d_ff=256)
    params = model.init(cfg, jax.random.key(2))
    embed = np.asarray(params['embed'])
    self.assertAlmostEqual(embed.std(), 1.0, delta=0.05)  # N(0, 1)
    block = params['blocks'][0]
    for weight, fan_in in ((block['wq'], 64), (block['ff1']['kernel'], 64),
                           (block['ff1']['bias'], 64), (block['ff2']['kernel'], 256)):
      bound = 1 / np.sqrt(fan_in)
      self.assertLessEqual(float(jnp.abs(weight).max()), bound)
      self.assertAlmostEqual(float(jnp.abs(weight).max()), bound, delta=0.05 * bound)
      self.assertAlmostEqual(float(weight.std()), bound / np.sqrt(3), delta=0.1 * bound)
    np.testing.assert_array_equal(block['ln1']['scale'], 1)
    np.testing.assert_array_equal(block['ln1']['bias'], 0)


YZ = model.YZConfig(vocab_size=6, num_classes=3, num_layers=2, hidden_vocab=5)


def yz_by_hand(params, tokens):
  """The Y/Z formula of the module docstring, one sequence and one query position at a time."""
  p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
  unit = lambda v: v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v
  logits, hiddens = [], [[] for _ in p['layers']]
  for seq in tokens:
    x = np.eye(YZ.vocab_size)[seq]
    for l, layer in enumerate(p['layers']):
      f = np.zeros_like(x)
      for i in range(len(seq)):
        w = np.exp(x[:i + 1] @ layer['Z'].T @ x[i])  # z(query, key) = x_qᵀ Z x_k
        f[i] = unit((w / w.sum()) @ x[:i + 1])
      hiddens[l].append(f)
      out = f @ layer['Y']
      x = np.stack([unit(np.maximum(row, 0)) for row in out])
    logits.append(out[-1])
  return np.stack(logits), [np.stack(h) for h in hiddens]


class YZModelTest(absltest.TestCase):

  def test_apply_is_the_formula(self):
    params = model.init(YZ, jax.random.key(0))
    self.assertEqual([l['Y'].shape for l in params['layers']], [(6, 5), (5, 3)])
    np.testing.assert_array_equal(params['layers'][0]['Z'], 0)  # uniform attention at the start
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda x: x + 0.5 * rng.normal(size=x.shape), params)  # Z ≠ 0 too
    tokens = rng.integers(0, YZ.vocab_size, (3, 5))
    logits, hiddens, attentions = model.apply(YZ, params, jnp.asarray(tokens))
    want_logits, want_hiddens = yz_by_hand(params, tokens)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)
    for got, want in zip(hiddens, want_hiddens):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    self.assertEqual(attentions[0].shape, (3, 1, 5, 5))
    np.testing.assert_allclose(attentions[1].sum(-1), 1, rtol=1e-5)

  def test_gradient_is_finite_where_a_layer_output_is_zero(self):
    params = model.init(YZ, jax.random.key(2))
    params['layers'][0]['Y'] = -jnp.ones_like(params['layers'][0]['Y'])  # ReLU(f Y) = 0
    grads = jax.grad(lambda p: model.apply(YZ, p, jnp.asarray([[1, 2, 3]]))[0].sum())(params)
    self.assertTrue(all(np.isfinite(g).all() for g in jax.tree.leaves(grads)))


if __name__ == '__main__':
  absltest.main()
