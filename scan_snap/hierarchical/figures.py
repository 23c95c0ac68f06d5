"""The hierarchical-class figures, PNG and PDF: one column per (depth, η) cell of the grid.

FIGURES is the registry that config.figures.names names: each entry (an outputs.FigureSpec)
draws its figure from a results.Results into the figures folder.
"""

import pathlib
import warnings

import numpy as np
from matplotlib.figure import Figure

from scan_snap.core import outputs
from scan_snap.hierarchical import results as results_lib


def _title(depth: int, lr: float, rates: int) -> str:
  return f'{depth} block{"s" if depth > 1 else ""}' + (f', η = {lr:g}' if rates > 1 else '')


def _band(ax, steps_E: np.ndarray, values_ExN: np.ndarray, **line) -> None:
  """The mean over the columns, with a band of ± 1 sd (a diverged run, NaN, left out)."""
  with warnings.catch_warnings():  # A step at which every run is NaN stays blank.
    warnings.simplefilter('ignore', RuntimeWarning)
    mean, sd = np.nanmean(values_ExN, axis=1), np.nanstd(values_ExN, axis=1)
  ax.plot(steps_E, mean, **line)
  ax.fill_between(steps_E, mean - sd, mean + sd, color=line['color'], alpha=0.15, lw=0)


def scores(steps_E: np.ndarray, score_ExRxLxB: np.ndarray, runs: list[dict],
           stem: pathlib.Path) -> list[pathlib.Path]:
  """Per level (rows) and (depth, η) cell (columns): the centred score of each block over
  training, mean over seeds with a band of ± 1 sd; level l's own block is drawn thicker."""
  cells, num_levels = results_lib.cells(runs), score_ExRxLxB.shape[2]
  rates = len({lr for _, lr in cells})
  fig = Figure(figsize=(3.4 * len(cells) + 0.4, 2.6 * num_levels + 0.4), layout='constrained')
  axes = fig.subplots(num_levels, len(cells), squeeze=False, sharey=True)
  for level in range(num_levels):
    for col, (depth, lr) in enumerate(cells):
      ax = axes[level, col]
      sel = [i for i, r in enumerate(runs) if (r['num_layers'], r['lr']) == (depth, lr)]
      for block in range(depth):
        _band(ax, steps_E, score_ExRxLxB[:, sel, level, block], color=f'C{block}',
              lw=2.4 if block == level else 1.2, label=f'block {block}')
      kind = 'classes' if level == num_levels - 1 else 'latents'
      ax.set_title(f'level {level} ({kind}), {_title(depth, lr, rates)}', fontsize=9)
      ax.set_xlabel('step')
      if col == 0:
        ax.set_ylabel('score: mean of max corr.')
      ax.legend(fontsize=6)
  fig.suptitle('How well each block\'s hidden units track each level\'s latent variables '
               '(centred; thick: the level\'s own block)', fontsize=9)
  return outputs.save_figure(fig, stem)


def attention_entropy(steps_E: np.ndarray, entropy_ExRxB: np.ndarray, t0_RxB: np.ndarray,
                      runs: list[dict], seq_len: int, stem: pathlib.Path) -> list[pathlib.Path]:
  """Per (depth, η) cell: each block's attention entropy at the last position over training,
  mean over seeds ± 1 sd, with its mean snapping step t₀ (dashed) and ln L, uniform (grey)."""
  cells = results_lib.cells(runs)
  rates = len({lr for _, lr in cells})
  fig = Figure(figsize=(3.4 * len(cells) + 0.4, 3.0), layout='constrained')
  axes = fig.subplots(1, len(cells), squeeze=False, sharey=True)[0]
  for ax, (depth, lr) in zip(axes, cells):
    sel = [i for i, r in enumerate(runs) if (r['num_layers'], r['lr']) == (depth, lr)]
    for block in range(depth):
      _band(ax, steps_E, entropy_ExRxB[:, sel, block], color=f'C{block}', label=f'block {block}')
      t0 = t0_RxB[sel, block]
      if np.isfinite(t0).any():
        ax.axvline(np.nanmean(t0), color=f'C{block}', ls='--', lw=1)
    ax.axhline(np.log(seq_len), color='grey', ls=':', lw=1)
    ax.set(title=_title(depth, lr, rates), xlabel='step')
    ax.legend(fontsize=6)
  axes[0].set_ylabel('entropy of the last position\'s attention (nats)')
  fig.suptitle('Attention entropy per block (dashed: mean snapping step t₀; dotted: uniform)',
               fontsize=9)
  return outputs.save_figure(fig, stem)


def attention_by_class(steps_E: np.ndarray, maps_ExBxCxL: np.ndarray, t0_B: np.ndarray,
                       title: str, stem: pathlib.Path) -> list[pathlib.Path]:
  """c̃ of one run: per block (rows), the last position's attention over the positions, one row
  per class, at step 0, at each block's snapping step t₀ (when it snapped) and at the end."""
  picked = [0, *(int(np.argmax(steps_E >= t)) for t in t0_B if np.isfinite(t)), len(steps_E) - 1]
  picked = sorted(dict.fromkeys(picked))
  num_blocks = maps_ExBxCxL.shape[1]
  fig = Figure(figsize=(2.6 * len(picked) + 1, 2.2 * num_blocks + 0.6), layout='constrained')
  axes = fig.subplots(num_blocks, len(picked), squeeze=False)
  for block in range(num_blocks):
    for col, e in enumerate(picked):
      ax = axes[block, col]
      image = ax.imshow(maps_ExBxCxL[e, block], cmap='viridis', vmin=0, aspect='auto')
      ax.set_title(f'block {block}, step {int(steps_E[e])}', fontsize=8)
      ax.set_xlabel('position', fontsize=7)
      ax.set_ylabel('class', fontsize=7)
      fig.colorbar(image, ax=ax, shrink=0.8)
  fig.suptitle(title, fontsize=9)
  return outputs.save_figure(fig, stem)


def _scores(results: results_lib.Results, folder: pathlib.Path) -> None:
  scores(results.history['step'], results.history['score/centred'], results.runs,
         folder / 'scores')


def _attention_entropy(results: results_lib.Results, folder: pathlib.Path) -> None:
  attention_entropy(results.history['step'], results.history['attn/entropy'],
                    results.snapping_steps, results.runs, results.seq_len,
                    folder / 'attention_entropy')


def _attention_by_class(results: results_lib.Results, folder: pathlib.Path) -> None:
  """The first seed's run of each (depth, η) cell."""
  t0 = results.snapping_steps
  for depth, lr in results_lib.cells(results.runs):
    i = next(i for i, r in enumerate(results.runs) if (r['num_layers'], r['lr']) == (depth, lr))
    run = results.runs[i]
    attention_by_class(
        results.history['step'], results.history['attn/by_class'][:, i, :depth], t0[i, :depth],
        f'Last position\'s attention per class (c̃), seed {run["seed"]}, {depth} blocks, '
        f'η = {lr:g}: at step 0, at each block\'s t₀, at the end',
        folder / f'attention_by_class_{depth}blocks_lr{lr:g}')


FIGURES = {'scores': outputs.FigureSpec(_scores),
           'attention_entropy': outputs.FigureSpec(_attention_entropy),
           'attention_by_class': outputs.FigureSpec(_attention_by_class)}
