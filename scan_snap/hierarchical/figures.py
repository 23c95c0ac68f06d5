"""The hierarchical-class figures, PNG and PDF.

FIGURES is the registry that config.figures.names names: each entry (an outputs.FigureSpec)
draws its figure from a results.Results into the figures folder.
"""

import pathlib

import numpy as np
from matplotlib.figure import Figure

from scan_snap.core import outputs
from scan_snap.hierarchical import results as results_lib


def scores(steps_E: np.ndarray, score_ExRxLxB: np.ndarray, runs: list[dict],
           stem: pathlib.Path) -> list[pathlib.Path]:
  """Per level (rows) and depth (columns): the centred score of each block over training, mean
  over seeds with a band of ± 1 sd, one line style per η; level l's own block is drawn
  thicker."""
  depths = list(dict.fromkeys(r['num_layers'] for r in runs))
  rates = list(dict.fromkeys(r['lr'] for r in runs))
  num_levels = score_ExRxLxB.shape[2]
  fig = Figure(figsize=(3.4 * len(depths) + 0.4, 2.6 * num_levels + 0.4), layout='constrained')
  axes = fig.subplots(num_levels, len(depths), squeeze=False, sharey=True)
  styles = ['-', '--', ':', '-.']
  for level in range(num_levels):
    for col, depth in enumerate(depths):
      ax = axes[level, col]
      for k, lr in enumerate(rates):
        sel = [i for i, r in enumerate(runs) if (r['num_layers'], r['lr']) == (depth, lr)]
        for block in range(depth):
          values = score_ExRxLxB[:, sel, level, block]
          mean, sd = values.mean(axis=1), values.std(axis=1)
          label = f'block {block}' + (f', η={lr:g}' if len(rates) > 1 else '')
          ax.plot(steps_E, mean, color=f'C{block}', ls=styles[k % len(styles)],
                  lw=2.4 if block == level else 1.2, label=label)
          ax.fill_between(steps_E, mean - sd, mean + sd, color=f'C{block}', alpha=0.15, lw=0)
      ax.set_title(f'level {level} ({"classes" if level == num_levels - 1 else "latents"}), '
                   f'{depth} block{"s" if depth > 1 else ""}', fontsize=9)
      ax.set_xlabel('step')
      if col == 0:
        ax.set_ylabel('score: mean of max corr.')
      ax.legend(fontsize=6)
  fig.suptitle('How well each block\'s hidden units track each level\'s latent variables '
               '(centred; thick: the level\'s own block)', fontsize=9)
  return outputs.save_figure(fig, stem)


def _scores(results: results_lib.Results, folder: pathlib.Path) -> None:
  scores(results.history['step'], results.history['score/centred'], results.runs,
         folder / 'scores')


FIGURES = {'scores': outputs.FigureSpec(_scores)}
