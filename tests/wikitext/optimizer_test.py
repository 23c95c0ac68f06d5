"""The WikiText optimizer: groups of parameters by name at their own rates, decay per epoch,
clipping, Adam and weight decay."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.wikitext import optimizer
from tests.testing import text_optimizer, tiny_transformer


def _global_norm(tree) -> jax.Array:
  return jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree_util.tree_leaves(tree)))


def _leaf(tree, *path) -> jax.Array:
  for key in path:
    tree = tree[key]
  return tree[...]


class OptimizerTest(absltest.TestCase):

  def test_groups_by_the_first_pattern_that_matches(self):
    cfg, _, params = tiny_transformer()
    groups = (('attention/(query|key)/', 2.0), ('ff1|ff2', 3.0), ('ff', 9.0))
    labels = optimizer.param_labels(params, groups)
    flat = jax.tree_util.tree_leaves(labels)
    self.assertEqual(flat.count(0), 4 * cfg.num_layers)  # W_Q, W_K and their biases
    self.assertEqual(flat.count(1), 4 * cfg.num_layers)  # ff1, ff2 and biases; 'ff' never wins
    self.assertEqual(flat.count(2), 0)
    layer = labels['blocks'][1]
    self.assertEqual(layer['attention']['key']['bias'].get_value(), 0)
    self.assertEqual(layer['attention']['value']['kernel'].get_value(), optimizer.BASE)
    self.assertEqual(layer['ff2']['bias'].get_value(), 1)
    self.assertEqual(labels['embed']['embedding'].get_value(), optimizer.BASE)
    self.assertEqual(set(jax.tree_util.tree_leaves(optimizer.param_labels(params, ()))),
                     {optimizer.BASE})

  def test_rates_per_group_decay_per_epoch(self):
    _, _, params = tiny_transformer()
    opt = optimizer.make_optimizer(text_optimizer(), 2.0, (('attention/key', 0.0),
                                                           ('ff1', 0.5)),
                                   clip_norm=1e9, lr_decay=0.95, steps_per_epoch=2)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 1e-3), params)
    state = opt.init(params)
    for step, factor in enumerate((1.0, 1.0, 0.95, 0.95, 0.95 ** 2)):
      updates, state = opt.update(grads, state, params)
      w_k = updates['blocks'][0]['attention']['key']['kernel'][...]
      np.testing.assert_array_equal(w_k, 0.0)  # factor 0
      np.testing.assert_allclose(updates['decoder']['kernel'][...], -2.0 * 1e-3 * factor,
                                 rtol=1e-6, err_msg=f'step {step}')
      np.testing.assert_allclose(updates['blocks'][1]['ff1']['bias'][...], -1.0 * 1e-3 * factor,
                                 rtol=1e-6, err_msg=f'step {step}')

  def test_adam_first_step_is_the_rate_times_the_gradient_sign(self):
    _, _, params = tiny_transformer()
    opt = optimizer.make_optimizer(text_optimizer(name='adam'), 0.01, (('query', 50.0),),
                                   clip_norm=1e9, lr_decay=0.95, steps_per_epoch=10)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, -3e-3), params)
    updates, _ = opt.update(grads, opt.init(params), params)
    # m̂ = g and v̂ = g² after one step, so the update is −η g/(|g| + ε) ≈ η·sign(−g).
    np.testing.assert_allclose(updates['blocks'][0]['attention']['query']['kernel'][...], 0.5,
                               rtol=1e-4)
    np.testing.assert_allclose(updates['blocks'][0]['ff1']['kernel'][...], 0.01, rtol=1e-4)

  def test_gradients_are_clipped_to_the_global_norm(self):
    _, _, params = tiny_transformer()
    opt = optimizer.make_optimizer(text_optimizer(), 1.0, (), clip_norm=0.5, lr_decay=0.95,
                                   steps_per_epoch=10)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    updates, _ = opt.update(grads, opt.init(params), params)
    self.assertAlmostEqual(float(_global_norm(updates)), 0.5, places=5)

  def test_weight_decay_is_added_after_clipping(self):
    _, _, params = tiny_transformer()
    opt = optimizer.make_optimizer(text_optimizer(weight_decay=0.1), 1.0, (('key', 2.0),),
                                   clip_norm=1e-9, lr_decay=0.95, steps_per_epoch=10)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)  # Clipped to almost nothing.
    updates, _ = opt.update(grads, opt.init(params), params)
    for path, lr in ((('blocks', 0, 'attention', 'key', 'kernel'), 2.0),
                     (('decoder', 'kernel'), 1.0)):
      np.testing.assert_allclose(_leaf(updates, *path), -lr * 0.1 * _leaf(params, *path),
                                 rtol=1e-5, atol=1e-8, err_msg=str(path))


if __name__ == '__main__':
  absltest.main()
