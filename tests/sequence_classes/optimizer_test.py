"""The two learning-rate groups against hand-written update rules."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import optax

from scan_snap.core import optimizer as core_optimizer
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import optimizer


def _config(name, weight_decay=0.0):
  return core_optimizer.from_config(core_optimizer.config(name=name, momentum=0.9,
                                                         weight_decay=weight_decay))


def _run(opt, params, grads_seq):
  state = opt.init(params)
  for g in grads_seq:
    updates, state = opt.update(g, state, params)
    params = optax.apply_updates(params, updates)
  return params


class OptimizerTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.params = {'Y': rng.normal(size=(3, 3)), 'Z': rng.normal(size=(3, 3))}
    self.grads = [{'Y': rng.normal(size=(3, 3)), 'Z': rng.normal(size=(3, 3))} for _ in range(3)]

  @parameterized.parameters(0.0, 0.01)
  def test_sgd_momentum_per_group(self, weight_decay):
    lr = {'Y': 0.7, 'Z': 0.2}
    got = _run(optimizer.make_optimizer(_config('sgd', weight_decay), lr_y=lr['Y'], lr_z=lr['Z']),
               self.params, self.grads)
    for k in ('Y', 'Z'):  # PyTorch's rule: v ← μ v + (g + wd θ); θ ← θ − η v.
      theta, v = self.params[k].copy(), np.zeros((3, 3))
      for g in self.grads:
        v = 0.9 * v + g[k] + weight_decay * theta
        theta = theta - lr[k] * v
      np.testing.assert_allclose(got[k], theta, rtol=1e-5, atol=1e-5)

  def test_adam_per_group(self):
    lr = {'Y': 0.05, 'Z': 0.3}
    got = _run(optimizer.make_optimizer(_config('adam'), lr_y=lr['Y'], lr_z=lr['Z']),
               self.params, self.grads)
    for k in ('Y', 'Z'):
      theta, m, v = self.params[k].copy(), 0.0, 0.0
      for t, g in enumerate(self.grads, start=1):
        m = 0.9 * m + 0.1 * g[k]
        v = 0.999 * v + 0.001 * g[k]**2
        theta = theta - lr[k] * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
      np.testing.assert_allclose(got[k], theta, rtol=1e-5, atol=1e-5)

  def test_traced_learning_rates_under_vmap(self):
    def final(lr_y, lr_z):
      return _run(optimizer.make_optimizer(_config('sgd'), lr_y=lr_y, lr_z=lr_z),
                  jax.tree.map(jnp.asarray, self.params), self.grads)
    lrs = jnp.array([0.0, 0.5])
    batched = jax.jit(jax.vmap(final))(lrs, lrs[::-1])
    np.testing.assert_array_equal(batched['Y'][0], self.params['Y'].astype(np.float32))
    np.testing.assert_array_equal(batched['Z'][1], self.params['Z'].astype(np.float32))
    np.testing.assert_allclose(batched['Y'][1], final(0.5, 0.0)['Y'], rtol=1e-6)

  def test_the_token_prior_steps_at_eta_z_and_is_carried_whole(self):
    params = jax.tree.map(jnp.asarray, {**self.params, 'b': np.ones(3)})  # b, added to z_{m,l}
    grads = [{**g, 'b': np.full(3, 2.0)} for g in self.grads]
    got = _run(optimizer.make_optimizer(_config('sgd'), lr_y=0.7, lr_z=0.2), params, grads)
    read = model.read_params(params, 2)
    np.testing.assert_allclose(got['b'], 1 - 0.2 * 2 * (1 + 1.9 + 2.71), rtol=1e-6)  # momentum
    np.testing.assert_array_equal(read['b'], params['b'])
    self.assertEqual(read['Z'].shape, (1, 2))
    np.testing.assert_array_equal(model.write_params(params, read)['Z'], params['Z'])

  def test_unknown_optimizer(self):
    with self.assertRaisesRegex(ValueError, 'unknown optimizer'):
      optimizer.make_optimizer(_config('lbfgs'), lr_y=1.0, lr_z=1.0)


if __name__ == '__main__':
  absltest.main()
