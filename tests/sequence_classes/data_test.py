"""Sequence classes (docs/model.md, "Sequence classes"): the token layout, P(l|m,n), and the
samplers' distribution."""

import dataclasses

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from scan_snap.sequence_classes import data

SYN_SMALL = data.SequenceClasses(num_last=2, num_next_per_last=1, num_common=10,
                                 num_common_per_last=0, num_unique_per_next=10)
MIXED = data.SequenceClasses(num_last=3, num_next_per_last=2, num_common=2,
                             num_common_per_last=3, num_unique_per_next=4)
SHARED = data.SharedAcrossQueries(num_last=3, num_next_per_last=2, num_common=1,
                                  num_common_per_last=1, num_unique_per_next=2,
                                  num_shared_across=2)


def chi2_critical(dof: int, z: float = 3.29) -> float:
  """Upper quantile of χ²(dof) at the standard-normal z (3.29: p = 5·10⁻⁴), Wilson–Hilferty."""
  a = 2.0 / (9 * dof)
  return dof * (1 - a + z * np.sqrt(a))**3


class LayoutTest(absltest.TestCase):

  def test_syn_small_layout_by_hand(self):
    # Paper Sec. 5: tokens 0–9 common, 10–19 distinct for class 1, 20–29 for class 2.
    self.assertEqual(SYN_SMALL.vocab_size, 34)
    np.testing.assert_array_equal(SYN_SMALL.support()[0],
                                  list(range(10)) + list(range(10, 20)))
    np.testing.assert_array_equal(SYN_SMALL.support()[1],
                                  list(range(10)) + list(range(20, 30)))
    np.testing.assert_array_equal(SYN_SMALL.class_query(), [30, 31])
    np.testing.assert_array_equal(SYN_SMALL.class_next(), [32, 33])
    want = np.array([1.0] * 10 + list(np.linspace(0.1, 1.0, 10))) / 15.5
    np.testing.assert_allclose(SYN_SMALL.probs()[1], want)
    np.testing.assert_array_equal(SYN_SMALL.is_distinct(), [False] * 10 + [True] * 10)

  def test_mixed_layout_by_hand(self):
    # 2 global common | 3 blocks of 3 per-query common | 6 blocks of 4 distinct | 3 query | 6 next
    self.assertEqual(MIXED.vocab_size, 2 + 9 + 24 + 3 + 6)
    support = MIXED.support()
    np.testing.assert_array_equal(support[0], [0, 1, 2, 3, 4, 11, 12, 13, 14])
    np.testing.assert_array_equal(support[1], [0, 1, 2, 3, 4, 15, 16, 17, 18])
    np.testing.assert_array_equal(support[5], [0, 1, 8, 9, 10, 31, 32, 33, 34])
    np.testing.assert_array_equal(MIXED.class_query(), [35, 35, 36, 36, 37, 37])
    np.testing.assert_array_equal(MIXED.class_next(), [38, 39, 40, 41, 42, 43])

  def test_distinct_tokens_belong_to_one_class_only(self):
    support = MIXED.support()
    distinct = support[:, MIXED.is_distinct()]
    self.assertEqual(len(np.unique(distinct)), distinct.size)
    commons = support[:, ~MIXED.is_distinct()]
    for token in np.unique(commons):
      self.assertGreater((support == token).any(axis=1).sum(), 1)

  def test_probs_normalized_over_support(self):
    np.testing.assert_allclose(MIXED.probs().sum(axis=1), 1.0, rtol=1e-12)

  def test_shared_across_queries_layout_by_hand(self):
    # 1 common | 3 blocks of 1 per-query common | 2 blocks of 2 shared across (one per place in
    # a query) | 6 blocks of 2 distinct | 3 query | 6 next
    self.assertEqual(SHARED.vocab_size, 1 + 3 + 4 + 12 + 3 + 6)
    support = SHARED.support()
    np.testing.assert_array_equal(support[0], [0, 1, 4, 5, 8, 9])
    np.testing.assert_array_equal(support[1], [0, 1, 6, 7, 10, 11])
    np.testing.assert_array_equal(support[2], [0, 2, 4, 5, 12, 13])
    np.testing.assert_array_equal(support[5], [0, 3, 6, 7, 18, 19])
    np.testing.assert_array_equal(SHARED.class_query(), [20, 20, 21, 21, 22, 22])
    np.testing.assert_array_equal(SHARED.class_next(), np.arange(23, 29))
    np.testing.assert_array_equal(SHARED.is_distinct(), [False] * 4 + [True] * 2)
    self.assertEqual(list(SHARED.slot_kinds()), ['common', 'query common', 'shared across',
                                                 'shared across', 'distinct', 'distinct'])
    np.testing.assert_allclose(SHARED.probs()[3], np.array([1, 1, 1, 1, 0.1, 1]) / 5.1)

  def test_shared_across_tokens_lie_on_one_class_per_query(self):
    support, query = SHARED.support(), SHARED.class_query()
    shared = support[:, SHARED.slot_kinds() == 'shared across']
    for token in np.unique(shared):
      holders = (support == token).any(axis=1)
      np.testing.assert_array_equal(np.unique(query[holders], return_counts=True)[1], [1, 1, 1])
    self.assertEqual(SHARED.num_context_tokens, SHARED.first_query)
    self.assertEqual(len(np.unique(support[:, SHARED.is_distinct()])), 12)

  def test_no_shared_tokens_is_the_papers_family(self):
    paper = dataclasses.replace(SHARED, num_shared_across=0)
    like = data.SequenceClasses(**{f.name: getattr(paper, f.name)
                                   for f in dataclasses.fields(data.SequenceClasses)})
    np.testing.assert_array_equal(paper.support(), like.support())
    np.testing.assert_array_equal(paper.probs(), like.probs())
    self.assertEqual(paper.vocab_size, like.vocab_size)


class SamplerTest(parameterized.TestCase):
  """Goodness of fit of the samplers to P(l|m,n), with a fixed key."""

  def _pooled_counts(self, batch, spec):
    """[K, S] contextual-token counts pooled over samples of each class, and [K] class counts;
    checks that each sample lists its class's support."""
    self.assertEqual(batch.num_counted, spec.num_context_tokens)
    np.testing.assert_array_equal(batch.tokens, spec.support()[np.asarray(batch.cls)])
    counts = np.zeros((spec.num_classes, spec.support_size))
    np.add.at(counts, np.asarray(batch.cls), np.asarray(batch.counts))
    return counts, np.bincount(np.asarray(batch.cls), minlength=spec.num_classes)

  @parameterized.product(sampler=('counts', 'sequences'), family=('paper', 'shared_across'))
  def test_token_frequencies_match_probs(self, sampler, family):
    spec, batch_size, seq_len = {'paper': MIXED, 'shared_across': SHARED}[family], 4096, 64
    tables = spec.tables()
    key = jax.random.key(7)
    if sampler == 'counts':
      batch = data.sample_counts(key, tables, batch_size, seq_len)
    else:
      batch = data.counts_of_sequences(data.sample_sequences(key, tables, batch_size, seq_len),
                                       tables)
    np.testing.assert_array_equal(np.asarray(batch.counts).sum(axis=1), seq_len - 1)
    np.testing.assert_array_equal(batch.query, spec.class_query()[batch.cls])
    np.testing.assert_array_equal(batch.label, spec.class_next()[batch.cls])

    counts, per_class = self._pooled_counts(batch, spec)
    # Classes are uniform: Pearson χ² with K − 1 degrees of freedom.
    expected_cls = batch_size / spec.num_classes
    self.assertLess(((per_class - expected_cls)**2 / expected_cls).sum(),
                    chi2_critical(spec.num_classes - 1))
    # Tokens given the class: i.i.d. draws from P(·|m,n), χ² with S − 1 dof per class.
    for k in range(spec.num_classes):
      expected = counts[k].sum() * spec.probs()[k]
      chi2 = ((counts[k] - expected)**2 / expected).sum()
      self.assertLess(chi2, chi2_critical(spec.support_size - 1), f'class {k}')

  def test_goodness_of_fit_detects_a_wrong_distribution(self):
    """The χ² bound above rejects draws from a slightly different distribution."""
    spec = MIXED
    tables = spec.tables()
    wrong_probs = spec.probs()[:, ::-1]
    cdf = np.cumsum(wrong_probs, axis=-1)
    cdf[:, -1] = 1.0
    wrong = dataclasses.replace(tables, cdf=jax.numpy.asarray(cdf, jax.numpy.float32))
    batch = data.sample_counts(jax.random.key(7), wrong, 4096, 64)
    counts, _ = self._pooled_counts(batch, spec)
    expected = counts[0].sum() * spec.probs()[0]
    self.assertGreater(((counts[0] - expected)**2 / expected).sum(),
                       chi2_critical(spec.support_size - 1))


if __name__ == '__main__':
  absltest.main()
