"""The alignment scores against numpy's correlations and hand cases."""

from absl.testing import absltest
import jax.numpy as jnp
import numpy as np

from scan_snap.hierarchical import metrics


class CorrelationsTest(absltest.TestCase):

  def test_centred_is_pearson_and_uncentred_the_cosine(self):
    rng = np.random.default_rng(0)
    z = (rng.random((200, 3)) < 0.4).astype(np.float32)
    h = rng.normal(size=(200, 4)).astype(np.float32) + z[:, :1]
    centred = np.asarray(metrics.correlations(jnp.asarray(z), jnp.asarray(h), True))
    pearson = np.corrcoef(z.T, h.T)[:3, 3:]
    np.testing.assert_allclose(centred, pearson, atol=1e-5)
    uncentred = np.asarray(metrics.correlations(jnp.asarray(z), jnp.asarray(h), False))
    cosine = (z.T @ h) / np.linalg.norm(z, axis=0)[:, None] / np.linalg.norm(h, axis=0)
    np.testing.assert_allclose(uncentred, cosine, atol=1e-5)


class ScoresTest(absltest.TestCase):

  def test_a_unit_that_copies_each_variable_scores_one(self):
    rng = np.random.default_rng(1)
    z = (rng.random((100, 3)) < 0.5).astype(np.float32)
    z[:, 2] = 0  # a variable no sample uses: left out of the mean
    # Block 0: unit j is variable j at one position, 0 elsewhere; block 1: noise.
    copy = np.zeros((100, 5, 4), np.float32)
    copy[:, 2, :3] = z
    noise = rng.normal(size=(100, 5, 4)).astype(np.float32)
    score = np.asarray(metrics.scores((jnp.asarray(z),), [jnp.asarray(copy), jnp.asarray(noise)],
                                      True))
    self.assertEqual(score.shape, (1, 2))
    self.assertAlmostEqual(float(score[0, 0]), 1.0, places=5)
    self.assertLess(float(score[0, 1]), 0.5)
    pooled = noise.max(axis=1)
    by_hand = np.mean([max(np.corrcoef(z[:, i], pooled[:, j])[0, 1] for j in range(4))
                       for i in range(2)])
    self.assertAlmostEqual(float(score[0, 1]), by_hand, places=5)


class AttentionTest(absltest.TestCase):

  def test_last_entropy_by_hand(self):
    weights = np.zeros((2, 1, 3, 3), np.float32)
    weights[0, 0, -1] = [1 / 3, 1 / 3, 1 / 3]  # uniform: ln 3
    weights[1, 0, -1] = [0, 0, 1]  # one key: 0
    self.assertAlmostEqual(float(metrics.last_entropy(jnp.asarray(weights))), np.log(3) / 2,
                           places=6)

  def test_last_attention_by_class_by_hand(self):
    weights = np.zeros((3, 1, 2, 2), np.float32)
    weights[:, 0, -1] = [[1, 0], [0.5, 0.5], [0, 1]]
    by_class = np.asarray(metrics.last_attention_by_class(jnp.asarray(weights),
                                                          jnp.asarray([1, 1, 0]), 3))
    np.testing.assert_allclose(by_class, [[0, 1], [0.75, 0.25], [0, 0]])  # class 2: absent

  def test_snapping_step(self):
    steps = np.arange(0, 110, 10)
    # Falls from 3 to 1 by step 50: 1 − 1/e of the fall (1.26 nats) is made at step 30.
    entropy = np.array([3, 2.9, 2.4, 1.6, 1.1, 1, 1, 1, 1, 1, 1])
    self.assertEqual(metrics.snapping_step(steps, entropy), 30)
    self.assertTrue(np.isnan(metrics.snapping_step(steps, np.full(11, 2.0) - 0.001 * steps / 10)))
    self.assertTrue(np.isnan(metrics.snapping_step(steps, np.full(11, np.nan))))


if __name__ == '__main__':
  absltest.main()
