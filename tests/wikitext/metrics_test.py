"""The measures of freezing, on hand-made attention: F of two maps, the attended sets of a
query word, when they freeze, and their null with the changes in random order."""

from absl.testing import absltest
import numpy as np

from scan_snap.wikitext import metrics


def _one_hot_sets(groups_E, num_groups: int = 3) -> np.ndarray:
  """[E, 1, K + 1] sets of one query word that attends to one key group at each evaluation."""
  return np.eye(num_groups, dtype=bool)[np.asarray(groups_E)][:, None]


class FreezingTest(absltest.TestCase):

  def test_relative_change_of_the_maps(self):
    before = np.zeros((2, 1, 1, 2, 2))
    before[..., 0, 0] = before[..., 1, 0] = 1.0  # ‖A‖_F² = 2 per layer
    after = before.copy()
    after[1, ..., 1, :] = [0.5, 0.5]  # layer 1 moves by ‖(−0.5, 0.5)‖ = 1/√2
    np.testing.assert_allclose(metrics.freezing(before, after), [0.0, 0.5], atol=1e-12)


class AttendedSetsTest(absltest.TestCase):

  def test_the_fewest_groups_that_hold_the_mass(self):
    token_mass = np.array([[6.0, 3.0, 1.0, 0.0],  # 0.6 alone holds half
                           [2.0, 4.0, 3.0, 1.0],  # 0.4 + 0.3 hold half, not 0.4 alone
                           [1.0, 1.0, 1.0, 1.0],  # ties: by group order
                           [0.0, 0.0, 0.0, 0.0]])  # never a query: attends to nothing
    np.testing.assert_array_equal(metrics.attended_sets(token_mass, 0.5), [
        [True, False, False, False], [False, True, True, False],
        [True, True, False, False], [False, False, False, False]])
    np.testing.assert_array_equal(metrics.attended_sets(token_mass, 0.95)[0],
                                  [True, True, True, False])  # a group of no mass never joins

  def test_a_set_that_freezes_at_a_known_step(self):
    # Evaluations at steps 0, 10, …, 50; the set reaches its final one at step 30 and stays.
    sets = _one_hot_sets([0, 1, 2, 1, 1, 1])
    steps = np.arange(0, 60, 10)
    np.testing.assert_allclose(metrics.frozen_fraction(sets), [2 / 5])  # 2 of 5 intervals
    np.testing.assert_array_equal(metrics.freeze_step(sets, steps), [30])

  def test_a_set_that_never_freezes(self):
    sets = _one_hot_sets([0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(metrics.frozen_fraction(sets), [0.0])
    np.testing.assert_array_equal(metrics.freeze_step(sets, np.arange(0, 60, 10)), [50])

  def test_a_set_that_never_changes(self):
    sets = _one_hot_sets([2] * 4)
    np.testing.assert_array_equal(metrics.frozen_fraction(sets), [1.0])
    np.testing.assert_array_equal(metrics.freeze_step(sets, [0, 1, 2, 3]), [0])

  def test_the_null_against_every_order_of_the_changes(self):
    # n = 2 changes among m = 4 intervals: of the 6 orders, the trailing unchanged run is 2 in
    # one (changes first), 1 in two and 0 in three: φ₀ = (2 + 2) / 6 / 4 = (4 − 2) / (3 · 4).
    for changes in [(1, 1, 0, 0), (0, 1, 0, 1)]:
      groups = np.cumsum((0,) + changes) % 2
      sets = _one_hot_sets(groups)
      np.testing.assert_allclose(metrics.shuffled_frozen_fraction(sets), [1 / 6])
    # A set that never changes, or changes at every interval: φ = φ₀.
    for groups in ([1, 1, 1], [0, 1, 0]):
      sets = _one_hot_sets(groups)
      np.testing.assert_allclose(metrics.shuffled_frozen_fraction(sets),
                                 metrics.frozen_fraction(sets))

  def test_the_axes_between_evaluations_and_query_words_are_kept(self):
    sets = np.stack([_one_hot_sets([0, 1, 1]), _one_hot_sets([1, 1, 1])], axis=1)  # [E, R, 1, K]
    self.assertEqual(sets.shape, (3, 2, 1, 3))
    np.testing.assert_array_equal(metrics.frozen_fraction(sets), [[0.5], [1.0]])
    np.testing.assert_array_equal(metrics.freeze_step(sets, [0, 5, 10]), [[5], [0]])


if __name__ == '__main__':
  absltest.main()
