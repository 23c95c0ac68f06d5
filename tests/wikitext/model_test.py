"""The WikiText models: the transformer's causal attention, dropout only with a key, positions,
entropy; the Y/Z model against its dense one-hot computation."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from scan_snap.wikitext import model
from tests.testing import tiny_transformer


class ModelTest(parameterized.TestCase):

  def test_no_gradient_from_future_tokens(self):
    cfg, graphdef, params = tiny_transformer()
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
    cfg, graphdef, params = tiny_transformer(dropout=0.3)
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
    cfg, graphdef, params = tiny_transformer(dropout=0.5)
    net = nnx.merge(graphdef, params)
    tokens = jnp.arange(cfg.max_len)[None]
    np.testing.assert_array_equal(net(tokens)[0], net(tokens)[0])
    self.assertFalse(np.allclose(net(tokens, jax.random.key(0))[0], net(tokens)[0]))
    x = jnp.ones(20_000)
    kept = model.dropout(x, 0.5, jax.random.key(0))
    self.assertAlmostEqual(float(kept.mean()), 1.0, delta=4 * np.sqrt(1.0 / 20_000))  # ±4σ
    self.assertEqual(set(np.unique(kept).tolist()), {0.0, 2.0})

  def test_pytorch_initialization_is_nn_transformer_encoder_layer_s(self):
    cfg = model.TransformerConfig(vocab_size=50, max_len=8, d_model=200, d_ff=100,
                                  init='pytorch')
    block = model.Transformer(cfg, rngs=nnx.Rngs(0)).blocks[0]
    attention = block.attention
    for linear, bound, bias_bound in (
        (attention.query, np.sqrt(6 / 800), 0), (attention.key, np.sqrt(6 / 800), 0),
        (attention.value, np.sqrt(6 / 800), 0), (attention.out, 1 / np.sqrt(200), 0),
        (block.ff1, 1 / np.sqrt(200), 1 / np.sqrt(200)),
        (block.ff2, 1 / np.sqrt(100), 1 / np.sqrt(100))):
      kernel, bias = np.asarray(linear.kernel[...]), np.asarray(linear.bias[...])
      self.assertLessEqual(np.abs(kernel).max(), bound)
      self.assertGreater(np.abs(kernel).max(), 0.98 * bound)  # uniform up to the bound
      self.assertAlmostEqual(kernel.std(), bound / np.sqrt(3), delta=0.05 * bound)
      self.assertLessEqual(np.abs(bias).max(), bias_bound)
      if bias_bound:
        self.assertGreater(np.abs(bias).max(), 0.9 * bias_bound)
    flax_default = model.Transformer(model.TransformerConfig(vocab_size=50, max_len=8),
                                     rngs=nnx.Rngs(0)).blocks[0]
    np.testing.assert_array_equal(flax_default.ff1.bias[...], 0)  # lecun_normal, zero biases

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

  @parameterized.parameters((True, True), (True, False), (False, True), (False, False))
  def test_yz_model_equals_its_dense_one_hot_computation(self, residual, normalize):
    cfg = model.YZConfig(vocab_size=11, max_len=7, rank=4, residual=residual,
                         normalize=normalize)
    yz = model.build(cfg, nnx.Rngs(3))
    tokens = jnp.array([[2, 5, 2, 2, 9, 0, 5], [1, 1, 1, 1, 1, 1, 1]])
    logits, (attn,) = yz(tokens)
    # Dense, as the authors write it: X one-hot [B, L, M], Z = Z_query Z_keyᵀ, Y = Y_out Y_inᵀ.
    f64 = lambda p: np.asarray(p[...], np.float64)
    z_mxm = f64(yz.Z_query) @ f64(yz.Z_key).T
    y_mxm = f64(yz.Y_out) @ f64(yz.Y_in).T
    x = np.eye(cfg.vocab_size)[np.asarray(tokens)]
    scores = np.einsum('bqm,mn,bkn->bqk', x, z_mxm, x)
    scores = np.where(np.tril(np.ones((7, 7), bool)), scores, -np.inf)
    a = np.exp(scores - scores.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    u = a @ x + x if residual else a @ x
    f = u / np.linalg.norm(u, axis=-1, keepdims=True) if normalize else u
    expected = f @ y_mxm.T + f if residual else f @ y_mxm.T
    np.testing.assert_allclose(attn[:, 0], a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-6)

  def test_yz_parameter_names_and_init_bounds(self):
    cfg = model.YZConfig(vocab_size=400, max_len=4, rank=25)
    yz = model.build(cfg, nnx.Rngs(0))
    self.assertEqual(model.param_names('yz', 1), ['Y_in', 'Y_out', 'Z_key', 'Z_query'])
    for name, fan_in in (('Z_key', 400), ('Y_in', 400), ('Z_query', 25), ('Y_out', 25)):
      value = np.abs(np.asarray(getattr(yz, name)[...]))
      self.assertLessEqual(value.max(), 1 / np.sqrt(fan_in))
      self.assertGreater(value.max(), 0.9 / np.sqrt(fan_in))  # uniform up to the bound


if __name__ == '__main__':
  absltest.main()
