"""The WikiText experiment's parts of the pipeline (core.pipeline.Experiment): the data; its
engine, the grid trained with its evaluations and checkpoints (sweep.py); its results, computed
once (results.py); then its files and figures in the work directory.

Layout of the work directory:
  config.json             the resolved config
  vocab.txt               the vocabulary, one word per line, line i = id i
  metrics.jsonl           one line per evaluation and run: step, epoch, seed, rates, train_loss,
                          val_loss, val_ppl, attn_entropy/layer<i>, attn_freezing/layer<i>
                          (rewritten after every evaluation)
  tensorboard/<run>/      with --tensorboard: the same lines as TensorBoard scalars
  results.csv             one row per run: rates, seed, final perplexity and attention entropy
  trajectories.npz        every evaluation of every run, with the probe maps and words
  checkpoints/<step>/     orbax checkpoints: the grid's parameters and optimizer states, and
                          the evaluations so far; a re-run resumes from the latest intact one
                          (with a depth axis, checkpoints/depth<n>/<step>/ for each depth)
  figures/*.png, *.pdf    the figures named in config.figures.names
  report.md               the claims of config.report.claims (claims.CLAIMS), with verdicts
  claims.json             the same verdicts, machine-readable
  .lock                   held by the run using the work directory
"""


import dataclasses
import pathlib
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from scan_snap.core import outputs
from scan_snap.core import pipeline
from scan_snap.core import runtime
from scan_snap.core import verdicts
from scan_snap.wikitext import claims
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import data as data_lib
from scan_snap.wikitext import figures
from scan_snap.wikitext import metrics
from scan_snap.wikitext import model
from scan_snap.wikitext import results as results_lib
from scan_snap.wikitext import sweep
from scan_snap.wikitext import train as train_lib

OUTPUTS = ('config.json', 'vocab.txt', 'metrics.jsonl', 'tensorboard', 'results.csv',
           'trajectories.npz', 'figures', 'report.md', 'claims.json', 'checkpoints')
SECTIONS = (verdicts.PAPER,)
SIZE_KEYS = ('sweep.num_seeds', 'optimizer.lr', 'model.d_model', 'model.num_layers',
             'model.depths', 'eval.num_probe', 'eval.query_tokens', 'eval.key_tokens',
             'train.eval_every')
GROWING_AXES = ('model.depths',)  # each depth's runs: checkpoints/depth<n>
FIGURES, CLAIMS = figures.FIGURES, claims.CLAIMS
declared_config = text_config.wikitext_config
check_config = text_config.check
grid = text_config.grid  # the runs: {'seed', 'lr', …}, depth-major, then seed-major


class Data(NamedTuple):
  """The vocabulary, the token streams on device, and the training steps per epoch."""

  vocab: data_lib.Vocabulary
  tokens: train_lib.TextData
  steps_per_epoch: int


@dataclasses.dataclass(frozen=True)
class Trained:
  """The trained grid, and the writer's metrics.jsonl (None elsewhere)."""

  grid: sweep.GridResult
  metrics_log: outputs.MetricsLog | None


def load(plan: pipeline.Plan) -> Data:
  """The vocabulary, the token streams on device, and the training steps per epoch."""
  d, e = plan.config.data, plan.config.eval
  evaluated = () if d.eval_split == data_lib.HELDOUT else (d.eval_split,)
  splits = tuple(dict.fromkeys(data_lib.splits_of(d.train_split) + evaluated))
  # One process prepares the cache first: the others of a job may share its folder.
  builder = runtime.process_zero_first(lambda: data_lib.prepare(
      pathlib.Path(d.dir), d.variant, pathlib.Path(d.cache_dir), splits), 'wikitext prepared')
  # Streamed passes over the training split (WikiText-103 has 103M words): counts, then ids.
  vocab, train_ids, eval_ids = data_lib.encoded_splits(
      builder, d.train_split, d.eval_split, d.tokenizer, d.max_vocab, d.heldout_tokens)
  train_ids = train_ids[:d.max_train_tokens or None]
  train_BxN = data_lib.batchify(train_ids, d.batch_size)
  eval_ExN = data_lib.batchify(eval_ids[:e.max_tokens or None], e.batch_size)
  steps_per_epoch = data_lib.num_windows(train_BxN.shape[1], d.bptt)
  if steps_per_epoch < 1 or data_lib.num_windows(eval_ExN.shape[1], d.bptt) < 1:
    raise data_lib.DataError(
        f'too few tokens for one window of bptt = {d.bptt}: {train_BxN.shape} training and '
        f'{eval_ExN.shape} evaluation streams')
  probe_end = e.probe_position + e.num_probe * d.bptt
  if probe_end > len(eval_ids):
    raise data_lib.DataError(f'the probe sequences end at token {probe_end}, past the '
                            f'{len(eval_ids)} evaluation tokens ({d.eval_split})')
  probe_PxL = eval_ids[e.probe_position:probe_end].reshape(e.num_probe, d.bptt)
  logging.info('WikiText %s: vocabulary %d, %d training tokens (%d steps per epoch), %d '
               'evaluation tokens', d.dir, len(vocab), train_BxN.size, steps_per_epoch,
               eval_ExN.size)
  return Data(vocab, train_lib.TextData(jnp.asarray(train_BxN), jnp.asarray(eval_ExN),
                                    jnp.asarray(probe_PxL)), steps_per_epoch)


def train(plan: pipeline.Plan, data: Data, workdir: pathlib.Path | None, writer: bool,
          tensorboard: bool) -> Trained:
  """The grid trained to train.steps (sweep.run), one group of runs per depth (one without a
  depth axis), each resumed from workdir's newest intact checkpoint of it; the writer rewrites
  metrics.jsonl after every evaluation, and claims the work directory (config.json, vocab.txt)
  once the first group's checkpoints found are known to be the plan's."""
  c, runs = plan.config, plan.grid
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl',
                                   ('seed', *results_lib.Readings.of(c).cell_keys),
                                   workdir / 'tensorboard' if tensorboard else None
                                   ) if writer else None

  def claim_workdir() -> None:  # The checkpoints found are this config's: the workdir is its own.
    if writer:
      outputs.write_json(workdir / 'config.json', c.to_dict())
      outputs.write_text(workdir / 'vocab.txt', ''.join(w + '\n' for w in data.vocab.words))

  def lines(history: dict[str, np.ndarray], group: list[dict]) -> list[dict]:
    return results_lib.metric_lines(history, metrics.freezing_of(history), group,
                                    data.steps_per_epoch)

  by_depth = text_config.depth_axis(c)
  trained, finished_lines = [], []  # the groups trained, and their metrics.jsonl lines
  for num_layers, group in text_config.depth_groups(c, runs):

    def log(history: dict[str, np.ndarray], group: list[dict] = group) -> None:
      if writer:
        metrics_log.write(finished_lines + lines(history, group))

    trained.append(sweep.run(
        text_config.run_config(c, len(data.vocab), data.steps_per_epoch, num_layers), group,
        data.tokens, c.sweep.runs_per_device, c.train.checkpoint_every, workdir,
        on_start=claim_workdir if not trained else lambda: None, on_evaluation=log,
        folder=f'depth{num_layers}' if by_depth else '',
        desc=results_lib.depth_label(num_layers) if by_depth else 'wikitext'))
    if writer:
      finished_lines += lines(trained[-1].history, group)
  return Trained(sweep.joined(trained), metrics_log)


def results(plan: pipeline.Plan, data: Data, trained: Trained) -> results_lib.Results:
  probe_words = np.asarray(data.vocab.words)[np.asarray(data.tokens.probe_PxL)]
  reported = results_lib.Results(results_lib.Readings.of(plan.config), trained.grid, probe_words)
  if reported.num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv)',
                    reported.num_diverged, len(reported.rows))
  return reported


def write(plan: pipeline.Plan, data: Data, trained: Trained, reported: results_lib.Results,
          workdir: pathlib.Path, tensorboard: bool) -> None:
  """metrics.jsonl (whole once more: a run resumed at its last step evaluates nothing),
  results.csv, trajectories.npz and the figures."""
  del tensorboard  # The metrics log of `train` has its TensorBoard writers.
  trained.metrics_log.write(reported.metric_lines())
  trained.metrics_log.close()
  outputs.write_csv(workdir / 'results.csv', reported.rows)
  outputs.write_npz(workdir / 'trajectories.npz', {
      **reported.trajectories(), 'probe_ids': np.asarray(data.tokens.probe_PxL),
      'probe_words': reported.probe_words})
  for spec in plan.figures.values():
    spec.draw(reported, workdir / 'figures')
  print(outputs.markdown_table(reported.rows))


def returned(plan: pipeline.Plan, trained: Trained) -> dict:
  """The steps trained by this call (not restored from a checkpoint)."""
  del plan
  return {'steps_trained': trained.grid.steps_trained}


def footprint(plan: pipeline.Plan, data: Data) -> dict[str, int]:
  """An estimate of the grid's size (see runtime.check_fits): 'runs'; 'memory_bytes', the
  largest depth group's runs' parameters (model.num_params, of the model model.kind names) with
  their optimizer state, gradients and a copy (4 × 4 bytes a parameter), on a CPU (the groups
  train one after another); 'disk_bytes', the two checkpoints kept of every group (parameters,
  optimizer state, evaluations) and the trajectories, whose attention maps and token masses
  dominate the evaluations."""
  c = plan.config
  evaluations = c.train.steps // c.train.eval_every + 1
  queries, keys = (min(c.eval[k], len(data.vocab)) for k in ('query_tokens', 'key_tokens'))
  memory = disk = 0
  for num_layers, group in text_config.depth_groups(c, plan.grid):
    net = text_config.model_config(c, len(data.vocab), num_layers)
    params = model.num_params(net)
    runs = len(group)
    recorded = evaluations * net.num_layers * (
        c.eval.num_probe * net.num_heads * c.data.bptt ** 2 + queries * (keys + 2))
    memory = max(memory, runs * 16 * params)
    disk += runs * 4 * (2 * 2 * params + 3 * recorded)
  on_cpu = jax.default_backend() == 'cpu'
  return {'runs': len(plan.grid), 'memory_bytes': memory if on_cpu else 0, 'disk_bytes': disk}
