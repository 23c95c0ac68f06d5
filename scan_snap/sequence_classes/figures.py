"""The paper's figures for sequence-class sweeps, drawn with matplotlib (PNG and PDF)."""

import pathlib

import numpy as np
from matplotlib.figure import Figure

from scan_snap.core import outputs

FIGURES = ('entropy_grid', 'attention_snapshots', 'snapping', 'recall', 'long_sequence_limit')


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


def attention_snapshots(ctilde_PxLxS: np.ndarray, steps_L: np.ndarray, support_S: np.ndarray,
                        is_distinct_S: np.ndarray, show_steps: tuple[int, ...],
                        row_titles: list[str], title: str,
                        stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Figs. 4–5: c̃ of one class over its support at the given steps, one row per run
  (e.g. per learning rate); common tokens grey, distinct tokens blue."""
  num_rows = len(row_titles)
  fig = Figure(figsize=(2.2 * len(show_steps), 2.2 * num_rows + 0.3), layout='constrained')
  axes = fig.subplots(num_rows, len(show_steps), sharey='row', squeeze=False)
  colors = np.where(is_distinct_S, 'tab:blue', 'tab:gray')
  slots = np.arange(len(support_S))
  ticks = slots[::max(1, len(slots) // 5)]
  for row, row_title in enumerate(row_titles):
    for ax, step in zip(axes[row], show_steps):
      ax.bar(slots, ctilde_PxLxS[row, list(steps_L).index(step)], color=colors, width=0.8)
      ax.set_title(f'step {step}', fontsize='medium')
      ax.set_xticks(ticks, [str(support_S[i]) for i in ticks], fontsize='small')
    axes[row, 0].set_ylabel(row_title + '\n' + r'$\tilde c_{l|n}$', fontsize='small')
  for ax in axes[-1]:
    ax.set_xlabel('token')
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


def recall(curves: list[dict], thresholds: np.ndarray, fixed_lr_y: float, fixed_lr_z: float,
           stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Figs. 11–12: recall against threshold (× the uniform value 1/U), mean over seeds;
  top row η_Z varies at fixed η_Y, bottom row η_Y varies at fixed η_Z; one column per
  num_last. curves: dicts with num_last, lr_y, lr_z and recall [thresholds]."""
  panels = sorted({c['num_last'] for c in curves})
  fig = Figure(figsize=(3.0 * len(panels), 5.4), layout='constrained')
  axes = fig.subplots(2, len(panels), sharex=True, sharey=True, squeeze=False)
  rows = ((lambda c: np.isclose(c['lr_y'], fixed_lr_y), 'lr_z', f'$\\eta_Y$={fixed_lr_y:g}',
           r'$\eta_Z$'),
          (lambda c: np.isclose(c['lr_z'], fixed_lr_z), 'lr_y', f'$\\eta_Z$={fixed_lr_z:g}',
           r'$\eta_Y$'))
  for row, (keep, varies, fixed, symbol) in enumerate(rows):
    for ax, num_last in zip(axes[row], panels):
      for c in sorted((c for c in curves if c['num_last'] == num_last and keep(c)),
                      key=lambda c: c[varies]):
        ax.plot(thresholds, c['recall'], marker='o', ms=3, label=f'{symbol}={c[varies]:g}')
      ax.set_title(f'num_last={num_last}, {fixed}', fontsize='medium')
      ax.legend(fontsize='x-small')
  for ax in axes[-1]:
    ax.set_xlabel('threshold × U')
  for ax in axes[:, 0]:
    ax.set_ylabel('recall of distinct tokens')
  return save(fig, stem)


def long_sequence_limit(steps: np.ndarray, mean_by_t: dict[int, np.ndarray],
                        population: np.ndarray, distances: dict[int, float], slot: int,
                        title: str, stem: pathlib.Path) -> list[pathlib.Path]:
  """Left: seed-mean c̃ of one support slot of class 1 against the step for each T, and the
  population (T → ∞) curve; right: the distance to the population trajectory against T."""
  fig = Figure(figsize=(8.0, 3.0), layout='constrained')
  left, right = fig.subplots(1, 2)
  for seq_len, mean in sorted(mean_by_t.items()):
    left.plot(steps, mean[:, 0, slot], label=f'T={seq_len}')
  left.plot(steps, population[:, 0, slot], 'k--', label='population (T → ∞)')
  left.set_xlabel('step')
  left.set_ylabel(r'$\tilde c_{l|n}$ (mean over seeds)')
  left.set_title(title, fontsize='medium')
  left.legend(fontsize='x-small')
  lengths = sorted(distances)
  right.plot(lengths, [distances[t] for t in lengths], 'o-')
  right.set_xscale('log')
  right.set_yscale('log')
  right.set_xlabel('T')
  right.set_ylabel(r'max$_t$ mean$_n$ $\|\bar c_n(t) - \tilde c_n^{pop}(t)\|_1$')
  right.set_title('distance to the population trajectory', fontsize='medium')
  return save(fig, stem)
