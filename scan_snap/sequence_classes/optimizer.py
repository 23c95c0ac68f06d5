"""Optimizers with their own learning rates for the decoder Y (η_Y) and the attention Z (η_Z)."""

import dataclasses

import jax
import optax

OPTIMIZERS = ('sgd', 'adam')


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  name: str  # one of OPTIMIZERS
  momentum: float  # SGD heavy-ball momentum (0: plain SGD)
  b1: float  # Adam
  b2: float  # Adam
  eps: float  # Adam
  weight_decay: float  # L2 term wd·θ added to the gradient (PyTorch's `weight_decay`)


def _for_one_group(cfg: OptimizerConfig, learning_rate: jax.Array) -> optax.GradientTransformation:
  if cfg.name == 'sgd':
    step = optax.sgd(learning_rate, momentum=cfg.momentum)
  elif cfg.name == 'adam':
    step = optax.adam(learning_rate, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
  else:
    raise ValueError(f'unknown optimizer {cfg.name!r}; expected one of {OPTIMIZERS}')
  return optax.chain(optax.add_decayed_weights(cfg.weight_decay), step)


def make_optimizer(cfg: OptimizerConfig, lr_y: jax.Array,
                   lr_z: jax.Array) -> optax.GradientTransformation:
  """Y steps with η_Y and Z with η_Z; the rates may be traced values (swept under vmap)."""
  return optax.partition(
      {'Y': _for_one_group(cfg, lr_y), 'Z': _for_one_group(cfg, lr_z)},
      {'Y': 'Y', 'Z': 'Z'})
