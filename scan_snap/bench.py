"""Benchmark of the sweep engine; writes bench.json.

  python -m scan_snap.bench                       # the Syn-Medium job end to end
  python -m scan_snap.bench --mode=scaling        # time against the number of runs and T
  python -m scan_snap.bench --config.sweep.seeds_per_device=10   # any config override
  python -m scan_snap.bench --mode=wikitext --config=configs/wikitext2.py:sample \
      --config.data.dir=<wikitext-2 folder>   # the WikiText grid's step and evaluation

`sweep` mode runs the pipeline (core.pipeline) exactly as `scan_snap.main` does (into a temporary
work directory) and reports compile time, train time, run-steps per second, wall time since process
start, peak memory and the device. `scaling` mode trains the largest data spec of the config
with the config's learning-rate pairs and a growing number of seeds, then with T ∈ {128, 512,
2048}. `wikitext` mode trains the WikiText grid as the experiment does and times its training
intervals (train.eval_every steps) and evaluations one by one: compile time (the first of
each, less a later one), run-steps per second, seconds per evaluation, and the training time
they project for the config's steps.
"""

import dataclasses
import json
import pathlib
import platform
import resource
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from scan_snap.core import config_files
from scan_snap.core import pipeline
from scan_snap.core import runtime
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train

_PROCESS_START = time.time()  # Close enough to the interpreter's start: imports come first.

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config, as for scan_snap.main (default: configs/syn_medium.py).',
    lock_config=True)
_MODE = flags.DEFINE_enum('mode', 'sweep', ['sweep', 'scaling', 'wikitext'], 'What to measure.')
_OUT = flags.DEFINE_string('out', 'bench.json', 'Where to write the measurements.')
_MAX_RUNS = flags.DEFINE_integer('max_runs', 1024, 'scaling: the largest grid to train.')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', '', "jax's persistent compilation cache; '' (the default) measures "
    'cold compilation.')
_SEQ_LENS = (128, 512, 2048)


def _environment() -> dict:
  device = jax.devices()[0]
  return {'device': f'{device.platform}: {device.device_kind}', 'num_devices': jax.device_count(),
          'jax': jax.__version__, 'python': platform.python_version(),
          'processor': platform.processor() or platform.machine()}


def _peak_memory_mb() -> dict:
  """Peak resident memory of this process and, on accelerators, peak device memory."""
  out = {'peak_host_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    out['peak_device_mb'] = stats['peak_bytes_in_use'] / 2**20
  return out


def bench_sweep(plan: pipeline.Plan) -> dict:
  """The experiment end to end, as the main job runs it."""
  c = plan.config
  with tempfile.TemporaryDirectory() as workdir:
    result = pipeline.run(plan, pathlib.Path(workdir))
  run_steps = result['num_runs'] * c.train.steps
  return {'config': config_flags.get_config_filename(flags.FLAGS['config']),
          'num_runs': result['num_runs'], 'steps': c.train.steps,
          'compile_s': result['compile_s'], 'train_s': result['train_s'],
          'run_steps_per_s': run_steps / result['train_s'],
          'wall_s_since_process_start': time.time() - _PROCESS_START, **_peak_memory_mb()}


def _time_grid(run_config: train.RunConfig, num_seeds: int, pairs: list[tuple[float, float]],
               seeds_per_device: int, pairs_per_block: int) -> dict:
  result = sweep.train_grid(run_config, list(range(1, num_seeds + 1)), pairs, seeds_per_device,
                            pairs_per_block=pairs_per_block)
  num_runs = num_seeds * len(pairs)
  return {'num_runs': num_runs, 'seq_len': run_config.seq_len,
          'compile_s': result.seconds['compile'], 'train_s': result.seconds['train'],
          'run_steps_per_s': num_runs * run_config.steps / result.seconds['train']}


def bench_scaling(plan: pipeline.Plan) -> dict:
  """Cost against the number of runs (one data spec, chunks as configured) and against T."""
  c = plan.config
  run_config = config.run_config(c, max(c.data.num_last), c.data.seq_len[0])
  pairs = config.learning_rate_pairs(c)
  by_runs, num_seeds = [], 1
  while num_seeds * len(pairs) <= _MAX_RUNS.value:
    by_runs.append(_time_grid(run_config, num_seeds, pairs, c.sweep.seeds_per_device,
                              c.sweep.pairs_per_block))
    logging.info('scaling: %s', by_runs[-1])
    num_seeds *= 2
  by_seq_len = []
  for seq_len in _SEQ_LENS:
    by_seq_len.append(_time_grid(dataclasses.replace(run_config, seq_len=seq_len),
                                 c.sweep.num_seeds, pairs, c.sweep.seeds_per_device,
                                 c.sweep.pairs_per_block))
    logging.info('scaling: %s', by_seq_len[-1])
  return {'num_last': run_config.data.num_last, 'vocab_size': run_config.data.vocab_size,
          'steps': run_config.steps,
          'by_num_runs': by_runs, 'by_seq_len': by_seq_len, **_peak_memory_mb()}


def bench_wikitext(plan: pipeline.Plan, num_intervals: int = 3) -> dict:
  """The WikiText grid as the experiment trains it: the first training interval and evaluation
  (which compile), then num_intervals more of each, timed one by one; with a depth axis
  (model.depths), each depth's group in turn, under 'by_depth'."""
  # Imported here, so that the other modes do not load the WikiText stack (flax, TFDS).
  # pylint: disable=g-import-not-at-top
  from scan_snap.wikitext import config as text_config
  from scan_snap.wikitext import experiment as text_experiment
  from scan_snap.wikitext import sweep as text_sweep
  # pylint: enable=g-import-not-at-top
  c = plan.config
  vocab, tokens, steps_per_epoch = text_experiment.load(plan)

  def seconds(f, *args):
    start = time.perf_counter()
    f(*args)
    return time.perf_counter() - start

  def timed(num_layers: int, runs: list[dict]) -> dict:
    grid = text_sweep.Grid(text_config.run_config(c, len(vocab), steps_per_epoch, num_layers),
                           runs, c.sweep.runs_per_device)
    first_interval_s = seconds(grid.train_interval, tokens, 0)
    first_eval_s = seconds(grid.evaluate, tokens)
    interval_s, eval_s = [], []
    for i in range(num_intervals):
      interval_s.append(seconds(grid.train_interval, tokens, (i + 1) * c.train.eval_every))
      eval_s.append(seconds(grid.evaluate, tokens))
    per_interval, per_eval = min(interval_s), min(eval_s)
    num_evals = c.train.steps // c.train.eval_every
    return {'num_runs': len(runs), 'first_interval_s': first_interval_s,
            'first_eval_s': first_eval_s,
            'compile_s': first_interval_s - per_interval + first_eval_s - per_eval,
            'interval_s': interval_s, 'eval_s': eval_s,
            'run_steps_per_s': len(runs) * c.train.eval_every / per_interval,
            'projected_train_s': first_interval_s + first_eval_s
                                 + (num_evals - 1) * (per_interval + per_eval)}

  groups = text_config.depth_groups(c, plan.grid)
  measured = ({'by_depth': {n: timed(n, runs) for n, runs in groups}}
              if text_config.depth_axis(c) else timed(*groups[0]))
  return {'config': config_flags.get_config_filename(flags.FLAGS['config']),
          **({} if 'by_depth' in measured else {'num_runs': measured.pop('num_runs')}),
          'vocab_size': len(vocab), 'steps_per_epoch': steps_per_epoch,
          'eval_every': c.train.eval_every, **measured, **_peak_memory_mb()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  plan = pipeline.plan(_CONFIG.value)
  runtime.enable_compilation_cache(_COMPILATION_CACHE.value)
  runtime.quiet_library_logs()
  measured = {'sweep': bench_sweep, 'scaling': bench_scaling,
              'wikitext': bench_wikitext}[_MODE.value](plan)
  report = {'mode': _MODE.value, **_environment(), **measured}
  text = json.dumps(report, indent=2)
  pathlib.Path(_OUT.value).write_text(text + '\n')
  print(text)


if __name__ == '__main__':
  app.run(main, flags_parser=lambda argv: config_files.parse_command_line(
      argv, default_config='configs/syn_medium.py'))
