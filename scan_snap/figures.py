"""The paper's figures for sequence-class sweeps, drawn with matplotlib (PNG and PDF)."""

import pathlib

import numpy as np
from matplotlib.figure import Figure

from scan_snap import outputs

FIGURES = ('entropy_grid', 'attention_snapshots', 'snapping')


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


def snapping(steps: np.ndarray, growth_RxL: np.ndarray, lr_y: np.ndarray, lr_z: np.ndarray,
             t0: np.ndarray, stem: pathlib.Path) -> list[pathlib.Path]:
  """Theorem 4: left, growth of the dominant distinct logit against t (log axis), one line
  per η_Y, t₀ marked, one panel per η_Z; right, t₀ against η_Y (log-log) with fitted slopes."""
  lr_zs = np.unique(lr_z)
  fig = Figure(figsize=(3.4 * (len(lr_zs) + 1), 3.0), layout='constrained')
  axes = fig.subplots(1, len(lr_zs) + 1, squeeze=False)[0]
  colors = {y: f'C{i}' for i, y in enumerate(np.unique(lr_y))}
  for ax, z in zip(axes, lr_zs):
    for r in np.flatnonzero(lr_z == z):
      ax.plot(steps[1:], growth_RxL[r, 1:], color=colors[lr_y[r]], label=f'$\\eta_Y$={lr_y[r]:g}')
      if np.isfinite(t0[r]):
        ax.plot(t0[r], np.interp(t0[r], steps, growth_RxL[r]), 'o', color=colors[lr_y[r]],
                mec='k')
    ax.set_xscale('log')
    ax.set_xlabel('t')
    ax.set_title(f'$\\eta_Z$={z:g} (dots: $t_0$)')
  axes[0].set_ylabel(r'$z_{m,l^*}(t) - z_{m,l^*}(0)$')
  axes[0].legend(fontsize='x-small')
  ax = axes[-1]
  for i, z in enumerate(lr_zs):
    sel = (lr_z == z) & np.isfinite(t0)
    if sel.sum() >= 2:
      slope, intercept = np.polyfit(np.log(lr_y[sel]), np.log(t0[sel]), 1)
      ax.plot(lr_y[sel], t0[sel], 'o', color=f'C{i}', label=f'$\\eta_Z$={z:g}: slope {slope:.2f}')
      ax.plot(lr_y[sel], np.exp(intercept) * lr_y[sel]**slope, '-', color=f'C{i}', lw=0.8)
  ax.set_xscale('log')
  ax.set_yscale('log')
  ax.set_xlabel(r'$\eta_Y$')
  ax.set_ylabel(r'$t_0$')
  ax.set_title('snapping time (theory: slope −1)')
  ax.legend(fontsize='x-small')
  return save(fig, stem)
