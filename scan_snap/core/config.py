"""What the configs of both experiments share: the checks of values, the error that names every
bad key, the seeds of a sweep and the variants of a config file."""

import math

import ml_collections
import numpy as np

from scan_snap.core import errors

FLOAT32_MAX = float(np.finfo(np.float32).max)  # Rates are float32 on device.
INT32_MAX = 2**31 - 1  # Seeds are int32 on device.


class ConfigError(errors.InputError):
  """A config value is out of range; the message names every offending key."""


def is_int(x) -> bool:
  """A Python int that is not a bool."""
  return isinstance(x, int) and not isinstance(x, bool)


def is_real(x) -> bool:
  """A finite int or float that is not a bool."""
  return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


LEARNING_RATES = f'must be one or more learning rates in [0, {FLOAT32_MAX:.4g}] (float32)'
SEEDS_FIT = f'+ sweep.num_seeds − 1 must stay ≤ {INT32_MAX} (seeds are int32)'


def learning_rates_ok(values) -> bool:
  """One or more finite rates ≥ 0 that float32 holds (see LEARNING_RATES)."""
  return len(values) > 0 and all(is_real(v) and 0 <= v <= FLOAT32_MAX for v in values)


def seeds_fit(c: ml_collections.ConfigDict) -> bool:
  """Whether the last seed of c.sweep fits int32 (true when the seed keys are themselves bad,
  which their own checks report)."""
  first, num = c.sweep.first_seed, c.sweep.num_seeds
  return not (is_int(first) and is_int(num)) or first + num - 1 <= INT32_MAX


class Problems:
  """The out-of-range keys of one config, collected so that one ConfigError names them all."""

  def __init__(self, c: ml_collections.ConfigDict):
    self.config, self.found = c, []

  def need(self, ok: bool, key: str, what: str) -> None:
    """Records config.<key> (dotted) with its value and `what` it must be, unless ok."""
    if not ok:
      self.found.append(f'config.{key} = {lookup(self.config, key)!r}: {what}')

  def raise_if_any(self) -> None:
    if self.found:
      raise ConfigError('invalid config:\n  ' + '\n  '.join(self.found))


def check_distinct(problems: Problems, key: str, cells: list, names: str,
                   made: str = '') -> None:
  """Records config.<key> when a learning-rate cell (a rate, or a pair of rates: `names`, made as
  `made` says) is given more than once, as float32 holds it (the rates on device): one cell of
  the grid, whose runs would count twice."""
  f32 = lambda cell: (tuple(float(np.float32(v)) for v in cell) if isinstance(cell, tuple)
                      else float(np.float32(cell)))
  rounded = [f32(cell) for cell in cells]
  twice = sorted({cell for cell in rounded if rounded.count(cell) > 1})
  problems.need(not twice, key, f'gives {names} = {twice} more than once'
                + (f' ({made})' if made else '') + ': each learning-rate cell must be given once')


def check_evaluated_grid(problems: Problems) -> bool:
  """Records the out-of-range keys of a grid trained by core.intervals: train.steps,
  train.eval_every (dividing the steps), train.checkpoint_every (a multiple of eval_every), and
  sweep.first_seed, num_seeds, runs_per_device. Returns whether the evaluations are well set
  (the steps a figure may name are then the multiples of eval_every)."""
  c, need = problems.config, problems.need
  t = c.train
  positive = lambda v: is_int(v) and v >= 1
  need(positive(t.steps), 'train.steps', 'must be a positive integer')
  evals_ok = positive(t.steps) and positive(t.eval_every) and t.steps % t.eval_every == 0
  need(evals_ok, 'train.eval_every', 'must be a positive integer that divides train.steps')
  need(not evals_ok or (positive(t.checkpoint_every) and t.checkpoint_every % t.eval_every == 0),
       'train.checkpoint_every', 'must be a positive multiple of train.eval_every')
  need(is_int(c.sweep.first_seed) and c.sweep.first_seed >= 0, 'sweep.first_seed',
       'must be a non-negative integer')
  need(positive(c.sweep.num_seeds), 'sweep.num_seeds', 'must be a positive integer')
  need(seeds_fit(c), 'sweep.first_seed', SEEDS_FIT)
  need(positive(c.sweep.runs_per_device), 'sweep.runs_per_device', 'must be a positive integer')
  return evals_ok


def lookup(c: ml_collections.ConfigDict, dotted: str):
  """c['a']['b'] for dotted = 'a.b'."""
  for part in dotted.split('.'):
    c = c[part]
  return c


def seeds(c: ml_collections.ConfigDict) -> list[int]:
  return list(range(c.sweep.first_seed, c.sweep.first_seed + c.sweep.num_seeds))


def apply_variant(c: ml_collections.ConfigDict, variant: str,
                  **variants) -> ml_collections.ConfigDict:
  """Applies the named variant (`--config=configs/x.py:smoke`) to c, in place; '' is none.
  Variants joined by '+' (`:sample+fig7`) are applied in turn, left to right."""
  names = variant.split('+') if variant else []
  for name in names:
    if name not in variants:
      raise ConfigError(f'unknown config variant {name!r}; expected one of {sorted(variants)}, '
                        "several joined by '+', or none (the file name alone)")
  if len(set(names)) < len(names):
    raise ConfigError(f'the config variant {variant!r} names one variant twice')
  for name in names:
    variants[name](c)
  return c
