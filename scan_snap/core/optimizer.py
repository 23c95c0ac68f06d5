"""The optimizer of one parameter group, declared once for both experiments: its config keys with
their defaults and checks, the frozen OptimizerConfig that jit sees, and the optax
transformation. Each experiment partitions its parameters into groups with their own learning
rates (Y and Z; the transformer's groups by name, optimizer.lr_groups) and gives each group this
optimizer at its rate; the learning-rate axes are the experiment's own keys of the same config
section.

A new optimizer is a name in OPTIMIZERS, a branch of one_group, and any hyperparameter it adds:
a key of `config` (with the default that leaves the others as they are), its check in `check`,
and a field of OptimizerConfig with that default.
"""

import dataclasses
from typing import Callable

import jax
import ml_collections
import optax

from scan_snap.core import config as core_config

OPTIMIZERS = ('sgd', 'adam')
LearningRate = float | jax.Array | Callable[[jax.Array], jax.Array]  # a traced rate or a schedule


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """The optimizer's hyperparameters (those of `config`, bar the learning rates)."""

  name: str  # one of OPTIMIZERS
  momentum: float  # SGD heavy-ball momentum (0: plain SGD)
  b1: float  # Adam
  b2: float  # Adam
  eps: float  # Adam
  weight_decay: float  # L2 term wd·θ added to the gradient (PyTorch's `weight_decay`)


def config(**values) -> ml_collections.ConfigDict:
  """The optimizer keys both experiments share, at their defaults (plain SGD), with `values`
  set: an experiment's config section `optimizer` starts from it."""
  o = ml_collections.ConfigDict()
  o.name = 'sgd'  # one of OPTIMIZERS
  o.momentum = 0.0  # 'sgd': heavy-ball momentum
  o.b1 = 0.9  # 'adam'
  o.b2 = 0.999  # 'adam'
  o.eps = 1e-8  # 'adam'
  o.weight_decay = 0.0  # wd·θ added to the gradient of each trained parameter
  unknown = sorted(set(values) - set(o))
  if unknown:
    raise TypeError(f'optimizer.config: no key {unknown}; the keys are {sorted(o)}')
  o.update(values)
  return o


def check(problems: core_config.Problems, section: str = 'optimizer') -> None:
  """Records in `problems` each key of `config` in the config's `section` that is out of
  range."""
  o, need = core_config.lookup(problems.config, section), problems.need
  is_real = core_config.is_real
  need(o.name in OPTIMIZERS, f'{section}.name', f'must be one of {OPTIMIZERS}')
  for key in ('momentum', 'b1', 'b2'):
    need(is_real(o[key]) and 0 <= o[key] < 1, f'{section}.{key}', 'must lie in [0, 1)')
  need(is_real(o.eps) and o.eps > 0, f'{section}.eps', 'must be a positive number')
  need(is_real(o.weight_decay) and o.weight_decay >= 0, f'{section}.weight_decay',
       'must be a finite number ≥ 0')


def from_config(o: ml_collections.ConfigDict) -> OptimizerConfig:
  """The OptimizerConfig of a config's `optimizer` section (or of `config()`)."""
  return OptimizerConfig(**{f.name: o[f.name] for f in dataclasses.fields(OptimizerConfig)})


def one_group(cfg: OptimizerConfig, learning_rate: LearningRate) -> optax.GradientTransformation:
  """SGD (with heavy-ball momentum) or Adam at `learning_rate`, after adding weight_decay·θ to
  the gradient."""
  if cfg.name == 'sgd':
    step = optax.sgd(learning_rate, momentum=cfg.momentum)
  elif cfg.name == 'adam':
    step = optax.adam(learning_rate, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
  else:
    raise ValueError(f'unknown optimizer {cfg.name!r}; expected one of {OPTIMIZERS}')
  return optax.chain(optax.add_decayed_weights(cfg.weight_decay), step)
