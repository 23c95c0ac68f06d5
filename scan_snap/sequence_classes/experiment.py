"""The sequence-class experiment's parts of the pipeline (core.pipeline.Experiment): its grid, its
engine (sweep.py), its results, built once (results.py), and its files, figures and claims.

Layout of the work directory:
  config.json                     the resolved config
  results.csv                     one row per run
  metrics.jsonl                   per learning-rate cell of a data spec and logged step: means
                                  over its runs
  tensorboard/group=<group>/      with --tensorboard: the same lines as TensorBoard scalars
  trajectories/<group>.npz        c̃ and z of every run at every logged step, and the run's axes;
                                  also without_residual_<group>.npz, the runs paired with them
                                  without the residual (the 'residual' claim and figure)
  summary.csv, summary.md         mean ± std final entropy per (num_last, T, η_Z, η_Y) cell
  report.md                       the claims of config.report.claims, measured, with verdicts
  claims.json                     the same verdicts, machine-readable
  recall.csv                      with the 'recall' figure: recall per threshold and cell
  long_sequence_limit.csv         with that figure or claim: distance to the T → ∞ run per T
  checkpoints/<group>/<chunk>     orbax checkpoints of finished chunks, for resuming; also of
                                  the reference runs (population_num_last<n>, solver_<check>)
  figures/*.png, figures/*.pdf    the figures named in config.figures.names
  .lock                           held by the run using the work directory
(<group> is num_last<n>_T<T>, or num_last<n>_T<T>_N<N> with a finite training set, the runs
of one data spec.)
"""

import pathlib

from absl import logging
import jax

from scan_snap.core import outputs
from scan_snap.core import pipeline
from scan_snap.core import verdicts
from scan_snap.sequence_classes import claims
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import figures
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep

_PRINTED_CELLS = 64  # summary tables up to this many cells (Syn-Medium's) are also printed
OUTPUTS = ('config.json', 'results.csv', 'metrics.jsonl', 'tensorboard', 'summary.csv',
           'summary.md', 'report.md', 'claims.json', *(f'{t}.csv' for t in results_lib.TABLES),
           'trajectories', 'figures', 'checkpoints')
SECTIONS = (verdicts.PAPER, verdicts.SOLVER)
SIZE_KEYS = ('sweep.num_seeds', 'optimizer.lr_z', 'optimizer.lr_y', 'data.num_last',
             'data.seq_len', 'train.steps', 'train.log_every')
GROWING_AXES = ()
FIGURES, CLAIMS = figures.FIGURES, claims.CLAIMS
declared_config = config.sequence_classes_config
check_config = config.check
grid = config.grid


def load(plan: pipeline.Plan) -> None:
  """Nothing: every run draws its own samples."""
  del plan


def train(plan: pipeline.Plan, data: None, workdir: pathlib.Path | None, writer: bool,
          tensorboard: bool) -> sweep.Trained:
  """The grid and the plan's reference runs trained under a progress bar, stopping at a call's
  end on Ctrl-C (sweep.Sweep); the writer claims the work directory (config.json) once the
  checkpoints found are known to be the plan's."""
  del data, tensorboard
  c, g = plan.config, plan.grid
  grid_sweep = sweep.Sweep(g.runs, g.seeds, g.pairs, c.sweep.seeds_per_device,
                           pairs_per_block=c.sweep.pairs_per_block, workdir=workdir,
                           references=tuple(plan.references))
  if writer:
    outputs.write_json(workdir / 'config.json', c.to_dict())
  return grid_sweep.train()


def results(plan: pipeline.Plan, data: None, trained: sweep.Trained) -> results_lib.Results:
  del data
  return results_lib.Results(plan.grid, results_lib.Readings.of(plan.config), trained.groups,
                             trained.references, columns=plan.columns)


def write(plan: pipeline.Plan, data: None, trained: sweep.Trained,
          results: results_lib.Results, workdir: pathlib.Path, tensorboard: bool) -> None:
  """The files of the work directory (see the module docstring) but report.md and claims.json."""
  del data, trained  # The results hold the groups.
  outputs.write_csv(workdir / 'results.csv', results.rows)
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('group', 'lr_z', 'lr_y'),
                                   workdir / 'tensorboard' if tensorboard else None)
  metrics_log.write(results.metric_lines())
  metrics_log.close()
  for group in results.groups:
    outputs.write_npz(workdir / 'trajectories' / f'{sweep.group_name(group.run_config)}.npz',
                      results.trajectories(group))
  for name, group in results.references.get('without_residual', {}).items():
    outputs.write_npz(workdir / 'trajectories' / f'without_residual_{name}.npz',
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
  for name, table in results_lib.TABLES.items():
    if name in plan.tables:
      outputs.write_csv(workdir / f'{name}.csv', table(results))
  for spec in plan.figures.values():
    spec.draw(results, workdir / 'figures')


def returned(plan: pipeline.Plan, trained: sweep.Trained) -> dict:
  """The number of runs of the grid, and the seconds spent compiling and training it and the
  reference runs."""
  del plan
  return {'num_runs': sum(len(g.seed) for g in trained.groups),
          'compile_s': trained.seconds['compile'], 'train_s': trained.seconds['train']}


def footprint(plan: pipeline.Plan, data: None = None) -> dict[str, int]:
  """An estimate of the grid's size: 'runs'; 'disk_bytes', its chunk checkpoints and
  trajectories (each about the runs' metrics); 'memory_bytes', the metrics held by the host
  (about three copies: the chunks, the groups, the files being written) and, on a CPU, the
  largest block's parameters, optimizer states, gradients and a step's activations, and its
  chunk's logged support logits."""
  del data
  c, g = plan.config, plan.grid
  pairs, seeds = len(g.pairs), len(g.seeds)
  logged = c.train.steps // c.train.log_every + 1
  runs = metric_bytes = chunk_bytes = 0
  for run_config in g.runs:
    spec = run_config.data
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
