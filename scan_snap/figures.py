"""The paper's figures for sequence-class sweeps, drawn with matplotlib (PNG and PDF)."""

import pathlib

import numpy as np
from matplotlib.figure import Figure

from scan_snap import outputs

FIGURES = ('entropy_grid', 'attention_snapshots')


def save(fig: Figure, stem: pathlib.Path) -> list[pathlib.Path]:
  """Writes stem.png and stem.pdf atomically; returns their paths."""
  paths = []
  for ext in ('png', 'pdf'):
    path = stem.with_suffix(f'.{ext}')
    with outputs.atomic_path(path) as tmp:
      fig.savefig(tmp, format=ext, dpi=150, bbox_inches='tight')
    paths.append(path)
  return paths


def entropy_grid(summary: list[dict], stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Fig. 6: per num_last, final distinct-token entropy (mean ± std over seeds) against
  η_Y/η_Z, one line per η_Z."""
  panels = sorted({row['num_last'] for row in summary})
  fig = Figure(figsize=(3.2 * len(panels), 3.0), layout='constrained')
  axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
  for ax, num_last in zip(axes, panels):
    cells = [row for row in summary if row['num_last'] == num_last]
    for lr_z in sorted({row['lr_z'] for row in cells}):
      line = sorted((row for row in cells if row['lr_z'] == lr_z),
                    key=lambda row: row['lr_y_over_lr_z'])
      ratio = np.array([row['lr_y_over_lr_z'] for row in line])
      mean = np.array([row['entropy_mean'] for row in line])
      std = np.nan_to_num(np.array([row['entropy_std'] for row in line]))
      ax.errorbar(ratio, mean, yerr=std, marker='o', ms=3, capsize=2, label=f'$\\eta_Z$={lr_z:g}')
    ax.set_xscale('log')
    ratios = sorted({row['lr_y_over_lr_z'] for row in cells})
    ax.set_xticks(ratios, [f'{r:g}' for r in ratios])
    ax.minorticks_off()
    ax.set_title(f'num_last = {num_last}')
    ax.set_xlabel(r'$\eta_Y / \eta_Z$')
  axes[0].set_ylabel('distinct-token entropy (nats)')
  axes[-1].legend(fontsize='small')
  return save(fig, stem)


def attention_snapshots(ctilde_LxS: np.ndarray, steps_L: np.ndarray, support_S: np.ndarray,
                        is_distinct_S: np.ndarray, show_steps: tuple[int, ...], title: str,
                        stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Fig. 4: c̃ of one class over its support at the given steps; common tokens grey,
  distinct tokens blue."""
  fig = Figure(figsize=(2.2 * len(show_steps), 2.4), layout='constrained')
  axes = fig.subplots(1, len(show_steps), sharey=True, squeeze=False)[0]
  colors = np.where(is_distinct_S, 'tab:blue', 'tab:gray')
  slots = np.arange(len(support_S))
  for ax, step in zip(axes, show_steps):
    ax.bar(slots, ctilde_LxS[list(steps_L).index(step)], color=colors, width=0.8)
    ax.set_title(f'step {step}', fontsize='medium')
    ticks = slots[::max(1, len(slots) // 5)]
    ax.set_xticks(ticks, [str(support_S[i]) for i in ticks], fontsize='small')
    ax.set_xlabel('token')
  axes[0].set_ylabel(r'$\tilde c_{l|n}$')
  fig.suptitle(title + '   (grey: common, blue: distinct)', fontsize='medium')
  return save(fig, stem)
