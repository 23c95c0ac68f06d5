"""The WikiText figures: what the attended words' figure draws of a grid with a diverged run, and
the training curves' legend of layers."""

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


class TrainingCurvesTest(absltest.TestCase):

  def test_the_layers_legend_is_in_no_runs_colour(self):
    evals, runs, layers = 3, 2, 2
    with mock.patch.object(outputs, 'save_figure', side_effect=lambda fig, stem: fig):
      fig = figures.training_curves(
          np.array([0, 10, 20]), np.ones((evals, runs)), np.ones((evals, runs, layers)),
          np.ones((evals, runs, layers)), [{'seed': 0}, {'seed': 1}], ['a', 'b'], 1.0,
          self.create_tempdir().full_path)
    legend = fig.axes[2].get_legend()
    self.assertEqual([t.get_text() for t in legend.get_texts()], ['layer 0', 'layer 1'])
    run_colours = {line.get_color() for line in fig.axes[2].get_lines()}
    self.assertEqual(run_colours, {'C0', 'C1'})
    for handle in legend.legend_handles:
      self.assertNotIn(handle.get_color(), run_colours)
    self.assertEqual([h.get_linestyle() for h in legend.legend_handles], ['-', '--'])


if __name__ == '__main__':
  absltest.main()
