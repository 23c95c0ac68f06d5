"""Benchmark of the sweep engine; writes bench.json.

  python -m scan_snap.bench                       # the Syn-Medium job end to end
  python -m scan_snap.bench --mode=scaling        # time against the number of runs and T
  python -m scan_snap.bench --config.sweep.seeds_per_device=10   # any config override

`sweep` mode runs `experiment.run` exactly as `scan_snap.main` does (into a temporary work
directory) and reports compile time, train time, run-steps per second, wall time since process
start, peak memory and the device. `scaling` mode trains the largest data spec of the config
with the config's learning-rate pairs and a growing number of seeds, then with T ∈ {128, 512,
2048}.
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

from scan_snap import config
from scan_snap import experiment
from scan_snap import runtime
from scan_snap import sweep

_PROCESS_START = time.time()  # Close enough to the interpreter's start: imports come first.

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/syn_medium.py',
                                          'Experiment config file.', lock_config=True)
_MODE = flags.DEFINE_enum('mode', 'sweep', ['sweep', 'scaling'], 'What to measure.')
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


def bench_sweep(c) -> dict:
  """The experiment end to end, as the main job runs it."""
  with tempfile.TemporaryDirectory() as workdir:
    result = experiment.run(c, pathlib.Path(workdir))
  run_steps = result['num_runs'] * c.train.steps
  return {'config': config_flags.get_config_filename(flags.FLAGS['config']),
          'num_runs': result['num_runs'], 'steps': c.train.steps,
          'compile_s': result['compile_s'], 'train_s': result['train_s'],
          'run_steps_per_s': run_steps / result['train_s'],
          'wall_s_since_process_start': time.time() - _PROCESS_START, **_peak_memory_mb()}


def _time_grid(run: config.RunConfig, num_seeds: int, pairs: list[tuple[float, float]],
               seeds_per_device: int) -> dict:
  result = sweep.train_grid(run, list(range(1, num_seeds + 1)), pairs, seeds_per_device)
  num_runs = num_seeds * len(pairs)
  return {'num_runs': num_runs, 'seq_len': run.seq_len, 'compile_s': result.seconds['compile'],
          'train_s': result.seconds['train'],
          'run_steps_per_s': num_runs * run.steps / result.seconds['train']}


def bench_scaling(c) -> dict:
  """Cost against the number of runs (one data spec, chunks as configured) and against T."""
  run = config.run_config(c, max(c.data.num_last), c.data.seq_len[0])
  pairs = config.learning_rate_pairs(c)
  by_runs, num_seeds = [], 1
  while num_seeds * len(pairs) <= _MAX_RUNS.value:
    by_runs.append(_time_grid(run, num_seeds, pairs, c.sweep.seeds_per_device))
    logging.info('scaling: %s', by_runs[-1])
    num_seeds *= 2
  by_seq_len = []
  for seq_len in _SEQ_LENS:
    by_seq_len.append(_time_grid(dataclasses.replace(run, seq_len=seq_len), c.sweep.num_seeds,
                                 pairs, c.sweep.seeds_per_device))
    logging.info('scaling: %s', by_seq_len[-1])
  return {'num_last': run.data.num_last, 'vocab_size': run.data.vocab_size, 'steps': run.steps,
          'by_num_runs': by_runs, 'by_seq_len': by_seq_len, **_peak_memory_mb()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  c = _CONFIG.value
  config.validate(c)
  runtime.enable_compilation_cache(_COMPILATION_CACHE.value)
  measured = bench_sweep(c) if _MODE.value == 'sweep' else bench_scaling(c)
  report = {'mode': _MODE.value, **_environment(), **measured}
  text = json.dumps(report, indent=2)
  pathlib.Path(_OUT.value).write_text(text + '\n')
  print(text)


if __name__ == '__main__':
  app.run(main)
