"""The WikiText experiment end to end: data, the grid's training with evaluations and
checkpoints, then its files and figures in the work directory.

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
  .lock                   held by the run using the work directory
"""

import contextlib
import math
import pathlib

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import data
from scan_snap.wikitext import figures
from scan_snap.wikitext import sweep
from scan_snap.wikitext import train
from scan_snap.wikitext.config import validate  # The checks of this experiment's configs.

_OUTPUTS = ('config.json', 'vocab.txt', 'metrics.jsonl', 'tensorboard', 'results.csv',
            'trajectories.npz', 'figures', 'checkpoints')
# The name in trajectories.npz of each evaluation in the history.
_TRAJECTORIES = {'step': 'step', 'train/loss': 'train_loss', 'eval/loss': 'val_loss',
                 'attn/entropy': 'attn_entropy', 'attn/maps': 'attn_maps'}


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
  'steps_trained': steps run by this call}.
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
  metrics_log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('seed', 'lr_attention', 'lr_other'),
                                   workdir / 'tensorboard' if tensorboard else None
                                   ) if writer else None
  if workdir is not None:
    outputs.prepare_workdir(c.to_dict(), workdir, _OUTPUTS, overwrite, writer)
    runtime.barrier('work directory prepared')  # No process looks for checkpoints before then.
  runs = text_config.grid(c)

  def claim_workdir() -> None:  # The checkpoints found are this config's: the workdir is its own.
    if writer:
      outputs.write_json(workdir / 'config.json', c.to_dict())
      outputs.write_text(workdir / 'vocab.txt', ''.join(w + '\n' for w in vocab.words))

  def log(history: dict[str, np.ndarray]) -> None:
    if writer:
      metrics_log.write(_metric_lines(history, _freezing(history), runs, steps_per_epoch))

  trained = sweep.run(text_config.run_config(c, len(vocab), steps_per_epoch), runs, tokens,
                      c.sweep.runs_per_device, c.train.checkpoint_every, workdir,
                      on_start=claim_workdir, on_evaluation=log)
  history = trained.history
  freezing = _freezing(history)
  rows = _result_rows(history, freezing, runs, steps_per_epoch)
  if writer:
    metrics_log.write(_metric_lines(history, freezing, runs, steps_per_epoch))
    metrics_log.close()
    outputs.write_csv(workdir / 'results.csv', rows)
    probe_words = np.asarray(vocab.words)[np.asarray(tokens.probe_PxL)]
    outputs.write_npz(workdir / 'trajectories.npz', {
        **{name: history[key] for key, name in _TRAJECTORIES.items()}, 'attn_freezing': freezing,
        **{key: np.asarray([r[key] for r in runs])
           for key in ('seed', 'lr_attention', 'lr_other')},
        'probe_ids': np.asarray(tokens.probe_PxL), 'probe_words': probe_words})
    _write_figures(c, history, freezing, runs, rows, probe_words[0], workdir)
    print(outputs.markdown_table(rows))
  num_diverged = sum(r['diverged'] for r in rows)
  if num_diverged:
    logging.warning('%d of %d runs diverged (diverged=True in results.csv)', num_diverged,
                    len(rows))
  return {'results': rows, 'summary': summarize(rows), 'steps_trained': trained.steps_trained}


def summarize(rows: list[dict]) -> list[dict]:
  """Per (lr_attention, lr_other): the number of runs and diverged runs, and mean ± sample std
  over the non-diverged seeds of the final validation loss and of each layer's attention
  entropy."""
  cells: dict[tuple, list[dict]] = {}
  for row in rows:
    cells.setdefault((row['lr_attention'], row['lr_other']), []).append(row)
  summary = []
  for (lr_attention, lr_other), members in cells.items():
    kept = [m for m in members if not m['diverged']]
    cell = {'lr_attention': lr_attention, 'lr_other': lr_other, 'num_runs': len(kept),
            'num_diverged': len(members) - len(kept)}
    for key in [k for k in members[0] if k == 'final_val_loss' or k.startswith('attn_entropy/')]:
      values = np.array([m[key] for m in kept])
      cell[f'{key}_mean'] = float(values.mean()) if len(values) else math.nan
      cell[f'{key}_std'] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    summary.append(cell)
  return summary


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


def _freezing(history: dict) -> np.ndarray:
  """(evaluations, R, layers): the normalized change of the probe maps since the last
  evaluation; NaN at the first."""
  maps = history['attn/maps']
  first = np.full((1, *maps.shape[1:3]), np.nan)
  return np.concatenate([first, train.freezing(maps[:-1], maps[1:])]) if len(maps) > 1 else first


def _finite_or_none(x: float) -> float | None:
  return float(x) if math.isfinite(x) else None


def _diverged(history: dict) -> np.ndarray:
  """Runs with a non-finite loss at any evaluation."""
  return ~(np.isfinite(history['eval/loss']).all(axis=0)
           & np.isfinite(history['train/loss'][1:]).all(axis=0))


def _metric_lines(history: dict, freezing: np.ndarray, runs: list[dict],
                  steps_per_epoch: int) -> list[dict]:
  """metrics.jsonl: one line per evaluation and run (freezing: what _freezing(history) gives)."""
  lines = []
  for e, step in enumerate(history['step']):
    for r, run in enumerate(runs):
      line = {'step': int(step), 'epoch': step / steps_per_epoch, **run,
              'train_loss': _finite_or_none(history['train/loss'][e, r]),
              'val_loss': _finite_or_none(history['eval/loss'][e, r]),
              'val_ppl': _finite_or_none(np.exp(np.float64(history['eval/loss'][e, r])))}
      for layer in range(history['attn/entropy'].shape[2]):
        line[f'attn_entropy/layer{layer}'] = _finite_or_none(history['attn/entropy'][e, r, layer])
        line[f'attn_freezing/layer{layer}'] = _finite_or_none(freezing[e, r, layer])
      lines.append(line)
  return lines


def _result_rows(history: dict, freezing: np.ndarray, runs: list[dict],
                 steps_per_epoch: int) -> list[dict]:
  """results.csv: one row per run, at the last evaluation."""
  diverged = _diverged(history)
  rows = []
  for r, run in enumerate(runs):
    row = {**run, 'steps': int(history['step'][-1]),
           'epochs': round(float(history['step'][-1]) / steps_per_epoch, 3),
           'final_train_loss': float(history['train/loss'][-1, r]),
           'final_val_loss': float(history['eval/loss'][-1, r]),
           'final_val_ppl': float(np.exp(np.float64(history['eval/loss'][-1, r])))}
    for layer in range(history['attn/entropy'].shape[2]):
      row[f'attn_entropy/layer{layer}'] = float(history['attn/entropy'][-1, r, layer])
      row[f'attn_freezing/layer{layer}'] = float(freezing[-1, r, layer])
    row['diverged'] = bool(diverged[r])
    rows.append(row)
  return rows


def _write_figures(c: ml_collections.ConfigDict, history: dict, freezing: np.ndarray,
                   runs: list[dict], rows: list[dict], probe_words: np.ndarray,
                   workdir: pathlib.Path) -> None:
  steps = history['step']
  names = c.figures.names
  if 'attention_maps' in names:
    if c.figures.map_steps:
      index = [int(np.flatnonzero(steps == s)[0]) for s in c.figures.map_steps]
    else:  # six evaluations, evenly spaced
      index = sorted(set(np.linspace(0, len(steps) - 1, 6).round().astype(int).tolist()))
    for r, run in enumerate(runs):
      name = f"attention_maps_seed{run['seed']}_lra{run['lr_attention']:g}_lro{run['lr_other']:g}"
      figures.attention_maps(
          history['attn/maps'][index, r, :, 0].mean(axis=2), steps[index], probe_words,
          f"$\\eta_{{attn}}$={run['lr_attention']:g}, $\\eta_{{other}}$={run['lr_other']:g}, "
          f"seed {run['seed']}: first probe sequence", workdir / 'figures' / name)
  if 'entropy_vs_lr' in names:
    figures.entropy_vs_lr(rows, train.mean_uniform_entropy(c.data.bptt),
                          c.optimizer.lr_other_relative, workdir / 'figures' / 'entropy_vs_lr')
  if 'training_curves' in names:
    figures.training_curves(steps, history['eval/loss'], history['attn/entropy'],
                            freezing, runs, train.mean_uniform_entropy(c.data.bptt),
                            workdir / 'figures' / 'training_curves')
