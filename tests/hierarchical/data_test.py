"""Hierarchical latent-tree classes against their definition, expanded by hand in Python."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.hierarchical import data

SPEC = data.LatentTree()


def expanded_by_hand(tree: data.Tree, label: int) -> tuple[list[set[int]], set[int]]:
  """The variables of each level under class `label`, and the tokens under it, as sets."""
  levels = [{label}]
  for member in tree[:0:-1]:
    levels.insert(0, {j for i in levels[0] for j in np.flatnonzero(member[i])})
  return levels, {int(t) for i in levels[0] for t in np.flatnonzero(tree[0][i])}


class TreeTest(absltest.TestCase):

  def test_each_variable_is_its_own_set_of_variables_below(self):
    tree = data.draw_tree(SPEC, 3)
    self.assertEqual([m.shape for m in tree], [(20, 19), (10, 20)])
    for member, p in zip(tree, SPEC.num_combinations):
      np.testing.assert_array_equal(member.sum(axis=1), p)
      self.assertLen({tuple(row) for row in member}, len(member))  # all distinct

  def test_drawn_from_the_seed(self):
    same, again, other = (data.draw_tree(SPEC, s) for s in (3, 3, 4))
    for a, b in zip(same, again):
      np.testing.assert_array_equal(a, b)
    self.assertFalse(all((a == b).all() for a, b in zip(same, other)))

  def test_distinct_sets_need_enough_of_them(self):
    # C(4, 2) = 6 sets of 2 of the 4 tokens: 7 variables cannot be distinct.
    spec = data.LatentTree(vocab_size=5, seq_len=8, num_latents=(7, 2), num_combinations=(2, 2))
    self.assertIn('level 0: 7 variables, but only 6 distinct sets of 2 of the 4 below',
                  spec.problems())
    self.assertIn('a sample can hold 9 tokens', ' '.join(data.LatentTree(seq_len=8).problems()))
    self.assertEqual(SPEC.problems(), [])
    self.assertEqual(data.draw_tree(data.LatentTree(vocab_size=5, seq_len=8, num_latents=(6, 2),
                                                    num_combinations=(2, 2)), 0)[0].sum(), 12)


class SampleTest(absltest.TestCase):

  def test_samples_hold_exactly_the_tokens_under_their_class(self):
    tree = data.draw_tree(SPEC, 5)
    batch = data.sample(SPEC, tuple(map(jnp.asarray, tree)), jax.random.key(0), 64)
    tokens, labels = np.asarray(batch.tokens), np.asarray(batch.label)
    self.assertEqual(tokens.shape, (64, SPEC.seq_len))
    for i, label in enumerate(labels):
      levels, under = expanded_by_hand(tree, int(label))
      count = len(under)
      # The tokens under the class, each once, in increasing order at the end; padding first.
      self.assertEqual(list(tokens[i, -count:]), sorted(under))
      self.assertTrue((tokens[i, :-count] == SPEC.pad).all())
      for level, active in enumerate(batch.active):
        self.assertEqual(set(np.flatnonzero(np.asarray(active[i]))), levels[level])

  def test_classes_are_uniform(self):
    tree = tuple(map(jnp.asarray, data.draw_tree(SPEC, 1)))
    labels = np.asarray(data.sample(SPEC, tree, jax.random.key(1), 20_000).label)
    counts = np.bincount(labels, minlength=SPEC.num_classes)
    chi2 = ((counts - 2000) ** 2 / 2000).sum()
    self.assertLess(chi2, 27.9)  # χ²(9) at p = 0.001


class ChildProbTest(absltest.TestCase):
  """child_prob < 1: each child of an active variable is active with that probability."""

  def test_samples_hold_tokens_of_their_active_variables_only(self):
    spec = data.LatentTree(child_prob=0.6)
    tree = data.draw_tree(spec, 5)
    batch = data.sample(spec, tuple(map(jnp.asarray, tree)), jax.random.key(0), 2000)
    tokens, labels = np.asarray(batch.tokens), np.asarray(batch.label)
    level0 = np.asarray(batch.active[0])
    kept, offered = 0, 0
    for i, label in enumerate(labels):
      levels, under = expanded_by_hand(tree, int(label))
      active = set(np.flatnonzero(level0[i]))
      self.assertLessEqual(active, levels[0])
      present = set(tokens[i][tokens[i] != spec.pad])
      self.assertLessEqual(present, {int(t) for j in active for t in np.flatnonzero(tree[0][j])})
      self.assertEqual(list(tokens[i][tokens[i] != spec.pad]), sorted(present))
      kept, offered = kept + len(active), offered + len(levels[0])
    # Each of the class's level-0 variables is active with probability 0.6 (3 sd of 6,000).
    self.assertAlmostEqual(kept / offered, 0.6, delta=3 * np.sqrt(0.24 / offered))

  def test_below_one_the_same_classes_lose_tokens(self):
    tree = tuple(map(jnp.asarray, data.draw_tree(SPEC, 2)))
    full = data.sample(SPEC, tree, jax.random.key(3), 500)
    varying = data.sample(data.LatentTree(child_prob=0.5), tree, jax.random.key(3), 500)
    np.testing.assert_array_equal(full.label, varying.label)  # the same classes drawn
    # Each real token under an active level-0 variable is kept with probability 0.5 per edge:
    # the sequences hold fewer tokens (a token reached by two edges is kept more often).
    count = lambda s: (np.asarray(s.tokens) != SPEC.pad).sum()
    self.assertLess(count(varying), 0.8 * count(full))
    self.assertGreater(count(varying), 0.1 * count(full))


if __name__ == '__main__':
  absltest.main()
