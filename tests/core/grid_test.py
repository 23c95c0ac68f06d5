"""The grid's padding and its program over the devices."""

from absl.testing import absltest
import jax
import numpy as np

from scan_snap.core import grid


class GridTest(absltest.TestCase):

  def test_padding_repeats_the_last_run_to_whole_blocks(self):
    self.assertEqual(grid.pad([1, 2, 3], 2), [1, 2, 3, 3])
    self.assertEqual(grid.pad([1, 2, 3], 4), [1, 2, 3, 3])
    self.assertEqual(grid.pad([1, 2, 3, 4], 2), [1, 2, 3, 4])

  def test_over_runs_splits_per_run_arguments_and_shares_the_others(self):
    program = grid.over_runs(jax.vmap(lambda x, y: x * y, (0, None)), grid.mesh(), (0, None))
    got = grid.gather(program(np.arange(4.0), np.float32(3.0)))
    np.testing.assert_array_equal(got, [0.0, 3.0, 6.0, 9.0])
    self.assertIsInstance(got, np.ndarray)


if __name__ == '__main__':
  absltest.main()
