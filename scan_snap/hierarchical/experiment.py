"""The hierarchical-class experiment's parts of the pipeline (core.pipeline.Experiment): its
engine, one group of runs per depth trained with evaluations and checkpoints (sweep.py); its
results, computed once (results.py); then its files and figures in the work directory.

Layout of the work directory:
  config.json             the resolved config
  metrics.jsonl           one line per evaluation and run: step, num_layers, seed, lr,
                          train_loss, eval_loss, eval_accuracy, attn_entropy/block<b>,
                          score/<reading>/level<l>/block<b>
  tensorboard/<run>/      with --tensorboard: the same lines as TensorBoard scalars
  results.csv             one row per run: depth, η, seed, final losses and accuracy, each
                          level's score in its own block at init and at the end, and in its best
                          other block, each block's final attention entropy and snapping step
  summary.csv             the same numbers averaged over seeds, one row per (depth, η)
  trajectories.npz        every evaluation of every run
  checkpoints/depth<n>/   orbax checkpoints of each depth's runs; a re-run resumes from the
                          latest intact one
  figures/*.png, *.pdf    the figures named in config.figures.names
  report.md, claims.json  the claims of config.report.claims (claims.CLAIMS), with verdicts
  .lock                   held by the run using the work directory
"""

import dataclasses
import pathlib

from absl import logging
import jax

from scan_snap.core import outputs
from scan_snap.core import pipeline
from scan_snap.core import verdicts
from scan_snap.hierarchical import claims
from scan_snap.hierarchical import config as hier_config
from scan_snap.hierarchical import figures
from scan_snap.hierarchical import results as results_lib
from scan_snap.hierarchical import sweep

OUTPUTS = ('config.json', 'metrics.jsonl', 'tensorboard', 'results.csv', 'summary.csv',
           'trajectories.npz', 'figures', 'report.md', 'claims.json', 'checkpoints')
SECTIONS = (verdicts.PAPER,)
SIZE_KEYS = ('sweep.num_seeds', 'optimizer.lr', 'model.num_layers', 'model.d_model',
             'model.d_ff', 'eval.batch_size')
GROWING_AXES = ('model.num_layers',)  # each depth's runs: checkpoints/depth<n>
FIGURES, CLAIMS = figures.FIGURES, claims.CLAIMS
declared_config = hier_config.hierarchical_config
check_config = hier_config.check
grid = hier_config.grid  # one Group per depth


@dataclasses.dataclass(frozen=True)
class Trained:
  """Each depth's trained runs, and the writer's metrics.jsonl (None elsewhere)."""

  groups: list[sweep.GroupResult]
  metrics_log: outputs.MetricsLog | None


def load(plan: pipeline.Plan) -> None:
  """Nothing: each run draws its tree and its batches itself."""
  del plan


def train(plan: pipeline.Plan, data: None, workdir: pathlib.Path | None, writer: bool,
          tensorboard: bool) -> Trained:
  """Each depth's runs trained to train.steps (sweep.run), resumed from workdir's checkpoints;
  the writer claims the work directory (config.json) once the first group's checkpoints are
  known to be the plan's."""
  del data
  c = plan.config
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('num_layers', 'seed', 'lr'),
                                   workdir / 'tensorboard' if tensorboard else None
                                   ) if writer else None

  def claim_workdir() -> None:
    if writer:
      outputs.write_json(workdir / 'config.json', c.to_dict())

  groups = sweep.run(plan.grid, lambda depth: hier_config.run_config(c, depth),
                     c.sweep.runs_per_device, c.train.checkpoint_every, workdir,
                     on_start=claim_workdir)
  return Trained(groups, metrics_log)


def results(plan: pipeline.Plan, data: None, trained: Trained) -> results_lib.Results:
  del plan, data
  reported = results_lib.Results(trained.groups)
  if reported.num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv)',
                    reported.num_diverged, len(reported.rows))
  return reported


def write(plan: pipeline.Plan, data: None, trained: Trained, reported: results_lib.Results,
          workdir: pathlib.Path, tensorboard: bool) -> None:
  """metrics.jsonl, results.csv, summary.csv, trajectories.npz and the figures."""
  del data, tensorboard  # The metrics log of `train` has its TensorBoard writers.
  trained.metrics_log.write(reported.metric_lines())
  trained.metrics_log.close()
  outputs.write_csv(workdir / 'results.csv', reported.rows)
  outputs.write_csv(workdir / 'summary.csv', reported.summary)
  outputs.write_npz(workdir / 'trajectories.npz', reported.trajectories())
  for spec in plan.figures.values():
    spec.draw(reported, workdir / 'figures')
  print(outputs.markdown_table(reported.summary))


def returned(plan: pipeline.Plan, trained: Trained) -> dict:
  """The steps trained by this call (not restored from a checkpoint), summed over depths."""
  del plan
  return {'steps_trained': sum(g.steps_trained for g in trained.groups)}


def footprint(plan: pipeline.Plan, data: None) -> dict[str, int]:
  """An estimate of the grid's size (see runtime.check_fits): 'runs'; 'memory_bytes', each
  run's parameters with momentum, gradients and a copy (4 × 4 bytes a parameter), and the
  evaluation's activations, on a CPU; 'disk_bytes', two checkpoints kept per depth."""
  c = plan.config
  runs = sum(len(g.runs) for g in plan.grid)
  params = sum(len(g.runs) * hier_config.num_params(c, g.num_layers) for g in plan.grid)
  activations = (c.sweep.runs_per_device * c.eval.batch_size * c.data.seq_len
                 * max(c.model.num_layers) * (c.model.d_ff + 4 * c.model.d_model) * 4)
  on_cpu = jax.default_backend() == 'cpu'
  return {'runs': runs, 'memory_bytes': 16 * params + activations if on_cpu else 0,
          'disk_bytes': 2 * 2 * 4 * params}
