"""The WikiText figures (paper Figs. 7 and 10, the attended words' changes, and the training
curves), PNG and PDF.

FIGURES is the registry that config.figures.names names: each entry (an outputs.FigureSpec)
draws its figure from a results.Results into the figures folder.
"""

import itertools
import pathlib

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from scan_snap.core import outputs
from scan_snap.wikitext import optimizer as text_optimizer
from scan_snap.wikitext import results as results_lib


def attention_maps(maps_SxNxLxL: np.ndarray, steps_S: np.ndarray, words_L: np.ndarray,
                   title: str, stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Fig. 7: the attention map of one fixed sequence at S points of training (columns),
  one row per layer; row i of a map is query position i attending to positions ≤ i."""
  num_steps, num_layers, length, _ = maps_SxNxLxL.shape
  fig = Figure(figsize=(2.6 * num_steps + 1, 2.6 * num_layers + 0.6), layout='constrained')
  axes = fig.subplots(num_layers, num_steps, squeeze=False)
  labels = [str(w) for w in words_L]
  for layer in range(num_layers):
    for s in range(num_steps):
      ax = axes[layer, s]
      image = ax.imshow(maps_SxNxLxL[s, layer], cmap='viridis', vmin=0.0, vmax=1.0)
      ax.set_xticks(range(length), labels, rotation=90, fontsize=3.5)
      ax.set_yticks(range(length), labels, fontsize=3.5)
      ax.set_title(f'layer {layer}, step {int(steps_S[s])}', fontsize=8)
  fig.colorbar(image, ax=axes, shrink=0.6, label='attention weight')
  fig.suptitle(title, fontsize=9)
  return outputs.save_figure(fig, stem)


def entropy_vs_lr(rows: list[dict], uniform_entropy: float, groups: str,
                  lines: dict[tuple, str], stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Fig. 10 (and Fig. 6's form, with an axis group): final mean attention entropy on the
  evaluation split against the learning rate η, mean ± std over seeds; one line per layer and
  per value of the other axes (`lines`: a tuple of the axis groups' factors and the depth →
  its label; {(): ''} without other axes; each row holds its own tuple under 'line'), for the
  layers its runs have. `groups` words the fixed groups' rates, '' with none."""
  kept = [r for r in rows if not r['diverged']]
  layers = sorted(k for k in rows[0] if k.startswith('attn_entropy/'))
  fig = Figure(figsize=(4.2, 3.2), layout='constrained')
  ax = fig.subplots()
  for (line, line_label), key in itertools.product(lines.items(), layers):
    members = [r for r in kept if r['line'] == line and np.isfinite(r[key])]
    if not members:  # a layer the line's runs lack (a shallower depth)
      continue
    rates = sorted({r['lr'] for r in members})
    values = [[r[key] for r in members if r['lr'] == lr] for lr in rates]
    label = key.split('/')[1] + (f', {line_label}' if line_label else '')
    ax.errorbar(rates, [np.mean(v) for v in values], yerr=[np.std(v) for v in values],
                marker='o', ms=4, capsize=2, label=label)
  ax.axhline(uniform_entropy, color='gray', ls=':', lw=1, label='uniform attention')
  ax.set_xscale('log')
  ax.set_xlabel('learning rate $\\eta$' + (f'\n{groups}' if groups else ''))
  ax.set_ylabel('final mean attention entropy (nats)')
  ax.set_ylim(bottom=0)
  ax.legend(fontsize=7)
  num_diverged = len(rows) - len(kept)
  ax.set_title('attention entropy on the evaluation split'
               + (f' ({num_diverged} diverged runs left out)' if num_diverged else ''), fontsize=9)
  return outputs.save_figure(fig, stem)


def training_curves(steps_E: np.ndarray, val_loss_ExR: np.ndarray, entropy_ExRxN: np.ndarray,
                    freezing_ExRxN: np.ndarray, runs: list[dict], labels: list[str],
                    uniform_entropy: float, stem: pathlib.Path) -> list[pathlib.Path]:
  """Validation loss, mean attention entropy and the freezing measure against the step, one
  colour per run (labelled by its rates, `labels`), one line style per layer."""
  fig = Figure(figsize=(12, 3.2), layout='constrained')
  ax_loss, ax_entropy, ax_freezing = fig.subplots(1, 3)
  colors = [f'C{i % 10}' for i in range(len(runs))]
  styles = ['-', '--', ':', '-.']
  for r, run in enumerate(runs):
    label = labels[r]
    if len({x['seed'] for x in runs}) > 1:
      label += f", seed {run['seed']}"
    ax_loss.plot(steps_E, val_loss_ExR[:, r], color=colors[r], label=label)
    for layer in range(entropy_ExRxN.shape[2]):
      style = styles[layer % len(styles)]
      ax_entropy.plot(steps_E, entropy_ExRxN[:, r, layer], color=colors[r], ls=style)
      ax_freezing.plot(steps_E[1:], freezing_ExRxN[1:, r, layer], color=colors[r], ls=style)
  ax_entropy.axhline(uniform_entropy, color='gray', ls=':', lw=1)
  ax_loss.set(xlabel='step', ylabel='validation loss (nats)', title='evaluation loss')
  ax_entropy.set(xlabel='step', ylabel='mean attention entropy (nats)',
                 title='attention entropy (dotted grey: uniform)')
  ax_freezing.set(xlabel='step', ylabel=r'$\|A_t - A_{t-1}\|_F / \|A_{t-1}\|_F$',
                  title='change of the probe maps between evaluations', yscale='log')
  ax_loss.legend(fontsize=7)
  if entropy_ExRxN.shape[2] > 1:  # The layers' line styles, in black: no run's colour.
    ax_freezing.legend(handles=[
        Line2D([], [], color='k', ls=styles[layer % len(styles)], label=f'layer {layer}')
        for layer in range(entropy_ExRxN.shape[2])], fontsize=7)
  return outputs.save_figure(fig, stem)


def attended_words(steps_E: np.ndarray, changes_ExRxNxQ: np.ndarray, rows: list[dict],
                   labels: list[str], has_layer_RxN: np.ndarray,
                   stem: pathlib.Path) -> list[pathlib.Path]:
  """Per layer: the share of the query words whose attended set changed since the evaluation
  before, against the step (the sets of a layer that freezes stop changing: the share falls to
  0), one colour per run (rows: results.csv's, for its 'seed' and 'diverged'; labelled by its
  rates, `labels`), in the panels of the layers it has (has_layer_RxN). A run that diverged is
  left out, and counted in the title: its non-finite attention reads as no attended words,
  whose sets stop changing when it diverges."""
  layers = changes_ExRxNxQ.shape[2]
  fig = Figure(figsize=(4.2 * layers, 3.2), layout='constrained')
  axes = np.atleast_1d(fig.subplots(1, layers, sharey=True))
  kept = [r for r, row in enumerate(rows) if not row['diverged']]
  for layer, ax in enumerate(axes):
    for r in (r for r in kept if has_layer_RxN[r, layer]):
      ax.plot(steps_E, changes_ExRxNxQ[:, r, layer].mean(axis=-1), color=f'C{r % 10}',
              marker='.', label=f"{labels[r]}, seed {rows[r]['seed']}")
    ax.set(xlabel='step', title=f'layer {layer}', ylim=(0, 1))
  axes[0].set_ylabel('query words whose attended\nkey words changed')
  if kept:
    axes[0].legend(fontsize=7)
  num_diverged = len(rows) - len(kept)
  if num_diverged:
    fig.suptitle(f'{num_diverged} diverged run{"s" * (num_diverged > 1)} left out', fontsize=9)
  return outputs.save_figure(fig, stem)


def _draw_attended_words(results: results_lib.Results, directory: pathlib.Path) -> None:
  attended = results.attended
  attended_words(results.history['step'][2:], attended.changes[..., attended.occurs],
                 results.rows, _labels(results), results.has_layer, directory / 'attended_words')


def _draw_attention_maps(results: results_lib.Results, directory: pathlib.Path) -> None:
  """Per run: the first probe sequence's maps at Readings.map_steps (default: six evaluations,
  evenly spaced), averaged over the heads."""
  history, steps = results.history, results.history['step']
  if results.readings.map_steps:
    index = [int(np.flatnonzero(steps == s)[0]) for s in results.readings.map_steps]
  else:
    index = sorted(set(np.linspace(0, len(steps) - 1, 6).round().astype(int).tolist()))
  for r, run in enumerate(results.runs):
    depth = int(results.has_layer[r].sum())
    attention_maps(
        history['attn/maps'][index, r, :depth, 0].mean(axis=2), steps[index],
        results.probe_words[0],
        f"{results.readings.rates(run)}, seed {run['seed']}: first probe sequence",
        directory / ('attention_maps_seed{}_lr{:g}'.format(run['seed'], run['lr'])
                     + ''.join(f'_x{run[key]:g}' for key in results.readings.axis_keys)
                     + (f'_layers{depth}' if results.readings.depth_axis else '')))


def _labels(results: results_lib.Results) -> list[str]:
  """Each run's rates: η, each axis group's factor ('η=5, Y_: 10η') and, with a depth axis,
  its depth."""
  readings = results.readings
  return [f"$\\eta$={run['lr']:g}" + ''.join(
      f', {results_lib.escaped(pattern)}: {run[key]:g}$\\eta$'
      for pattern, key in zip(readings.axis_patterns, readings.axis_keys))
          + (f", {results_lib.depth_label(run['num_layers'])}" if readings.depth_axis else '')
          for run in results.runs]


def _draw_entropy_vs_lr(results: results_lib.Results, directory: pathlib.Path) -> None:
  readings = results.readings
  groups = ', '.join(f'{results_lib.escaped(pattern)}: {factor:g}η'
                     for pattern, factor in readings.lr_groups
                     if not text_optimizer.is_axis(factor))
  keys = readings.cell_keys[1:]  # the axes other than η: a line for each of their cells
  rows = [{**row, 'line': tuple(row[key] for key in keys)} for row in results.rows]
  lines = {line: ', '.join([f'{results_lib.escaped(p)}: {f:g}η'
                            for p, f in zip(readings.axis_patterns, line)]
                           + [results_lib.depth_label(n)
                              for n in line[len(readings.axis_patterns):]])
           for line in sorted({row['line'] for row in rows})}
  entropy_vs_lr(rows, results.uniform_entropy, groups, lines, directory / 'entropy_vs_lr')


def _draw_training_curves(results: results_lib.Results, directory: pathlib.Path) -> None:
  history = results.history
  training_curves(history['step'], history['eval/loss'], history['attn/entropy'],
                  results.freezing, results.runs, _labels(results), results.uniform_entropy,
                  directory / 'training_curves')


FIGURES = {
    'attended_words': outputs.FigureSpec(_draw_attended_words),
    'attention_maps': outputs.FigureSpec(_draw_attention_maps),
    'entropy_vs_lr': outputs.FigureSpec(_draw_entropy_vs_lr),
    'training_curves': outputs.FigureSpec(_draw_training_curves),
}
