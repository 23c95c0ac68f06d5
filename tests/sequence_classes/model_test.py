"""The Y/Z model against independent computations (docs/model.md, "The reparameterized
1-layer transformer")."""

import dataclasses

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model

M = 12


def _random_case(seed, seq_len=9):
  """Random Y, Z and one sequence sample over a vocabulary of M tokens."""
  rng = np.random.default_rng(seed)
  params = {'Y': jnp.asarray(rng.normal(size=(M, M)), jnp.float32),
            'Z': jnp.asarray(rng.normal(size=(M, M)), jnp.float32)}
  context = rng.integers(0, M - 2, size=seq_len - 1)  # tokens M−2, M−1 serve as query, label
  return params, jnp.asarray(context), jnp.asarray(M - 2), jnp.asarray(M - 1)


def _closed_form_grads(params, context, query, label, cfg):
  """∂loss/∂Y and ∂loss/∂Z from docs/model.md, "Gradients" (Lemma 1), in float64 numpy.

  Ascent directions: Ẏ = f (e_n − α)^T; ż_m = J_u^T J_f^T Y (e_n − α) with
  J_u = diag(u) − u u^T, J_f = (I − f f^T)/‖v‖ (identity without ℓ2 normalization),
  v = u (+ e_m with the residual). The loss gradients are their negatives.
  """
  Y, Z = (np.asarray(params[k], np.float64) for k in ('Y', 'Z'))
  m, n = int(query), int(label)
  z = Z[m, np.asarray(context)]
  b = np.exp(z - z.max())
  b /= b.sum()
  u = np.zeros(M)
  np.add.at(u, np.asarray(context), b)
  v = u + np.eye(M)[m] if cfg.residual else u
  f = v / np.linalg.norm(v) if cfg.l2_norm else v
  logits = f @ Y
  alpha = np.exp(logits - logits.max())
  alpha /= alpha.sum()
  err = np.eye(M)[n] - alpha
  J_u = np.diag(u) - np.outer(u, u)
  J_f = (np.eye(M) - np.outer(f, f)) / np.linalg.norm(v) if cfg.l2_norm else np.eye(M)
  grad_Y = -np.outer(f, err)
  grad_Z = np.zeros((M, M))
  grad_Z[m] = -J_u @ J_f @ Y @ err
  return grad_Y, grad_Z


def _one_sample(context, query, label):
  return data.SequenceBatch(cls=jnp.zeros(1, jnp.int32), query=query[None],
                            context=context[None], label=label[None])


class GradientTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(l2_norm=(True, False), residual=(False, True), seed=(0, 1))
  def test_autodiff_equals_closed_form(self, l2_norm, residual, seed):
    cfg = model.ModelConfig(init='zeros', init_scale=0.0, l2_norm=l2_norm, residual=residual)
    params, context, query, label = _random_case(seed)
    grad_fn = self.variant(
        lambda p, b: jax.grad(lambda p: model.loss_sequence(p, b, cfg)[0])(p))
    grads = grad_fn(params, _one_sample(context, query, label))
    want_Y, want_Z = _closed_form_grads(params, context, query, label, cfg)
    self.assertGreater(np.abs(want_Z).max(), 1e-3)  # The case exercises a real gradient.
    np.testing.assert_allclose(grads['Y'], want_Y, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads['Z'], want_Z, rtol=1e-4, atol=1e-6)

  def test_loss_value_by_hand(self):
    """loss = −log softmax(f^T Y)_n, f = u/‖u‖, in float64 numpy."""
    cfg = model.ModelConfig(init='zeros', init_scale=0.0, l2_norm=True, residual=False)
    params, context, query, label = _random_case(5)
    Z, Y = (np.asarray(params[k], np.float64) for k in ('Z', 'Y'))
    b = np.exp(Z[int(query), np.asarray(context)])
    u = np.zeros(M)
    np.add.at(u, np.asarray(context), b / b.sum())
    logits = (u / np.linalg.norm(u)) @ Y
    want = np.log(np.exp(logits).sum()) - logits[int(label)]
    loss, _ = model.loss_sequence(params, _one_sample(context, query, label), cfg)
    np.testing.assert_allclose(loss, want, rtol=1e-5)

  def test_only_the_query_row_of_z_moves(self):
    cfg = model.ModelConfig(init='zeros', init_scale=0.0, l2_norm=True, residual=False)
    params, context, query, label = _random_case(3)
    grads = jax.grad(lambda p: model.loss_sequence(p, _one_sample(context, query, label),
                                                   cfg)[0])(params)
    rows_moved = np.flatnonzero(np.abs(np.asarray(grads['Z'])).sum(axis=1))
    np.testing.assert_array_equal(rows_moved, [int(query)])


class CountsFormTest(chex.TestCase):

  def _batch(self):
    spec = data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=3,
                                num_common_per_last=2, num_unique_per_next=4)
    tables = spec.tables()
    seq = data.sample_sequences(jax.random.key(0), tables, batch_size=16, seq_len=24)
    params = model.init_params(jax.random.key(1), spec.vocab_size,
                               model.ModelConfig('normal', 1.0, True, False))
    return params, seq, data.counts_of_sequences(seq, tables)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(l2_norm=(True, False), residual=(False, True))
  def test_counts_form_equals_sequence_form(self, l2_norm, residual):
    cfg = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=l2_norm, residual=residual)
    params, seq, counts = self._batch()
    value_and_grad = lambda loss: self.variant(
        jax.value_and_grad(lambda p, b: loss(p, b, cfg), has_aux=True))
    (loss_s, aux_s), grads_s = value_and_grad(model.loss_sequence)(params, seq)
    (loss_c, aux_c), grads_c = value_and_grad(model.loss_counts)(params, counts)
    np.testing.assert_allclose(loss_c, loss_s, rtol=1e-5)
    np.testing.assert_allclose(aux_c['accuracy'], aux_s['accuracy'])
    for k in ('Y', 'Z'):
      np.testing.assert_allclose(grads_c[k], grads_s[k], rtol=1e-4, atol=1e-6)

  @parameterized.product(l2_norm=(True, False), residual=(False, True))
  def test_read_parameters_equal_the_sequence_form(self, l2_norm, residual):
    """Training's form: Y and Z[C:, :C] give the sequence form's loss and gradients, which
    are zero on the rest of Z; write_params puts the block back in place."""
    cfg = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=l2_norm, residual=residual)
    params, seq, counts = self._batch()
    num_context = counts.num_counted
    read = model.read_params(params, num_context)
    chex.assert_shape(read['Z'], (params['Z'].shape[0] - num_context, num_context))
    (loss_r, _), grads_r = jax.value_and_grad(model.loss_read, has_aux=True)(read, counts, cfg)
    (loss_s, _), grads_s = jax.value_and_grad(model.loss_sequence, has_aux=True)(params, seq, cfg)
    np.testing.assert_allclose(loss_r, loss_s, rtol=1e-5)
    np.testing.assert_allclose(grads_r['Y'], grads_s['Y'], rtol=1e-4, atol=1e-6)
    grad_z = model.write_params(jax.tree.map(jnp.zeros_like, params), grads_r)['Z']
    self.assertGreater(float(jnp.abs(grads_r['Z']).max()), 1e-3)
    np.testing.assert_allclose(grad_z, grads_s['Z'], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model.write_params(params, read)['Z'], params['Z'])

  @parameterized.product(l2_norm=(True, False), residual=(False, True), counted=(M, M - 1))
  def test_counts_over_a_prefix_of_the_vocabulary(self, l2_norm, residual, counted):
    """Counts may stop at any id C (here M and M − 1; the query M − 2 appears in the context)."""
    cfg = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=l2_norm, residual=residual)
    params, context, query, _ = _random_case(4, seq_len=30)
    context = context.at[:3].set(query)
    want = model.logits_sequence(params, query, context, cfg)
    counts = jnp.bincount(context, length=M)[:counted].astype(jnp.float32)
    batch = data.CountsBatch(num_counted=counted, cls=jnp.zeros(1, jnp.int32), query=query[None],
                             tokens=jnp.arange(counted)[None], counts=counts[None],
                             label=jnp.zeros(1, jnp.int32))
    np.testing.assert_allclose(model.logits_counts(params, batch, cfg)[0], want, rtol=1e-5,
                               atol=1e-6)

  @parameterized.product(l2_norm=(True, False), residual=(False, True))
  def test_listed_tokens_in_any_order(self, l2_norm, residual):
    """A row may list any distinct tokens, in any order, some with zero counts (here the
    query among them, and a token below C that is never listed)."""
    cfg = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=l2_norm, residual=residual)
    params, context, query, _ = _random_case(6, seq_len=30)
    context = context.at[:3].set(query).at[3:].set(jnp.where(context[3:] == 1, 2, context[3:]))
    want = model.logits_sequence(params, query, context, cfg)
    tokens = jnp.array([M - 2, 7, 0, 5, 9, 3, 2, 4, 6, 8])  # every id below M − 1 but 1
    counts = jnp.bincount(context, length=M)[tokens].astype(jnp.float32)
    self.assertEqual(float(counts.sum()), len(context))
    batch = data.CountsBatch(num_counted=M - 1, cls=jnp.zeros(1, jnp.int32), query=query[None],
                             tokens=tokens[None], counts=counts[None],
                             label=jnp.zeros(1, jnp.int32))
    np.testing.assert_allclose(model.logits_counts(params, batch, cfg)[0], want, rtol=1e-5,
                               atol=1e-6)

  def test_counts_matter(self):
    """The equality above is not vacuous: other counts give another loss."""
    cfg = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=True, residual=False)
    params, _, counts = self._batch()
    shuffled = dataclasses.replace(counts, counts=counts.counts[:, ::-1])
    self.assertGreater(abs(float(model.loss_counts(params, counts, cfg)[0])
                           - float(model.loss_counts(params, shuffled, cfg)[0])), 1e-3)

  def test_attention_counts_hand_case(self):
    z = jnp.array([0.0, np.log(2.0), 5.0])
    counts = jnp.array([3.0, 1.0, 0.0])
    np.testing.assert_allclose(model.attention_counts(z, counts), [0.6, 0.4, 0.0], rtol=1e-6)


class TokenPriorTest(chex.TestCase):
  """Sec. 7's learned prior b (docs/model.md): the attention reads z_{m,l} + b_l."""

  @staticmethod
  def _cfg(l2_norm=True, residual=False):
    return model.ModelConfig(init='normal', init_scale=1.0, l2_norm=l2_norm, residual=residual,
                             token_prior=True)

  @staticmethod
  def _with_prior(params, seed):
    rng = np.random.default_rng(seed + 100)
    return {**params, 'b': jnp.asarray(rng.normal(size=params['Z'].shape[0]), jnp.float32)}

  @parameterized.product(l2_norm=(True, False), residual=(False, True), seed=(0, 1))
  def test_gradient_is_lemma_1_on_z_plus_b_summed_over_queries(self, l2_norm, residual, seed):
    """With the prior folded into Z (z'_{m,l} = z_{m,l} + b_l), the closed form gives ∂/∂Y
    and ∂/∂Z, and ∂/∂b_l is ∂/∂z'_{m,l} summed over the queries m."""
    cfg = self._cfg(l2_norm, residual)
    params, context, query, label = _random_case(seed)
    params = self._with_prior(params, seed)
    folded = {'Y': params['Y'], 'Z': params['Z'] + params['b'][None]}
    grads = jax.grad(lambda p: model.loss_sequence(p, _one_sample(context, query, label),
                                                   cfg)[0])(params)
    want_Y, want_Z = _closed_form_grads(folded, context, query, label, cfg)
    self.assertGreater(np.abs(want_Z).max(), 1e-3)
    np.testing.assert_allclose(grads['Y'], want_Y, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads['Z'], want_Z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads['b'], want_Z.sum(axis=0), rtol=1e-4, atol=1e-6)

  @parameterized.product(l2_norm=(True, False), residual=(False, True))
  def test_counts_read_and_sequence_forms_agree_in_values_and_gradients(self, l2_norm, residual):
    cfg = self._cfg(l2_norm, residual)
    params, seq, counts = CountsFormTest()._batch()
    params = self._with_prior(params, 0)
    read = model.read_params(params, counts.num_counted)
    value_and_grad = lambda loss, p, b: jax.value_and_grad(
        lambda p: loss(p, b, cfg), has_aux=True)(p)
    (loss_s, _), grads_s = value_and_grad(model.loss_sequence, params, seq)
    (loss_c, _), grads_c = value_and_grad(model.loss_counts, params, counts)
    (loss_r, _), grads_r = value_and_grad(model.loss_read, read, counts)
    np.testing.assert_allclose(loss_c, loss_s, rtol=1e-5)
    np.testing.assert_allclose(loss_r, loss_s, rtol=1e-5)
    self.assertGreater(float(jnp.abs(grads_s['b']).max()), 1e-3)
    for k in ('Y', 'Z', 'b'):
      np.testing.assert_allclose(grads_c[k], grads_s[k], rtol=1e-4, atol=1e-6)
    grads_r = model.write_params(jax.tree.map(jnp.zeros_like, params), grads_r)
    for k in ('Y', 'Z', 'b'):
      np.testing.assert_allclose(grads_r[k], grads_s[k], rtol=1e-4, atol=1e-6)
    # Over the classes of a batch, ∂/∂b_l sums the gradients on z_{m,l} of every query m.
    np.testing.assert_allclose(grads_s['b'], grads_s['Z'].sum(axis=0), rtol=1e-4, atol=1e-6)

  def test_the_logged_attention_logits_read_z_plus_b(self):
    spec = data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=3,
                                num_common_per_last=2, num_unique_per_next=4)
    tables = spec.tables()
    params = self._with_prior(model.init_params(jax.random.key(1), spec.vocab_size,
                                                self._cfg()), 0)
    read = model.read_params(params, tables.num_context_tokens)
    want = (params['Z'][tables.query[:, None], tables.support]
            + params['b'][tables.support])
    np.testing.assert_allclose(model.support_logits(read, tables), want, rtol=1e-6)

  def test_at_zero_it_is_the_model_without_it_bit_for_bit(self):
    """b starts at 0, beside the same draw of Y and Z: the first loss and the gradients on Y
    and Z are exactly those of the model without the prior."""
    off = model.ModelConfig(init='normal', init_scale=1.0, l2_norm=True, residual=True)
    on = dataclasses.replace(off, token_prior=True)
    params_off = model.init_params(jax.random.key(3), M, off)
    params_on = model.init_params(jax.random.key(3), M, on)
    self.assertEqual(sorted(params_off), ['Y', 'Z'])
    np.testing.assert_array_equal(params_on['b'], np.zeros(M))
    for k in ('Y', 'Z'):
      np.testing.assert_array_equal(params_on[k], params_off[k])
    _, context, query, label = _random_case(2)
    batch = _one_sample(context, query, label)
    grad = lambda p, cfg: jax.value_and_grad(lambda p: model.loss_sequence(p, batch, cfg)[0])(p)
    (loss_off, grads_off), (loss_on, grads_on) = grad(params_off, off), grad(params_on, on)
    np.testing.assert_array_equal(loss_on, loss_off)
    for k in ('Y', 'Z'):
      np.testing.assert_array_equal(grads_on[k], grads_off[k])


class AccuracyTest(absltest.TestCase):

  def test_equals_argmax_with_ties(self):
    """Logits from {0, 1, 2} tie often; argmax gives ties to the first index."""
    rng = np.random.default_rng(0)
    logits = rng.integers(0, 3, size=(4000, 6)).astype(np.float32)
    label = rng.integers(0, 6, size=4000)
    per_sample = np.argmax(logits, axis=-1) == label
    self.assertTrue(0.1 < per_sample.mean() < 0.9)
    for rows in np.array_split(np.arange(4000), 40):  # Batches with different accuracies.
      got = model.accuracy(jnp.asarray(logits[rows]), jnp.asarray(label[rows]))
      np.testing.assert_allclose(got, per_sample[rows].mean(), rtol=1e-6)


class InitTest(parameterized.TestCase):

  def test_zeros(self):
    params = model.init_params(jax.random.key(0), 7, model.ModelConfig('zeros', 0.0, True, False))
    for x in params.values():
      np.testing.assert_array_equal(x, np.zeros((7, 7)))

  def test_uniform_bounds_and_spread(self):
    m = 100
    params = model.init_params(jax.random.key(0), m, model.ModelConfig('uniform', 0.0, True,
                                                                       False))
    bound = 1 / np.sqrt(m)
    for x in map(np.asarray, params.values()):
      self.assertLessEqual(np.abs(x).max(), bound)
      # Var of U[−a, a] is a²/3; the sample variance of 10⁴ draws has relative std ≈ 0.009.
      np.testing.assert_allclose(x.var(), bound**2 / 3, rtol=0.05)
    self.assertFalse(np.array_equal(params['Y'], params['Z']))

  def test_normal_scale(self):
    params = model.init_params(jax.random.key(0), 100,
                               model.ModelConfig('normal', 0.3, True, False))
    # The sample std of 10⁴ normal draws has relative std 1/√(2·10⁴) ≈ 0.007.
    np.testing.assert_allclose(np.asarray(params['Z']).std(), 0.3, rtol=0.04)

  def test_unknown_init(self):
    with self.assertRaisesRegex(ValueError, 'unknown init'):
      model.init_params(jax.random.key(0), 4, model.ModelConfig('ones', 0.0, True, False))


if __name__ == '__main__':
  absltest.main()
