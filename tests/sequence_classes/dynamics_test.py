"""Population (T → ∞) dynamics and its gradient flow (docs/model.md, "Long sequences"; Lemma 2)."""

import dataclasses

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import pipeline
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train
from tests.testing import load_config

SPEC = data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=3,
                            num_common_per_last=1, num_unique_per_next=4)
CFG = model.ModelConfig(init='normal', init_scale=0.5, l2_norm=True, residual=False)


def _population_run(**changes):
  c = load_config('phase_transition', 'smoke')
  return dataclasses.replace(config.run_config(c, num_last=2), **changes)


class PopulationGradientTest(absltest.TestCase):

  def _class_balanced_sampled_gradient(self, params, seq_len, key):
    """Mean over classes of each class's mean per-sample gradient (4096 samples)."""
    batch = data.sample_counts(key, SPEC.tables(), 4096, seq_len)
    one_sample = lambda b: jax.tree.map(lambda x: x[None], b)  # a batch of one
    grad_one = jax.grad(lambda p, b: model.loss_counts(p, one_sample(b), CFG)[0])
    grads = jax.jit(jax.vmap(grad_one, (None, 0)))(params, batch)
    onehot = jax.nn.one_hot(batch.cls, SPEC.num_classes)
    per_class = jnp.einsum('bk,b...->k...', onehot / onehot.sum(0, keepdims=True), grads['Z'])
    return per_class.mean(0)

  def test_sampled_gradient_tends_to_population_gradient(self):
    params = model.init_params(jax.random.key(0), SPEC.vocab_size, CFG)
    population = jax.grad(lambda p: model.loss_counts(
        p, data.population_batch(SPEC.tables()), CFG)[0])(params)['Z']
    scale = np.abs(population).max()
    errors = {t: np.abs(self._class_balanced_sampled_gradient(params, t, jax.random.key(1))
                        - population).max() / scale for t in (8, 4096)}
    # At T = 4096 each count has relative noise ≈ 1/√(T·P) ≲ 0.06 per sample, averaged over
    # ~1000 samples per class; what remains is the O(1/T) bias of the nonlinear f.
    self.assertLess(errors[4096], 0.02)
    self.assertGreater(errors[8], 5 * errors[4096])  # The limit is approached, not assumed.


class FlowTest(absltest.TestCase):

  def test_small_step_gradient_descent_approaches_the_flow(self):
    horizon, lr_y, lr_z = 20, 1.0, 0.5
    flow_run = _population_run(dynamics='flow', steps=horizon, log_every=horizon)
    _, flow = jax.jit(train.make_train(flow_run))(jax.random.key(0), lr_y, lr_z)
    errors = []
    for h in (0.2, 0.05):
      steps = round(horizon / h)
      gd_run = _population_run(dynamics='population', steps=steps, log_every=steps)
      _, gd = jax.jit(train.make_train(gd_run))(jax.random.key(0), h * lr_y, h * lr_z)
      errors.append(np.abs(gd['attn/logits'][-1] - flow['attn/logits'][-1]).max())
    self.assertGreater(np.abs(flow['attn/logits'][-1]).max(), 0.05)  # Z really moved.
    self.assertLess(errors[1], 0.01 * np.abs(flow['attn/logits'][-1]).max())
    np.testing.assert_allclose(errors[0] / errors[1], 4.0, rtol=0.25)  # First order in h.

  def test_failed_lane_is_marked_and_the_others_run(self):
    run_config = _population_run(dynamics='flow', steps=50, log_every=10, flow_max_steps=2000)
    grid = sweep.train_grid(run_config, [1], [(1.0, 0.1), (1e30, 1e30)], seeds_per_device=1)
    np.testing.assert_array_equal(grid.metrics['diverged'], [False, True])
    alone = sweep.train_grid(run_config, [1], [(1.0, 0.1)], seeds_per_device=1)
    np.testing.assert_allclose(grid.metrics['attn/logits'][0], alone.metrics['attn/logits'][0],
                               rtol=1e-6, atol=1e-7)

  def test_population_dynamics_is_deterministic_in_the_seed(self):
    run_config = _population_run(steps=20, log_every=10)  # A zero start.
    fn = jax.jit(train.make_train(run_config))
    a = fn(jax.random.key(1), 1.0, 0.1)[1]['attn/logits']
    b = fn(jax.random.key(2), 1.0, 0.1)[1]['attn/logits']
    np.testing.assert_array_equal(a, b)  # Zero start and no sampling: the seed plays no part.

  def test_flow_needs_plain_gradient_descent(self):
    c = load_config('phase_transition')
    c.train.dynamics = 'flow'
    c.optimizer.momentum = 0.9
    with self.assertRaisesRegex(core_config.ConfigError,
                                "'flow' integrates plain gradient descent"):
      pipeline.plan(c)


if __name__ == '__main__':
  absltest.main()
