"""A sequence-class experiment end to end: the sweep, then its files and figures in workdir.

Layout of the work directory:
  config.json                     the resolved config
  results.csv                     one row per run (rewritten as each data spec finishes)
  metrics.jsonl                   per data spec and logged step: means over its runs
  tensorboard/group=<group>/      with --tensorboard: the same lines as TensorBoard scalars
  trajectories/<group>.npz        c̃ and z of every run at every logged step, and the run's axes
  summary.csv, summary.md         mean ± std final entropy per (num_last, T, η_Z, η_Y) cell
  report.md                       the claims of config.report.claims, measured, pass or fail
  recall.csv                      with the 'recall' figure: recall per threshold and cell
  long_sequence_limit.csv         with that figure or claim: distance to the T → ∞ run per T
  checkpoints/<group>/chunk_<i>   orbax checkpoints of finished chunks, for resuming
(<group> is num_last<N>_T<T>, one data spec.)
  figures/*.png, figures/*.pdf    the figures named in config.figures.names
  .lock                           held by the run using the work directory
"""

import contextlib
import pathlib

from absl import logging
import jax
import ml_collections
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import checkpoints
from scan_snap.sequence_classes import claims
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import figures
from scan_snap.sequence_classes import metrics
from scan_snap.core import outputs
from scan_snap.sequence_classes.config import validate  # The checks of this experiment's configs.
from scan_snap.core import runtime
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import theory
from scan_snap.sequence_classes import train


_OUTPUTS = ('config.json', 'results.csv', 'metrics.jsonl', 'tensorboard', 'summary.csv',
            'summary.md', 'report.md', 'recall.csv', 'long_sequence_limit.csv', 'trajectories',
            'figures', 'checkpoints')


def run(c: ml_collections.ConfigDict, workdir: pathlib.Path | None = None,
        overwrite: bool = False, tensorboard: bool = False, force: bool = False) -> dict:
  """Trains the whole grid of c and writes the work directory (with `tensorboard`, also the
  metrics.jsonl lines as TensorBoard scalars under tensorboard/<run>); with no workdir, trains
  in memory and writes nothing.

  A work directory that already holds this config's checkpoints resumes: finished chunks are
  restored, not trained again, and the results are those of an uninterrupted run. One that holds
  another config's run is an error unless `overwrite`, which deletes that run's files first; so
  is a checkpoint made by another config or code version, while a damaged one is reported and
  its chunk trained again. The work directory is locked for the whole run: a second run on it is
  an error. A grid too large for the machine's memory or disk is an error unless `force` (see
  runtime.check_fits). A Ctrl-C stops the run after the chunk under way, once its checkpoint is
  written, so that the same call resumes from every finished chunk.

  Returns {'results': the rows of results.csv, 'summary': the summary rows, 'claims': the
  checks of c.report.claims, 'num_runs', 'compile_s', 'train_s'}.
  """
  config.validate(c)
  runtime.check_fits(sweep.footprint(c), workdir, force)
  # In a multi-process job, process 0 writes the files and holds the lock.
  writer = workdir is not None and jax.process_index() == 0
  with outputs.workdir_lock(workdir) if writer else contextlib.nullcontext():
    return _run(c, workdir, overwrite, tensorboard, writer)


def _run(c: ml_collections.ConfigDict, workdir: pathlib.Path | None, overwrite: bool,
         tensorboard: bool, writer: bool) -> dict:
  """run, once the work directory is locked (writer: this process writes the files)."""
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('group', 'lr_z', 'lr_y'),
                                   workdir / 'tensorboard' if tensorboard else None
                                   ) if writer else None
  store = _prepare(c, workdir, overwrite, writer) if workdir is not None else None
  num_runs = len(config.data_specs(c)) * len(core_config.seeds(c)) * len(config.learning_rate_pairs(c))
  rows, logs, groups, seconds = [], [], [], {'compile': 0.0, 'train': 0.0}
  snapping = []  # per group: each run's t₀, when a figure or a claim needs it
  with runtime.progress_bar(total=num_runs, unit='run', desc='sweep',
                            disable=jax.process_index() != 0) as progress, \
       runtime.waiting_for(store.wait if store else None), runtime.stop_on_interrupt():
    def on_chunk(num_runs: int) -> None:  # A chunk is trained and its checkpoint under way.
      progress.update(num_runs)
      runtime.stop_point()

    trained = sweep.run_sweep(c, on_chunk=on_chunk, store=store)
    if writer:  # The checkpoints found are this config's: the work directory is now its own.
      outputs.write_json(workdir / 'config.json', c.to_dict())
    for group in trained:
      logging.info('%s: %d runs, compiled in %.2f s, trained in %.2f s',
                   sweep.group_name(group.run), len(group.seed), group.seconds['compile'],
                   group.seconds['train'])
      seconds = {k: seconds[k] + group.seconds[k] for k in seconds}
      groups.append(group)
      snapping.append(claims.snapping_times(group)
                      if 'snapping' in (*c.figures.names, *c.report.claims) else None)
      rows += _rows_with_claims(c, group, snapping[-1])
      logs += _metric_lines(group)
      if writer:
        outputs.write_csv(workdir / 'results.csv', rows)
        metrics_log.write(logs)
        _write_group(c, group, snapping[-1], workdir)

  if metrics_log:
    metrics_log.close()
  summary = sweep.summarize(rows)
  distances = None
  if 'long_sequence_limit' in (*c.figures.names, *c.report.claims):
    distances = claims.long_sequence_distances(groups)
  checks = claims.evaluate(c, groups, summary, distances, snapping)
  if writer:
    _write_summary(c, rows, summary, workdir)
    if 'recall' in c.figures.names:
      _write_recall(c, groups, workdir)
    if distances:
      _write_long_sequence_limit(c, groups, distances, workdir)
    if checks:
      outputs.write_text(workdir / 'report.md', theory.report_markdown(
          f'Claims checked on {workdir.name}', checks))
  for check in checks:
    logging.info('%s: %s — %s', check['verdict'], check['claim'], check['measured'])
  return {'results': rows, 'summary': summary, 'claims': checks, 'num_runs': len(rows),
          'compile_s': seconds['compile'], 'train_s': seconds['train']}


def _prepare(c: ml_collections.ConfigDict, workdir: pathlib.Path, overwrite: bool,
             writer: bool) -> checkpoints.ChunkStore:
  """Checks (or, with overwrite, clears) the work directory, and returns the store of finished
  chunks to resume from."""
  outputs.prepare_workdir(c.to_dict(), workdir, _OUTPUTS, overwrite, writer)
  runtime.barrier('work directory prepared')  # No process looks for checkpoints before then.
  return checkpoints.ChunkStore(workdir / 'checkpoints')


def _metric_lines(group: sweep.GroupResult) -> list[dict]:
  """metrics.jsonl: one line per learning-rate cell of a data spec and logged step, with the
  means over the cell's non-diverged runs (its seeds)."""
  steps = train.logged_steps(group.run)
  lines = []
  for lr_z, lr_y in dict.fromkeys(zip(group.lr_z.tolist(), group.lr_y.tolist())):
    cell = (group.lr_z == lr_z) & (group.lr_y == lr_y)
    kept = cell & ~group.metrics['diverged']
    m = {k: v[kept] for k, v in group.metrics.items()}
    for i, step in enumerate(steps):
      line = {'group': sweep.group_name(group.run), 'lr_z': lr_z, 'lr_y': lr_y,
              'lr_y_over_lr_z': sweep.ratio(lr_y, lr_z), 'step': int(step),
              'num_runs': int(kept.sum()),
              'attn/entropy': float(m['attn/entropy'][:, i].mean()) if kept.any() else None}
      if i > 0 and kept.any():  # Training metrics average the interval that ends at this step.
        line['train/loss'] = float(m['train/loss'][:, i - 1].mean())
        line['train/accuracy'] = float(m['train/accuracy'][:, i - 1].mean())
      lines.append(line)
  return lines


def _rows_with_claims(c: ml_collections.ConfigDict, group: sweep.GroupResult,
                      t0_R: np.ndarray | None) -> list[dict]:
  """The group's result rows; with the 'snapping' claim, each run's t₀ (t0_R) too."""
  rows = sweep.result_rows(group)
  if 'snapping' in c.report.claims:
    for row, t0 in zip(rows, t0_R):
      row['t0'] = t0
      row['final_entropy'] = row['entropy']
  return rows


def _write_summary(c: ml_collections.ConfigDict, rows: list[dict], summary: list[dict],
                   workdir: pathlib.Path) -> None:
  """The summary table (also printed), the grid figures, and a word on diverged runs."""
  outputs.write_csv(workdir / 'summary.csv', summary)
  table = outputs.markdown_table(summary)
  outputs.write_text(workdir / 'summary.md', table)
  print(table)
  num_diverged = sum(row['diverged'] for row in rows)
  if num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv); they are left out '
                    'of the summary statistics.', num_diverged, len(rows))
  if 'entropy_grid' in c.figures.names:
    figures.entropy_grid(summary, workdir / 'figures' / 'entropy_grid')
  logging.info('wrote %s', workdir)


def _write_recall(c: ml_collections.ConfigDict, groups: list[sweep.GroupResult],
                  workdir: pathlib.Path) -> None:
  """recall.csv and the recall figure: final recall per threshold, mean over the seeds."""
  curves, table = [], []
  for group in groups:
    num_distinct = group.run.data.num_unique_per_next
    thresholds = np.asarray(c.figures.recall_thresholds) / num_distinct
    kept = ~group.metrics['diverged']
    recall = np.asarray(metrics.recall_at_thresholds(
        group.metrics['attn/logits'][:, -1], group.run.data.probs(), num_distinct, thresholds))
    for lr_y, lr_z in sorted(set(zip(group.lr_y.tolist(), group.lr_z.tolist()))):
      runs = kept & (group.lr_y == lr_y) & (group.lr_z == lr_z)
      if runs.any():
        mean = recall[runs].mean(axis=0)
        curves.append({'num_last': group.run.data.num_last, 'lr_y': lr_y, 'lr_z': lr_z,
                       'recall': mean})
        table += [{'num_last': group.run.data.num_last, 'lr_y': lr_y, 'lr_z': lr_z,
                   'threshold': float(th), 'recall': float(r), 'num_runs': int(runs.sum())}
                  for th, r in zip(thresholds, mean)]
  outputs.write_csv(workdir / 'recall.csv', table)
  figures.recall(curves, np.asarray(c.figures.recall_thresholds), c.figures.recall_lr_y,
                 c.figures.recall_lr_z, workdir / 'figures' / 'recall')


def _write_long_sequence_limit(c: ml_collections.ConfigDict, groups: list[sweep.GroupResult],
                               distances: tuple[list[dict], dict],
                               workdir: pathlib.Path) -> None:
  """long_sequence_limit.csv, and the figure of each (num_last, η_Y, η_Z) when it is named."""
  rows, population = distances
  outputs.write_csv(workdir / 'long_sequence_limit.csv', rows)
  if 'long_sequence_limit' not in c.figures.names:
    return
  for (num_last, lr_y, lr_z), pop in population.items():
    members = [g for g in groups if g.run.data.num_last == num_last]
    pick = lambda g: (g.lr_y == lr_y) & (g.lr_z == lr_z) & ~g.metrics['diverged']
    figures.long_sequence_limit(
        train.logged_steps(members[0].run),
        {g.run.seq_len: g.metrics['attn/ctilde'][pick(g)].mean(axis=0) for g in members}, pop,
        {r['seq_len']: r['distance'] for r in rows
         if (r['num_last'], r['lr_y'], r['lr_z']) == (num_last, lr_y, lr_z)},
        members[0].run.data.top_distinct_slot(),
        f'most frequent distinct token of class 1 ($\\eta_Y$={lr_y:g}, $\\eta_Z$={lr_z:g})',
        workdir / 'figures' / f'long_sequence_limit_num_last{num_last}_lry{lr_y:g}_lrz{lr_z:g}')


def _write_group(c: ml_collections.ConfigDict, group: sweep.GroupResult,
                 t0_R: np.ndarray | None, workdir: pathlib.Path) -> None:
  """The trajectories of one data spec and its per-spec figures (t0_R: each run's t₀, for
  the 'snapping' figure)."""
  spec = group.run.data
  name = sweep.group_name(group.run)
  steps = train.logged_steps(group.run)
  m = group.metrics
  outputs.write_npz(workdir / 'trajectories' / f'{name}.npz', {
      'steps': steps, 'seed': group.seed, 'lr_y': group.lr_y, 'lr_z': group.lr_z,
      'ctilde': m['attn/ctilde'], 'logits': m['attn/logits'], 'entropy': m['attn/entropy'],
      'train_loss': m['train/loss'], 'train_accuracy': m['train/accuracy'],
      'diverged': m['diverged'],
      'support': spec.support(), 'probs': spec.probs(), 'is_distinct': spec.is_distinct(),
  })
  if 'snapping' in c.figures.names:
    figures.snapping(steps, claims.dominant_growth(group), group.lr_y, group.lr_z,
                     t0_R, workdir / 'figures' / f'snapping_{name}')
  if 'attention_snapshots' in c.figures.names:
    cls = c.figures.snapshot_class
    runs = np.flatnonzero(group.seed == group.seed[0])  # Every learning-rate pair, first seed.
    attended = metrics.distinct_attention(m['attn/logits'][runs, -1, cls], spec.probs()[cls],
                                          spec.num_unique_per_next)
    distinct_ids = spec.support()[cls][spec.is_distinct()]
    row_titles = [f'$\\eta_Y$={group.lr_y[r]:g}, $\\eta_Z$={group.lr_z[r]:g}\nends on '
                  + ' '.join(str(t) for t in distinct_ids[np.asarray(a) >= 1 / len(a)])
                  for r, a in zip(runs, attended)]
    figures.attention_snapshots(
        m['attn/ctilde'][runs, :, cls], steps, spec.support()[cls], spec.is_distinct(),
        tuple(c.figures.snapshot_steps), row_titles,
        f'{group.run.optimizer.name}: class {cls + 1} (next token {spec.class_next()[cls]}), '
        f'seed {group.seed[0]}', workdir / 'figures' / f'attention_snapshots_{name}')
