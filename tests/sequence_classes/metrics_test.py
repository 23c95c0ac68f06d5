"""c̃_n, the distinct-token entropy and recall (docs/model.md) on hand cases."""

from absl.testing import absltest
import jax.numpy as jnp
import numpy as np

from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import metrics
from scan_snap.sequence_classes import model

def _support_logits(z_MxM, tables):
  """z_{m,l} on each class's support, from a whole Z."""
  return model.support_logits(model.read_params({'Z': z_MxM}, tables.num_context_tokens), tables)


SPEC = data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=2,
                            num_common_per_last=0, num_unique_per_next=3)


class AttentionFrequenciesTest(absltest.TestCase):

  def test_zero_logits_give_probs(self):
    tables = SPEC.tables()
    ctilde = metrics.attention_frequencies(
        _support_logits(jnp.zeros((SPEC.vocab_size,) * 2), tables), tables)
    np.testing.assert_allclose(ctilde, SPEC.probs(), rtol=1e-6)

  def test_hand_case(self):
    # Class 0: query 8, support [0, 1, 2, 3, 4], P ∝ [1, 1, 0.1, 0.55, 1].
    z = np.zeros((SPEC.vocab_size,) * 2)
    z[8, 4] = np.log(3.0)
    tables = SPEC.tables()
    ctilde = metrics.attention_frequencies(_support_logits(jnp.asarray(z), tables), tables)
    weights = np.array([1, 1, 0.1, 0.55, 3.0])
    np.testing.assert_allclose(ctilde[0], weights / weights.sum(), rtol=1e-6)
    np.testing.assert_allclose(ctilde[1], SPEC.probs()[1], rtol=1e-6)  # Row 9 untouched.


def _from_ctilde(ctilde):
  """(logits, probs) whose c̃ is `ctilde`: z = ln c̃ with P uniform."""
  ctilde = jnp.asarray(ctilde)
  return jnp.log(ctilde), jnp.ones_like(ctilde)


class DistinctEntropyTest(absltest.TestCase):

  def test_uniform_distinct_part(self):
    ctilde = [[0.4, 0.2, 0.2, 0.2]]  # The common slot is ignored.
    np.testing.assert_allclose(metrics.distinct_entropy(*_from_ctilde(ctilde), 3), np.log(3),
                               rtol=1e-6)

  def test_one_hot_distinct_part_and_mean_over_classes(self):
    ctilde = [[0.5, 0.5, 0.0, 0.0],
              [0.1, 0.3, 0.3, 0.3]]
    np.testing.assert_allclose(metrics.distinct_entropy(*_from_ctilde(ctilde), 3),
                               np.log(3) / 2, rtol=1e-6)

  def test_against_formula(self):
    p = np.array([0.1, 0.2, 0.7])
    ctilde = np.concatenate([[0.5], 0.5 * p])[None]
    np.testing.assert_allclose(metrics.distinct_entropy(*_from_ctilde(ctilde), 3),
                               -(p * np.log(p)).sum(), rtol=1e-6)

  def test_logits_and_probs_give_the_renormalized_ctilde(self):
    tables = SPEC.tables()
    z = np.random.default_rng(0).normal(size=(SPEC.vocab_size,) * 2).astype(np.float32)
    logits = _support_logits(jnp.asarray(z), tables)
    ctilde = np.asarray(metrics.attention_frequencies(logits, tables), np.float64)
    want = ctilde[:, -3:] / ctilde[:, -3:].sum(-1, keepdims=True)
    np.testing.assert_allclose(metrics.distinct_attention(logits, tables.probs, 3), want,
                               rtol=1e-5)

  def test_collapsed_attention_has_a_defined_entropy(self):
    # The common token holds all of c̃ in float32 (e^-200 underflows): the distinct tokens'
    # shares are still defined by their logits, here P·e^z ∝ [1, 2, 1].
    logits = jnp.array([[200.0, 0.0, np.log(2.0), 0.0]], jnp.float32)
    probs = jnp.full((1, 4), 0.25, jnp.float32)
    self.assertEqual(float(model.attention_counts(logits, probs)[0, 1:].sum()), 0.0)
    p = np.array([0.25, 0.5, 0.25])
    np.testing.assert_allclose(metrics.distinct_entropy(logits, probs, 3),
                               -(p * np.log(p)).sum(), rtol=1e-6)


class RecallTest(absltest.TestCase):

  def test_hand_case(self):
    # Renormalized distinct attention: class 1 [0.2, 0.4, 0.4], class 2 [1/3, 1/3, 1/3].
    ctilde = [[0.5, 0.1, 0.2, 0.2],
              [0.1, 0.3, 0.3, 0.3]]
    recall = metrics.recall_at_thresholds(*_from_ctilde(ctilde), 3,
                                          jnp.array([0.1, 0.3, 0.35, 0.45]))
    np.testing.assert_allclose(recall, [1.0, 5 / 6, 2 / 6, 0.0], rtol=1e-6)

  def test_batched_runs(self):
    ctilde = [[[0.5, 0.1, 0.2, 0.2]], [[0.0, 0.5, 0.25, 0.25]]]
    np.testing.assert_allclose(
        metrics.recall_at_thresholds(*_from_ctilde(ctilde), 3, jnp.array([0.3])),
        [[2 / 3], [1 / 3]], rtol=1e-6)


if __name__ == '__main__':
  absltest.main()
