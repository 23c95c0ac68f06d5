"""The WikiText experiment end to end: the data; the sweep, the grid trained with its
evaluations and checkpoints (sweep.py); its results, computed once (results.py); then its files
and figures in the work directory.

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
  figures/*.png, *.pdf    the figures named in config.figures.names
  report.md               the claims of config.report.claims (claims.CLAIMS), with verdicts
  claims.json             the same verdicts, machine-readable
  .lock                   held by the run using the work directory
"""

import contextlib
import pathlib

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.core import verdicts
from scan_snap.wikitext import claims
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import data
from scan_snap.wikitext import figures
from scan_snap.wikitext import results
from scan_snap.wikitext import sweep
from scan_snap.wikitext import train
from scan_snap.wikitext.config import validate  # The checks of this experiment's configs.

_OUTPUTS = ('config.json', 'vocab.txt', 'metrics.jsonl', 'tensorboard', 'results.csv',
            'trajectories.npz', 'figures', 'report.md', 'claims.json', 'checkpoints')


def load_data(c: ml_collections.ConfigDict) -> tuple[data.Vocabulary, train.TextData, int]:
  """The vocabulary, the token streams on device, and the training steps per epoch."""
  d, e = c.data, c.eval
  splits = tuple(dict.fromkeys((d.train_split, d.eval_split)))
  # One process prepares the cache first: the others of a job may share its folder.
  builder = runtime.process_zero_first(lambda: data.prepare(
      pathlib.Path(d.dir), d.variant, pathlib.Path(d.cache_dir), splits), 'wikitext prepared')
  # Two streamed passes over the training split (WikiText-103 has 103M words): counts, then ids.
  train_words = lambda: data.words_of(data.read_lines(builder, d.train_split))
  vocab = data.Vocabulary.build(train_words(), d.max_vocab)
  train_ids = vocab.encode(train_words())[:d.max_train_tokens or None]
  eval_ids = vocab.encode(data.words_of(data.read_lines(builder, d.eval_split)))
  train_BxN = data.batchify(train_ids, d.batch_size)
  eval_ExN = data.batchify(eval_ids[:e.max_tokens or None], e.batch_size)
  steps_per_epoch = data.num_windows(train_BxN.shape[1], d.bptt)
  if steps_per_epoch < 1 or data.num_windows(eval_ExN.shape[1], d.bptt) < 1:
    raise data.DataError(
        f'too few tokens for one window of bptt = {d.bptt}: {train_BxN.shape} training and '
        f'{eval_ExN.shape} evaluation streams')
  probe_end = e.probe_position + e.num_probe * d.bptt
  if probe_end > len(eval_ids):
    raise data.DataError(f'the probe sequences end at token {probe_end}, past the '
                            f'{len(eval_ids)} tokens of the {d.eval_split} split')
  probe_PxL = eval_ids[e.probe_position:probe_end].reshape(e.num_probe, d.bptt)
  logging.info('WikiText %s: vocabulary %d, %d training tokens (%d steps per epoch), %d '
               'evaluation tokens', d.dir, len(vocab), train_BxN.size, steps_per_epoch,
               eval_ExN.size)
  return vocab, train.TextData(jnp.asarray(train_BxN), jnp.asarray(eval_ExN),
                               jnp.asarray(probe_PxL)), steps_per_epoch


def run(c: ml_collections.ConfigDict, workdir: pathlib.Path | None = None,
        overwrite: bool = False, tensorboard: bool = False, force: bool = False) -> dict:
  """Trains the grid of c, resuming from workdir's latest checkpoint, and writes workdir (with
  `tensorboard`, also the metrics.jsonl lines as TensorBoard scalars, one folder per run); with
  no workdir, trains in memory and writes nothing.

  The work directory is locked for the whole run. A checkpoint of another config is an error; a
  damaged one is reported, and the run resumes from the one before it (or from the start). A
  grid too large for the machine is an error unless `force`. A Ctrl-C stops the run after the
  evaluation under way, with a checkpoint of that step, from which the same call resumes.

  Returns {'results': the rows of results.csv, 'summary': mean ± std over seeds per rate pair,
  'claims': the verdicts of c.report.claims as dicts, 'steps_trained': steps run by this call}.
  """
  text_config.validate(c)
  vocab, tokens, steps_per_epoch = load_data(c)  # Bad data fails before workdir is touched.
  runtime.check_fits(footprint(c, len(vocab)), workdir, force)
  # In a multi-process job, process 0 writes the files and holds the lock.
  writer = workdir is not None and jax.process_index() == 0
  with outputs.workdir_lock(workdir) if writer else contextlib.nullcontext():
    return _run(c, workdir, overwrite, tensorboard, writer, vocab, tokens, steps_per_epoch)


def _run(c: ml_collections.ConfigDict, workdir: pathlib.Path | None, overwrite: bool,
         tensorboard: bool, writer: bool, vocab: data.Vocabulary, tokens: train.TextData,
         steps_per_epoch: int) -> dict:
  """run, once the data are loaded and the work directory is locked (writer: this process
  writes the files)."""
  metrics_log = _prepare(c, workdir, overwrite, tensorboard, writer)
  runs = text_config.grid(c)

  def claim_workdir() -> None:  # The checkpoints found are this config's: the workdir is its own.
    if writer:
      outputs.write_json(workdir / 'config.json', c.to_dict())
      outputs.write_text(workdir / 'vocab.txt', ''.join(w + '\n' for w in vocab.words))

  def log(history: dict[str, np.ndarray]) -> None:
    if writer:
      metrics_log.write(results.metric_lines(history, results.freezing_of(history), runs,
                                             steps_per_epoch))

  trained = sweep.run(text_config.run_config(c, len(vocab), steps_per_epoch), runs, tokens,
                      c.sweep.runs_per_device, c.train.checkpoint_every, workdir,
                      on_start=claim_workdir, on_evaluation=log)
  probe_words = np.asarray(vocab.words)[np.asarray(tokens.probe_PxL)]
  reported = results.Results(c, trained, probe_words)
  checked = claims.evaluate(tuple(c.report.claims), reported)
  if writer:
    _write_files(reported, metrics_log, tokens.probe_PxL, workdir)
    sections = {verdicts.PAPER: checked}
    outputs.write_text(workdir / 'report.md', verdicts.report_markdown(
        f'Claims checked on {workdir.name}', sections))
    outputs.write_json(workdir / 'claims.json', verdicts.to_json(sections))
    for name in c.figures.names:
      figures.FIGURES[name].draw(reported, workdir / 'figures')
    print(outputs.markdown_table(reported.rows))
  if reported.num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv)',
                    reported.num_diverged, len(reported.rows))
  for v in checked:
    logging.info('%s: %s — %s', v.verdict, v.claim, v.measured)
  return {'results': reported.rows, 'summary': reported.summary,
          'claims': [{'section': verdicts.PAPER, **v.to_dict()} for v in checked],
          'steps_trained': trained.steps_trained}


def _prepare(c: ml_collections.ConfigDict, workdir: pathlib.Path | None, overwrite: bool,
             tensorboard: bool, writer: bool) -> outputs.MetricsLog | None:
  """Checks (or, with overwrite, clears) the work directory; returns the writer's
  metrics.jsonl."""
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('seed', 'lr_attention', 'lr_other'),
                                   workdir / 'tensorboard' if tensorboard else None
                                   ) if writer else None
  if workdir is not None:
    outputs.prepare_workdir(c.to_dict(), text_config.wikitext_config().to_dict(), workdir,
                            _OUTPUTS, overwrite, writer)
    runtime.barrier('work directory prepared')  # No process looks for checkpoints before then.
  return metrics_log


def footprint(c: ml_collections.ConfigDict, vocab_size: int) -> dict[str, int]:
  """An estimate of the grid's size (see runtime.check_fits): 'runs'; 'memory_bytes', each
  run's parameters with its optimizer state, gradients and a copy (4 × 4 bytes a parameter),
  on a CPU; 'disk_bytes', the two checkpoints kept (parameters, optimizer state, evaluations)
  and the trajectories, whose attention maps dominate the evaluations."""
  m = c.model
  params = (2 * vocab_size * m.d_model
            + m.num_layers * (4 * m.d_model ** 2 + 2 * m.d_model * m.d_ff))
  runs = len(text_config.grid(c))
  evaluations = c.train.steps // c.train.eval_every + 1
  maps = evaluations * m.num_layers * c.eval.num_probe * m.num_heads * c.data.bptt ** 2
  on_cpu = jax.default_backend() == 'cpu'
  return {'runs': runs, 'memory_bytes': runs * 16 * params if on_cpu else 0,
          'disk_bytes': runs * 4 * (2 * 2 * params + 3 * maps)}


def _write_files(reported: results.Results, metrics_log: outputs.MetricsLog,
                 probe_PxL: jax.Array, workdir: pathlib.Path) -> None:
  """metrics.jsonl (whole once more: a run resumed at its last step evaluates nothing),
  results.csv and trajectories.npz."""
  metrics_log.write(reported.metric_lines())
  metrics_log.close()
  outputs.write_csv(workdir / 'results.csv', reported.rows)
  outputs.write_npz(workdir / 'trajectories.npz', {
      **reported.trajectories(), 'probe_ids': np.asarray(probe_PxL),
      'probe_words': reported.probe_words})
