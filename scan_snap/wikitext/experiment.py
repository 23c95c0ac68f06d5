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
import dataclasses
import math
import pathlib

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from scan_snap.core import checkpoints
from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.wikitext import config as text_config
from scan_snap.wikitext import data
from scan_snap.wikitext import figures
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
  run_cfg = text_config.run_config(c, len(vocab), steps_per_epoch)
  runs = text_config.grid(c)
  grid = Grid(run_cfg, runs, c.sweep.runs_per_device)
  # What the checkpoints' numbers depend on: the frozen run config, the runs and the tokens.
  made_by = checkpoints.fingerprint(run=dataclasses.asdict(run_cfg), runs=runs,
                                    tokens=checkpoints.checksum('', tokens))
  manager = ocp.CheckpointManager((workdir / 'checkpoints').resolve(),
                                  options=ocp.CheckpointManagerOptions(max_to_keep=2)
                                  ) if workdir is not None else None
  restored = _restore(manager, grid, made_by) if manager else None
  if writer:  # The checkpoints found are this config's: the work directory is now its own.
    outputs.write_json(workdir / 'config.json', c.to_dict())
    outputs.write_text(workdir / 'vocab.txt', ''.join(w + '\n' for w in vocab.words))
  if restored:
    step, history = restored
    logging.info('resuming %s from step %d', workdir, step)
  else:
    step, history = 0, _evaluation(0, np.full(len(runs), np.nan), grid.evaluate(tokens))
  first_step = step

  finish_saving = manager.wait_until_finished if manager else None
  with runtime.progress_bar(total=c.train.steps, initial=step, unit='step', desc='wikitext',
                            disable=jax.process_index() != 0) as progress, \
       runtime.waiting_for(finish_saving), runtime.stop_on_interrupt():
    while step < c.train.steps:
      train_loss = grid.train_chunk(tokens, step)
      step += c.train.eval_every
      evaluation = _evaluation(step, train_loss, grid.evaluate(tokens))
      history = {key: np.concatenate([history[key], v]) for key, v in evaluation.items()}
      if writer:
        metrics_log.write(_metric_lines(history, _freezing(history), runs, steps_per_epoch))
      # A Ctrl-C stops here, after a checkpoint of this step: the same call resumes from it.
      stopping = runtime.stop_requested()
      if manager and (step % c.train.checkpoint_every == 0 or step == c.train.steps or stopping):
        state = grid.state_arrays()
        manager.save(  # written in the background
            step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                          history=ocp.args.StandardSave(history)),
            custom_metadata=checkpoints.record(made_by, {'state': state, 'history': history}))
      progress.update(c.train.eval_every)
      progress.set_postfix(val_loss=np.nanmin(history['eval/loss'][-1]))
      runtime.stop_point()

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
  return {'results': rows, 'summary': summarize(rows), 'steps_trained': step - first_step}


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


class Grid:
  """The grid's runs, trained in groups of runs_per_device runs on each device, one compiled
  call per group: every run is computed by the same per-device program, so its numbers do not
  depend on the other runs or on the number of devices. The grid is padded to whole groups with
  copies of its last run, which are trained and left out of every result.

  In a multi-process job (jax.distributed), the groups are split into equal contiguous shares,
  one per process (padded with more copies of the last run to a multiple of the process count),
  and each process trains its share on its own devices; the results (losses, evaluations, the
  state for checkpoints) are gathered so that every process holds those of the whole grid, as
  one process training everything would. A run's numbers are bit for bit those of a one-process
  run when its group is trained on as many devices of the same kind (e.g. one each); otherwise
  they are equal up to float rounding, as between device counts. Checkpoints hold the runs
  without padding, so a job resumes from those of any number of processes.
  """

  def __init__(self, run_cfg: train.TextRunConfig, runs: list[dict], runs_per_device: int):
    num_processes, process = jax.process_count(), jax.process_index()
    num_groups = -(-len(runs) // runs_per_device)
    num_groups += -num_groups % num_processes  # The same number of groups on every process.
    padded = runs + runs[-1:] * (num_groups * runs_per_device - len(runs))
    share = num_groups // num_processes * runs_per_device  # runs per process
    mine = padded[process * share:(process + 1) * share]
    devices = jax.local_devices()
    num_devices = math.gcd(len(mine) // runs_per_device, len(devices))
    logging.info('training %d runs (+%d padding) in groups of %d per device on %d of %d '
                 'local devices%s', len(runs), len(padded) - len(runs), runs_per_device,
                 num_devices, len(devices),
                 f'; process {process} of {num_processes} trains runs {process * share}–'
                 f'{(process + 1) * share - 1} of the padded grid' if num_processes > 1 else '')
    mesh = jax.sharding.Mesh(np.asarray(devices[:num_devices]), ('runs',))
    self.num_runs, self.num_devices = len(runs), num_devices
    size = runs_per_device * num_devices
    self._init, self._train, self._evaluate = train.grid_functions(run_cfg, mesh)
    self._args = [tuple(jnp.asarray([r[key] for r in mine[i:i + size]])
                        for key in ('seed', 'lr_attention', 'lr_other'))
                  for i in range(0, len(mine), size)]
    self._states = [self._init(seeds) for seeds, _, _ in self._args]

  def train_chunk(self, tokens: train.TextData, first_step: int) -> np.ndarray:
    """Trains every group for one chunk; returns each run's mean training loss."""
    losses = []
    for g, args in enumerate(self._args):
      self._states[g], metrics = self._train(self._states[g], tokens, *args, first_step)
      losses.append(np.asarray(metrics['train/loss']))
    return _gather(np.concatenate(losses))[:self.num_runs]

  def evaluate(self, tokens: train.TextData) -> dict:
    """train.evaluate of every run, as numpy arrays with a leading axis of runs."""
    parts = [self._evaluate(state.params, tokens) for state in self._states]
    return {key: value[:self.num_runs] for key, value in _gather(
        {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0]}).items()}

  def state_arrays(self) -> train.TrainState:
    """Every run's parameters and optimizer state, as numpy arrays with a leading axis of runs
    (the padding left out: the same arrays whatever the number of processes)."""
    local = jax.tree_util.tree_map(lambda *groups: np.concatenate([np.asarray(x) for x in groups]),
                                   *self._states)
    return jax.tree_util.tree_map(lambda x: x[:self.num_runs], _gather(local))

  def load_state(self, arrays: train.TrainState) -> None:
    """Replaces the state with `arrays` (as state_arrays returns it); the padding copies of the
    last run take its state."""
    share = sum(len(args[0]) for args in self._args)
    start = jax.process_index() * share
    rows = np.minimum(np.arange(start, start + share), self.num_runs - 1)
    for g, state in enumerate(self._states):
      size = len(self._args[g][0])
      self._states[g] = jax.tree_util.tree_map(
          lambda old, new: jax.device_put(np.asarray(new)[rows[:size]], old.sharding),
          state, arrays)
      rows = rows[size:]


def _restore(manager: ocp.CheckpointManager, grid: Grid, made_by: str
             ) -> tuple[int, dict] | None:
  """Loads the state of the newest intact checkpoint into grid, and returns its step and the
  evaluations so far (None when there is no such checkpoint). A damaged checkpoint is reported
  and deleted, and the one before it tried; one made by another fingerprint than `made_by`
  raises outputs.WorkdirError."""
  target = grid.state_arrays()
  steps = sorted(manager.all_steps(), reverse=True)
  for i, step in enumerate(steps):
    def read(step=step):
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target), history=ocp.args.StandardRestore()))
      return ({'state': restored.state, 'history': restored.history},
              manager.metadata(step).custom_metadata)

    directory = pathlib.Path(manager.directory)
    otherwise = f'resuming from step {steps[i + 1]}' if i + 1 < len(steps) else 'starting anew'
    tree = checkpoints.verified(directory.parent, directory / str(step), read, made_by, otherwise)
    if tree is not None:
      grid.load_state(tree['state'])
      return step, {key: np.asarray(v) for key, v in tree['history'].items()}
    manager.delete(step)
  return None


def _gather(tree):
  """The arrays of every process concatenated along their first axis, in process order (the
  arrays themselves in a one-process job)."""
  if jax.process_count() == 1:
    return tree
  return multihost_utils.process_allgather(tree, tiled=True)


def _evaluation(step: int, train_loss: np.ndarray, evaluated: dict) -> dict:
  """One evaluation of every run, with a leading axis of length 1 to concatenate along."""
  return {'step': np.asarray([step]), 'train/loss': train_loss[None],
          'eval/loss': evaluated['eval/loss'][None],
          'attn/entropy': evaluated['attn/entropy'][None],  # (1, R, layers)
          'attn/maps': evaluated['attn/maps'][None]}  # (1, R, layers, P, H, L, L)


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
