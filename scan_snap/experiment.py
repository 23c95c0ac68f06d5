"""A sequence-class experiment end to end: the sweep, then its files and figures in workdir.

Layout of the work directory:
  config.json                     the resolved config
  results.csv                     one row per run (rewritten as each data spec finishes)
  trajectories/num_last<N>.npz    c̃ of every run at every logged step, and the run's axes
  summary.csv, summary.md         mean ± std final entropy per (num_last, η_Z, η_Y) cell
  report.md                       the claims of config.report.claims, measured, pass or fail
  figures/*.png, figures/*.pdf    the figures named in config.figures.names
"""

import pathlib

from absl import logging
import jax
import ml_collections
import numpy as np
import tqdm

from scan_snap import claims
from scan_snap import config
from scan_snap import figures
from scan_snap import outputs
from scan_snap import sweep
from scan_snap import theory
from scan_snap import train


def run(c: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
  """Trains the whole grid of c and writes the work directory.

  Returns {'summary': the summary rows, 'num_runs', 'compile_s', 'train_s'}.
  """
  config.validate(c)
  writer = jax.process_index() == 0  # In a multi-process job, process 0 writes the files.
  if writer:
    outputs.write_json(workdir / 'config.json', c.to_dict())
  num_runs = len(c.data.num_last) * len(config.seeds(c)) * len(config.learning_rate_pairs(c))
  rows, groups, seconds = [], [], {'compile': 0.0, 'train': 0.0}
  with tqdm.tqdm(total=num_runs, unit='run', desc='sweep', disable=not writer) as progress:
    for group in sweep.run_sweep(c, on_chunk=progress.update):
      logging.info('num_last=%d: %d runs, compiled in %.2f s, trained in %.2f s',
                   group.run.data.num_last, len(group.seed), group.seconds['compile'],
                   group.seconds['train'])
      seconds = {k: seconds[k] + group.seconds[k] for k in seconds}
      groups.append(group)
      rows += _rows_with_claims(c, group)
      if writer:
        outputs.write_csv(workdir / 'results.csv', rows)
        _write_group(c, group, workdir)

  summary = sweep.summarize(rows)
  if writer:
    _write_summary(c, rows, summary, workdir)
    if c.report.claims:
      checks = claims.evaluate(c, groups, summary)
      outputs.write_text(workdir / 'report.md', theory.report_markdown(
          f'Claims checked on {workdir.name}', checks))
      for check in checks:
        logging.info('%s: %s — %s', 'pass' if check['holds'] else 'FAIL', check['claim'],
                     check['measured'])
  return {'summary': summary, 'num_runs': len(rows), 'compile_s': seconds['compile'],
          'train_s': seconds['train']}


def _rows_with_claims(c: ml_collections.ConfigDict, group: sweep.GroupResult) -> list[dict]:
  """The group's result rows; with the 'snapping' claim, each run's t₀ too."""
  rows = sweep.result_rows(group)
  if 'snapping' in c.report.claims:
    for row, t0 in zip(rows, claims.snapping_times(group)):
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


def _write_group(c: ml_collections.ConfigDict, group: sweep.GroupResult,
                 workdir: pathlib.Path) -> None:
  """The trajectories of one data spec and its per-spec figures."""
  spec = group.run.data
  name = f'num_last{spec.num_last}'
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
                     claims.snapping_times(group), workdir / 'figures' / f'snapping_{name}')
  if 'attention_snapshots' in c.figures.names:
    cls = c.figures.snapshot_class
    title = (f'class {cls + 1} (next token {spec.class_next()[cls]}), seed {group.seed[0]}, '
             f'$\\eta_Y$={group.lr_y[0]:g}, $\\eta_Z$={group.lr_z[0]:g}')
    figures.attention_snapshots(
        m['attn/ctilde'][0, :, cls], steps, spec.support()[cls], spec.is_distinct(),
        tuple(c.figures.snapshot_steps), title,
        workdir / 'figures' / f'attention_snapshots_{name}')
