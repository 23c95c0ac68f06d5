"""The paper's figures for sequence-class sweeps, drawn with matplotlib (PNG and PDF).

FIGURES is the registry that config.figures.names names: each entry (an outputs.FigureSpec)
draws its figure from a results.Results into the figures folder, and says what it needs
(tables, reference runs) and which config keys it reads.
"""

import math
import pathlib

from matplotlib import colors
from matplotlib import ticker
import ml_collections
import numpy as np
from matplotlib.figure import Figure
from scipy import special

from scan_snap.core import config as core_config
from scan_snap.core import outputs
from scan_snap.sequence_classes import metrics
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train
from scan_snap.sequence_classes.claims import residual as residual_claims
from scan_snap.sequence_classes.claims import token_prior as token_prior_claims


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
  return outputs.save_figure(fig, stem)


def attention_snapshots(ctilde_PxLxS: np.ndarray, steps_L: np.ndarray, support_S: np.ndarray,
                        is_distinct_S: np.ndarray, show_steps: tuple[int, ...],
                        row_titles: list[str], title: str,
                        stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Figs. 4–5: c̃ of one class over its support at the given steps, one row per run
  (e.g. per learning rate), one y scale for all rows; common tokens grey, distinct blue."""
  num_rows = len(row_titles)
  fig = Figure(figsize=(2.2 * len(show_steps), 2.2 * num_rows + 0.3), layout='constrained')
  axes = fig.subplots(num_rows, len(show_steps), sharey=True, squeeze=False)
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
  return outputs.save_figure(fig, stem)


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
  return outputs.save_figure(fig, stem)


def recall(curves: list[dict], thresholds: np.ndarray, fixed_lr_y: float, fixed_lr_z: float,
           stem: pathlib.Path) -> list[pathlib.Path]:
  """Paper Figs. 11–12: recall against threshold (× the uniform value 1/U), mean over seeds;
  top row η_Z varies at fixed η_Y, bottom row η_Y varies at fixed η_Z; one column per
  num_last. curves: dicts with num_last, lr_y, lr_z and recall [thresholds]."""
  panels = sorted({c['num_last'] for c in curves})
  fig = Figure(figsize=(3.0 * len(panels), 5.4), layout='constrained')
  axes = fig.subplots(2, len(panels), sharex=True, sharey=True, squeeze=False)
  same = results_lib.same_rate
  rows = ((lambda c: same(c['lr_y'], fixed_lr_y), 'lr_z', f'$\\eta_Y$={fixed_lr_y:g}',
           r'$\eta_Z$'),
          (lambda c: same(c['lr_z'], fixed_lr_z), 'lr_y', f'$\\eta_Z$={fixed_lr_z:g}',
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
  return outputs.save_figure(fig, stem)


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
  return outputs.save_figure(fig, stem)


def _edges(rates: np.ndarray) -> np.ndarray:
  """Cell edges of a log-spaced axis: geometric midpoints, and half a step beyond each end."""
  r = np.log(np.asarray(rates, float))
  step = np.diff(r)
  return np.exp(np.concatenate([[r[0] - step[0] / 2], r[:-1] + step / 2, [r[-1] + step[-1] / 2]]))


# The panels of the phase diagram: (column of phase_diagram.csv, title, colour map, log colours).
PHASE_PANELS = (
    ('entropy_mean', 'final distinct-token entropy (nats),\nmean over seeds', 'viridis', False),
    ('entropy_se', 'its standard error (nats)', 'magma', False),
    ('steps_to_loss_mean', 'steps to loss {threshold:g}', 'cividis', True),
    ('t0_mean', 'snapping time $t_0$ (steps)', 'plasma', True),
    ('diverged_fraction', 'fraction of runs diverged', 'Reds', False),
)


def phase_diagram(cells: list[dict], marked: np.ndarray, loss_threshold: float, title: str,
                  stem: pathlib.Path) -> list[pathlib.Path]:
  """Heat maps over (η_Z, η_Y) of phase_diagram.csv's rows (one data spec), with the line
  η_Y = η_Z and the `marked` (η_Z, η_Y) points on top. Grey: no run to average (never reached,
  no t₀ found, or every run diverged)."""
  num_z = max(row['lr_z_index'] for row in cells) + 1
  num_y = max(row['lr_y_index'] for row in cells) + 1
  tables = {key: np.full((num_z, num_y), math.nan) for key, *_ in PHASE_PANELS}
  lr_z, lr_y = np.empty(num_z), np.empty(num_y)
  for row in cells:
    for key in tables:
      tables[key][row['lr_z_index'], row['lr_y_index']] = row[key]
    lr_z[row['lr_z_index']], lr_y[row['lr_y_index']] = row['lr_z'], row['lr_y']
  fig = Figure(figsize=(12.5, 7.2), layout='constrained')
  axes = fig.subplots(2, 3).ravel()
  for ax, (key, label, cmap, log) in zip(axes, PHASE_PANELS):
    values = np.ma.masked_invalid(tables[key].T)  # rows: η_Y, columns: η_Z
    norm = colors.LogNorm() if log and values.count() else None
    mesh = ax.pcolormesh(_edges(lr_z), _edges(lr_y), values, cmap=cmap, norm=norm)
    ax.set_facecolor('0.8')
    bar = fig.colorbar(mesh, ax=ax, format='%g')
    bar.ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter('%g'))
    span = [max(lr_z[0], lr_y[0]), min(lr_z[-1], lr_y[-1])]
    ax.plot(span, span, color='black', lw=2.0)
    ax.plot(span, span, color='white', lw=1.0, ls='--', label=r'$\eta_Y = \eta_Z$')
    ax.scatter(marked[:, 0], marked[:, 1], s=16, facecolor='white', edgecolor='black', lw=0.6,
               label="Syn-Medium's grid")
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel(r'$\eta_Z$')
    ax.set_ylabel(r'$\eta_Y$')
    ax.set_title(label.format(threshold=loss_threshold), fontsize='medium')
  axes[0].legend(fontsize='small', loc='lower right', facecolor='0.5', labelcolor='white')
  axes[-1].axis('off')
  fig.suptitle(title)
  return outputs.save_figure(fig, stem)


def finite_data(rows: list[dict], bars: dict, stem: pathlib.Path) -> list[pathlib.Path]:
  """Sec. 9, per training set size N (log axis; N = ∞, fresh samples, at the right): (a) the
  final attention on the common tokens that the set made look distinct minus on those it made
  look rarer, (b) the correlation of their logit changes with that distinctness, (c) the loss on
  fresh samples, each mean ± s.e. over seeds, one line per (η_Y, η_Z); (d) c̃ of one class and
  run at the smallest N and at the largest (`bars`: slots, ctilde per N, d, is_distinct)."""
  fig = Figure(figsize=(14.0, 3.2), layout='constrained')
  axes = fig.subplots(1, 4, width_ratios=(1, 1, 1, 1.4))
  kept = [r for r in rows if not r['diverged']]
  sizes = sorted({r['train_set_size'] for r in kept if r['train_set_size']})
  infinity = 4 * sizes[-1]  # Where N = ∞ is drawn.
  cells = sorted({(r['lr_y'], r['lr_z']) for r in kept}, key=lambda p: p[::-1])
  panels = ((axes[0], 'spurious_attention', r'$\sum_l \tilde c_{l|n}$ sign$(d_{l,n})$'),
            (axes[1], 'correlation', r'$r(d_{l,n}, \Delta z_{m,l})$'),
            (axes[2], 'fresh_loss', 'loss on fresh samples'))
  for ax, value, label in panels:
    for i, (lr_y, lr_z) in enumerate(cells):
      points = []
      for n in sizes + [0]:
        x = np.array([r[value] for r in kept if r['train_set_size'] == n
                      and (r['lr_y'], r['lr_z']) == (lr_y, lr_z)], float)
        x = x[np.isfinite(x)]
        if len(x):
          points.append((n or infinity, x.mean(), x.std(ddof=1) / np.sqrt(len(x))
                         if len(x) > 1 else 0.0))
      finite = [p for p in points if p[0] != infinity]
      label_cell = f'$\\eta_Y$={lr_y:g}, $\\eta_Z$={lr_z:g}'
      if finite:
        ax.errorbar(*zip(*finite), marker='o', ms=3, capsize=2, color=f'C{i}', label=label_cell)
      for x, mean, se in points[len(finite):]:
        ax.errorbar(x, mean, se, marker='s', ms=5, capsize=2, color=f'C{i}', mfc='white')
    ax.set_xscale('log')
    shown = sizes + [infinity] * (value == 'fresh_loss')  # No training set, so no d, at ∞.
    ax.set_xticks(shown, [f'{n:g}' for n in sizes] + ['∞'] * (value == 'fresh_loss'))
    ax.minorticks_off()
    ax.axhline(0, color='k', lw=0.5)
    ax.set_xlabel('training set size N')
    ax.set_ylabel(label)
  axes[0].set_title('attention on spurious common tokens', fontsize='medium')
  axes[1].set_title('... following their distinctness d', fontsize='medium')
  axes[2].set_title('overfitting (∞: fresh samples)', fontsize='medium')
  axes[0].legend(fontsize='x-small')
  ax = axes[3]
  slots, d = np.arange(len(bars['is_distinct'])), bars['distinctness']
  common_color = np.where(d > 0, 'tab:orange', 'tab:gray')
  colors = np.where(bars['is_distinct'], 'tab:blue', np.resize(common_color, len(slots)))
  (small, c_small), (large, c_large) = sorted(bars['ctilde'].items(),
                                              key=lambda kv: kv[0] or infinity)
  ax.bar(slots - 0.2, c_small, 0.4, color=colors, label=f'N={small}')
  ax.bar(slots + 0.2, c_large, 0.4, color=colors, alpha=0.4, hatch='//',
         label=f'N={large or "∞"}')
  ax.set_xticks(slots[::2], [str(t) for t in bars['tokens'][::2]], fontsize='small')
  ax.set_xlabel('token (orange: common, looked distinct at the small N; grey: common, looked '
                'rarer; blue: distinct)', fontsize='x-small')
  ax.set_ylabel(r'$\tilde c_{l|n}$')
  ax.set_title(bars['title'] + f': N={small} (solid) vs {large or "∞"} (hatched)',
               fontsize='medium')
  return outputs.save_figure(fig, stem)


def token_prior(panels: list[dict], stem: pathlib.Path) -> list[pathlib.Path]:
  """Sec. 7: the learned prior b_l at the end against P(l|m,n), one dot per contextual token
  (mean over seeds; a common token's P averaged over its classes), per data spec, one colour per
  η_Z at the smallest η_Y of each; Theorem 2: below 0 for the common tokens, above for the
  distinct ones."""
  fig = Figure(figsize=(3.2 * len(panels), 3.0), layout='constrained')
  axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
  for ax, panel in zip(axes, panels):
    ax.axhline(0.0, color='0.6', lw=0.8)
    for i, (label, prob, b, is_distinct) in enumerate(panel['lines']):
      color = f'C{i}'
      ax.scatter(prob[~is_distinct], b[~is_distinct], s=12, marker='s', color=color,
                 alpha=0.6)
      ax.scatter(prob[is_distinct], b[is_distinct], s=12, marker='o', color=color, label=label)
    ax.set_xscale('log')
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(panel['title'])
    ax.set_xlabel('$P(l\\mid m,n)$ (squares: common tokens)')
  axes[0].set_ylabel('prior $b_l$ at the end')
  axes[-1].legend(fontsize=8)
  return outputs.save_figure(fig, stem)


def _draw_token_prior(results: results_lib.Results, directory: pathlib.Path) -> None:
  panels = []
  for group in results.groups:
    spec = group.run_config.data
    support, probs = spec.support(), spec.probs()
    tokens, _ = token_prior_claims.tokens_once(support)
    prob = np.array([probs[support == t].mean() for t in tokens])
    by_rate = results_lib.cells_by_rate(group)
    lines = []
    for lr_z in sorted({lr_z for _, _, lr_z in by_rate}):
      cell, lr_y, _ = min((c for c in by_rate if c[2] == lr_z), key=lambda c: c[1])
      runs = results_lib.cell_runs(group, cell)
      if runs.any():  # A cell whose runs all diverged has no b to show.
        b, is_distinct, _ = token_prior_claims.by_token(group.metrics['prior/b'][runs], support,
                                                        spec.is_distinct())
        lines.append((f'$\\eta_Z$={lr_z:g}, $\\eta_Y$={lr_y:g}', prob, b[:, 0].mean(axis=0),
                      is_distinct))
    panels.append({'title': f'num_last = {spec.num_last}, T = {group.run_config.seq_len}',
                   'lines': lines})
  token_prior(panels, directory / 'token_prior')


def residual(panels: list[dict], steps: np.ndarray, stem: pathlib.Path) -> list[pathlib.Path]:
  """Sec. 7: the mean logit z_{m,l} of each kind of contextual token over training, with the
  residual (solid) and without it (dashed, the same runs), per data spec."""
  fig = Figure(figsize=(3.4 * len(panels) + 1.4, 3.0), layout='constrained')
  axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
  for ax, panel in zip(axes, panels):
    ax.axhline(0.0, color='0.6', lw=0.8)
    for i, (kind, with_residual, without) in enumerate(panel['lines']):
      marker = 'os^v'[i % 4]  # Markers tell apart the kinds whose lines coincide.
      style = dict(color=f'C{i}', marker=marker, ms=4, zorder=10 - i)  # The first on top.
      ax.plot(steps, with_residual, label=kind, **style)
      ax.plot(steps, without, mfc='none', ls='--', **style)
    ax.set_title(panel['title'], fontsize='medium')
    ax.set_xlabel('step')
  axes[0].set_ylabel('mean logit $z_{m,l}$')
  axes[-1].plot([], [], color='0.3', label='with the residual')
  axes[-1].plot([], [], color='0.3', ls='--', label='without it')
  axes[-1].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
  return outputs.save_figure(fig, stem)


def _draw_residual(results: results_lib.Results, directory: pathlib.Path) -> None:
  """Per group, every non-diverged pair of runs (all cells and seeds), each kind's slots of
  data.SharedAcrossQueries.slot_kinds averaged."""
  panels = []
  for group in results.groups:
    off = residual_claims.without_residual(results, group)
    kept = ~(group.metrics['diverged'] | off.metrics['diverged'])
    kinds = group.run_config.data.slot_kinds()
    lines = [(kind, *(g.metrics['attn/logits'][kept][..., kinds == kind].mean(axis=(0, 2, 3))
                      for g in (group, off)))
             for kind in dict.fromkeys(kinds)]
    panels.append({'title': f'num_last = {group.run_config.data.num_last}, '
                            f'T = {group.run_config.seq_len}: {int(kept.sum())} runs',
                   'lines': lines})
  residual(panels, train.logged_steps(results.groups[0].run_config), directory / 'residual')


def _draw_finite_data(results: results_lib.Results, directory: pathlib.Path) -> None:
  """Class 1 of the first seed at the first learning-rate cell for the bars."""
  groups = [g for g in results.groups if g.run_config.train_set_size]
  smallest = min(groups, key=lambda g: g.run_config.train_set_size)
  largest = max(results.groups, key=lambda g: g.run_config.train_set_size or np.inf)
  r, seed = 0, int(smallest.seed[0])
  spec = smallest.run_config.data
  d = results.distinctness(smallest, seed)
  bars = {'tokens': spec.support()[0], 'is_distinct': spec.is_distinct(), 'distinctness': d[0],
          'ctilde': {g.run_config.train_set_size: g.metrics['attn/ctilde'][r, -1, 0]
                     for g in (smallest, largest)},
          'title': f'class 1, seed {seed}, $\\eta_Y$={smallest.lr_y[r]:g}, '
                   f'$\\eta_Z$={smallest.lr_z[r]:g}'}
  finite_data(results.finite_data, bars, directory / 'finite_data')


def _draw_entropy_grid(results: results_lib.Results, directory: pathlib.Path) -> None:
  entropy_grid(results.summary, directory / 'entropy_grid')


def _draw_snapping(results: results_lib.Results, directory: pathlib.Path) -> None:
  for group, t0 in zip(results.groups, results.t0):
    snapping(train.logged_steps(group.run_config), results_lib.dominant_growth(group), group.lr_y,
             group.lr_z, t0, directory / f'snapping_{sweep.group_name(group.run_config)}')


def _draw_attention_snapshots(results: results_lib.Results, directory: pathlib.Path) -> None:
  """Per group: c̃ of Readings.snapshot_class at its snapshot steps, one row per learning-rate
  pair of the first seed, titled with its final distinct-token entropy and the distinct tokens
  it ends on (results.attended)."""
  cls = results.readings.snapshot_class
  for group, attended in zip(results.groups, results.attended):
    spec, m = group.run_config.data, group.metrics
    runs = np.flatnonzero(group.seed == group.seed[0])  # Every learning-rate pair, first seed.
    share = np.asarray(metrics.distinct_attention(m['attn/logits'][runs, -1, cls],
                                                  spec.probs()[cls], spec.num_unique_per_next))
    entropy = special.entr(share).sum(axis=-1)
    distinct_ids = spec.support()[cls][spec.is_distinct()]
    row_titles = [f'$\\eta_Y$={group.lr_y[r]:g}, $\\eta_Z$={group.lr_z[r]:g}\n'
                  f'entropy {h:.2f}, ends on\n'
                  + ' '.join(str(t) for t in distinct_ids[attended[r, cls]])
                  for r, h in zip(runs, entropy)]
    attention_snapshots(
        m['attn/ctilde'][runs, :, cls], train.logged_steps(group.run_config), spec.support()[cls],
        spec.is_distinct(), results.readings.snapshot_steps, row_titles,
        f'{group.run_config.optimizer.name}: class {cls + 1} '
        f'(next token {spec.class_next()[cls]}), seed {group.seed[0]}',
        directory / f'attention_snapshots_{sweep.group_name(group.run_config)}')


def _draw_recall(results: results_lib.Results, directory: pathlib.Path) -> None:
  r = results.readings
  recall(results.recall_curves, np.asarray(r.recall_thresholds), r.recall_lr_y, r.recall_lr_z,
         directory / 'recall')


def _draw_long_sequence_limit(results: results_lib.Results, directory: pathlib.Path) -> None:
  """One figure per (num_last, η_Y, η_Z): the groups of every T against the population run."""
  for (num_last, cell), reference in results.references['population'].items():
    members = [g for g in results.groups if g.run_config.data.num_last == num_last]
    lr_y, lr_z = {c: rates for c, *rates in results_lib.cells_by_rate(members[0])}[cell]
    long_sequence_limit(
        train.logged_steps(members[0].run_config),
        {g.run_config.seq_len: results.mean_ctilde(g, cell) for g in members}, reference,
        {g.run_config.seq_len: results.limit_distance(g, cell) for g in members},
        members[0].run_config.data.top_distinct_slot(),
        f'most frequent distinct token of class 1 ($\\eta_Y$={lr_y:g}, $\\eta_Z$={lr_z:g})',
        directory / f'long_sequence_limit_num_last{num_last}_lry{lr_y:g}_lrz{lr_z:g}')


def _draw_phase_diagram(results: results_lib.Results, directory: pathlib.Path) -> None:
  r = results.readings
  marked = np.array([(z, y * z) for z in r.marked_lr_z for y in r.marked_lr_y_over_lr_z], float)
  for group in results.groups:
    name = sweep.group_name(group.run_config)
    run_config = group.run_config
    cells = [row for row in results.phase_diagram
             if (row['num_last'], row['seq_len'], row['train_set_size'])
             == (run_config.data.num_last, run_config.seq_len, run_config.train_set_size)]
    phase_diagram(cells, marked.reshape(-1, 2), r.loss_threshold,
                  f'{name}: {len(cells)} cells × {len(set(group.seed.tolist()))} seeds, '
                  f'{group.run_config.steps} steps', directory / f'phase_diagram_{name}')


def _check_absolute_rates(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """The heat maps' axes are η_Z and η_Y: a grid of absolute rates."""
  problems.need(c.optimizer.lr_y_relative is False, 'optimizer.lr_y_relative',
                "must be False for 'phase_diagram' (its heat maps are over η_Z and η_Y)")


def _check_trajectories(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """A figure of trajectories needs them kept."""
  problems.need(c.train.trajectories is True, 'train.trajectories',
                'must be True for the figures attention_snapshots, long_sequence_limit, '
                'finite_data and residual')


def _check_snapshots(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """The snapshot steps are logged steps, and the class exists in every data spec."""
  _check_trajectories(c, problems)
  is_int, t, d = core_config.is_int, c.train, c.data
  if is_int(t.steps) and is_int(t.log_every) and t.log_every >= 1 and t.steps % t.log_every == 0:
    problems.need(all(is_int(s) and 0 <= s <= t.steps and s % t.log_every == 0
                      for s in c.figures.snapshot_steps), 'figures.snapshot_steps',
                  'must be logged steps: multiples of train.log_every ≤ train.steps')
  if not problems.found:  # K is known once the data keys are valid.
    num_classes = min(d.num_last) * d.num_next_per_last
    problems.need(is_int(c.figures.snapshot_class) and 0 <= c.figures.snapshot_class < num_classes,
                  'figures.snapshot_class', f'must be a class index below K = {num_classes}')


def _check_token_prior(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """The figure shows the learned prior."""
  problems.need(c.model.token_prior is True, 'model.token_prior',
                "must be True for the figure 'token_prior'")


def _check_residual(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """The figure compares runs with the residual with the same runs without it, by kind of token
  (the family of classes that has them), over training."""
  problems.need(c.model.residual is True, 'model.residual', "must be True for the figure 'residual'")
  problems.need(c.data.family == 'shared_across_queries', 'data.family',
                "must be 'shared_across_queries' for the figure 'residual' (its kinds of tokens)")
  _check_trajectories(c, problems)


def _check_finite_data(c: ml_collections.ConfigDict, problems: core_config.Problems) -> None:
  """At least one finite training set, whose first class the bars show, and trajectories (the
  correlation reads each logit's change from the start)."""
  _check_trajectories(c, problems)
  problems.need(core_config.is_int(c.train.eval_batches) and c.train.eval_batches > 0,
                'train.eval_batches', "must be positive for 'finite_data' (its fresh-sample loss)")
  problems.need(any(core_config.is_int(n) and n > 0 for n in c.data.train_set_size),
                'data.train_set_size', "must hold a finite size (> 0) for 'finite_data'")


FIGURES = {
    'entropy_grid': outputs.FigureSpec(_draw_entropy_grid),
    'attention_snapshots': outputs.FigureSpec(_draw_attention_snapshots, check=_check_snapshots),
    'snapping': outputs.FigureSpec(_draw_snapping),
    'recall': outputs.FigureSpec(_draw_recall, tables=('recall',)),
    'long_sequence_limit': outputs.FigureSpec(_draw_long_sequence_limit,
                                              tables=('long_sequence_limit',),
                                              references=('population',),
                                              check=_check_trajectories),
    'phase_diagram': outputs.FigureSpec(_draw_phase_diagram, tables=('phase_diagram',),
                                        check=_check_absolute_rates),
    'finite_data': outputs.FigureSpec(_draw_finite_data, tables=('finite_data',),
                                      check=_check_finite_data),
    'token_prior': outputs.FigureSpec(_draw_token_prior, check=_check_token_prior),
    'residual': outputs.FigureSpec(_draw_residual, references=('without_residual',),
                                   check=_check_residual),
}
