"""A sequence-class experiment end to end: sweep → results, built once → files, figures, claims.

Layout of the work directory:
  config.json                     the resolved config
  results.csv                     one row per run
  metrics.jsonl                   per learning-rate cell of a data spec and logged step: means
                                  over its runs
  tensorboard/group=<group>/      with --tensorboard: the same lines as TensorBoard scalars
  trajectories/<group>.npz        c̃ and z of every run at every logged step, and the run's axes
  summary.csv, summary.md         mean ± std final entropy per (num_last, T, η_Z, η_Y) cell
  report.md                       the claims of config.report.claims, measured, with verdicts
  claims.json                     the same verdicts, machine-readable
  recall.csv                      with the 'recall' figure: recall per threshold and cell
  long_sequence_limit.csv         with that figure or claim: distance to the T → ∞ run per T
  checkpoints/<group>/<chunk>     orbax checkpoints of finished chunks, for resuming
  figures/*.png, figures/*.pdf    the figures named in config.figures.names
  .lock                           held by the run using the work directory
(<group> is num_last<n>_T<T>, or num_last<n>_T<T>_N<N> with a finite training set, the runs
of one data spec.)
"""

import contextlib
import pathlib

from absl import logging
import jax
import ml_collections

from scan_snap.core import config as core_config
from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.core import verdicts
from scan_snap.sequence_classes import claims
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import figures
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes.config import validate  # The checks of this experiment's configs.

_PRINTED_CELLS = 64  # summary tables up to this many cells (Syn-Medium's) are also printed
_OUTPUTS = ('config.json', 'results.csv', 'metrics.jsonl', 'tensorboard', 'summary.csv',
            'summary.md', 'report.md', 'claims.json', *(f'{t}.csv' for t in results_lib.TABLES),
            'trajectories', 'figures', 'checkpoints')


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
  verdicts of c.report.claims (as in claims.json, each with its 'section'), 'num_runs',
  'compile_s', 'train_s'}.
  """
  config.validate(c)
  runtime.check_fits(footprint(c), workdir, force)
  # In a multi-process job, process 0 writes the files and holds the lock.
  writer = workdir is not None and jax.process_index() == 0
  with outputs.workdir_lock(workdir) if writer else contextlib.nullcontext():
    if workdir is not None:
      outputs.prepare_workdir(c.to_dict(), config.sequence_classes_config().to_dict(), workdir,
                              _OUTPUTS, overwrite, writer)
      runtime.barrier('work directory prepared')  # No process looks for checkpoints before.
    groups = _sweep(c, workdir, writer)
    wanted = ([figures.FIGURES[name] for name in c.figures.names]
              + [claims.CLAIMS[name] for name in c.report.claims])
    results = results_lib.Results(
        c, groups, sweep.references(groups, {r for w in wanted for r in w.references}),
        columns=tuple(dict.fromkeys(col for name in c.report.claims
                                    for col in claims.CLAIMS[name].columns)))
    sections = claims.evaluate(tuple(c.report.claims), results)
    if writer:
      _write(c, results, sections, {t for w in wanted for t in w.tables}, workdir, tensorboard)
  checks = [{'section': section, **v.to_dict()} for section, found in sections.items()
            for v in found]
  for check in checks:
    logging.info('%s: %s — %s', check['verdict'], check['claim'], check['measured'])
  return {'results': results.rows, 'summary': results.summary, 'claims': checks,
          'num_runs': len(results.rows),
          'compile_s': sum(g.seconds['compile'] for g in groups),
          'train_s': sum(g.seconds['train'] for g in groups)}


def _sweep(c: ml_collections.ConfigDict, workdir: pathlib.Path | None,
           writer: bool) -> list[sweep.GroupResult]:
  """c's grid trained under a progress bar, stopping at a chunk's end on Ctrl-C; the writer
  claims the work directory (config.json) once the checkpoints found are known to be c's."""
  pairs, seeds = config.learning_rate_pairs(c), core_config.seeds(c)
  runs = [config.run_config(c, *spec) for spec in config.data_specs(c)]
  grid = sweep.Sweep(runs, seeds, pairs, c.sweep.seeds_per_device,
                     pairs_per_block=c.sweep.pairs_per_block, workdir=workdir)
  if writer:
    outputs.write_json(workdir / 'config.json', c.to_dict())
  with runtime.progress_bar(total=len(runs) * len(seeds) * len(pairs), unit='run', desc='sweep',
                            disable=jax.process_index() != 0) as progress, \
       runtime.stop_on_interrupt():
    def on_chunk(num_runs: int) -> None:  # A chunk is trained and its checkpoint under way.
      progress.update(num_runs)
      runtime.stop_point()

    return grid.train(on_chunk)


def _write(c: ml_collections.ConfigDict, results: results_lib.Results,
           sections: dict[str, list[verdicts.Verdict]],
           tables: set[str], workdir: pathlib.Path, tensorboard: bool) -> None:
  """Every file of the work directory (see the module docstring), from the results."""
  outputs.write_csv(workdir / 'results.csv', results.rows)
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('group', 'lr_z', 'lr_y'),
                                   workdir / 'tensorboard' if tensorboard else None)
  metrics_log.write(results.metric_lines())
  metrics_log.close()
  for group in results.groups:
    outputs.write_npz(workdir / 'trajectories' / f'{sweep.group_name(group.run_config)}.npz',
                      results.trajectories(group))
  outputs.write_csv(workdir / 'summary.csv', results.summary)
  table = outputs.markdown_table(results.summary)
  outputs.write_text(workdir / 'summary.md', table)
  print(table if len(results.summary) <= _PRINTED_CELLS else
        f'{len(results.summary)} cells: {workdir / "summary.md"}')
  num_diverged = sum(results.num_diverged)
  if num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv); they are left out '
                    'of the summary statistics.', num_diverged, len(results.rows))
  for name in results_lib.TABLES:
    if name in tables:
      outputs.write_csv(workdir / f'{name}.csv', getattr(results, name))
  for name in c.figures.names:
    figures.FIGURES[name].draw(results, workdir / 'figures')
  if any(sections.values()):
    outputs.write_text(workdir / 'report.md', verdicts.report_markdown(
        f'Claims checked on {workdir.name}', sections))
    outputs.write_json(workdir / 'claims.json', verdicts.to_json(sections))
  logging.info('wrote %s', workdir)


def footprint(c: ml_collections.ConfigDict) -> dict[str, int]:
  """An estimate of the grid's size: 'runs'; 'disk_bytes', its chunk checkpoints and
  trajectories (each about the runs' metrics); 'memory_bytes', the metrics held by the host
  (about three copies: the chunks, the groups, the files being written) and, on a CPU, the
  largest block's parameters, optimizer states, gradients and a step's activations, and its
  chunk's logged support logits."""
  pairs, seeds = len(config.learning_rate_pairs(c)), len(core_config.seeds(c))
  logged = c.train.steps // c.train.log_every + 1
  runs = metric_bytes = chunk_bytes = 0
  for data_spec in config.data_specs(c):
    spec = config.run_config(c, *data_spec).data
    kept = logged if c.train.trajectories else 1  # steps of c̃ and z kept per run
    per_run = 4 * (2 * kept * spec.num_classes * spec.support_size + 4 * logged)
    runs += seeds * pairs
    metric_bytes += seeds * pairs * per_run
    seeds_per_device = max(2, c.sweep.seeds_per_device)
    block = sweep.pair_block(pairs, c.sweep.pairs_per_block)
    padded_pairs = -(-pairs // block) * block
    per_block_run = (6 * spec.vocab_size**2  # parameters, momenta, gradients (at most)
                     + 4 * c.data.batch_size * (spec.num_context_tokens + spec.vocab_size))
    per_chunk_run = 2 * logged * spec.num_classes * spec.support_size  # the logs
    chunk_bytes = max(chunk_bytes, 4 * seeds_per_device * (block * per_block_run
                                                           + padded_pairs * per_chunk_run))
  on_cpu = jax.default_backend() == 'cpu'
  return {'runs': runs, 'disk_bytes': 2 * metric_bytes,
          'memory_bytes': 3 * metric_bytes + (chunk_bytes * jax.local_device_count() if on_cpu
                                              else 0)}
