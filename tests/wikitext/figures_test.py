"""The WikiText figures: what the attended words' figure draws of a grid with a diverged run."""

from unittest import mock

from absl.testing import absltest
import numpy as np

from scan_snap.core import outputs
from scan_snap.wikitext import figures


class AttendedWordsTest(absltest.TestCase):

  def _drawn(self, diverged: list[bool], depths: tuple[int, int] = (1, 1)):
    """The figure of three evaluations of two runs of `depths` layers, two query words: run 0's
    sets change at every evaluation; run 1's never do (as a diverged run's no-attention reads,
    and the layers a run lacks)."""
    changes = np.zeros((3, 2, max(depths), 2), bool)
    changes[:, 0] = True
    rows = [{'seed': 0, 'diverged': diverged[0]}, {'seed': 1, 'diverged': diverged[1]}]
    has_layer = np.arange(max(depths)) < np.array(depths)[:, None]
    with mock.patch.object(outputs, 'save_figure', side_effect=lambda fig, stem: fig):
      return figures.attended_words(np.array([10, 20, 30]), changes, rows, ['a', 'b'],
                                    has_layer, self.create_tempdir().full_path)

  def test_a_diverged_run_is_left_out_and_counted(self):
    fig = self._drawn([False, True])
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 1.0, 1.0])
    self.assertEqual(fig.get_suptitle(), '1 diverged run left out')

  def test_every_run_is_drawn_when_none_diverged(self):
    fig = self._drawn([False, False])
    self.assertLen(fig.axes[0].get_lines(), 2)
    self.assertEqual(fig.get_suptitle(), '')

  def test_a_layer_is_drawn_for_the_runs_that_have_it(self):
    fig = self._drawn([False, False], depths=(2, 1))
    self.assertEqual([len(ax.get_lines()) for ax in fig.axes], [2, 1])
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_ydata(), [1.0, 1.0, 1.0])


if __name__ == '__main__':
  absltest.main()
