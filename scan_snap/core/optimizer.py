"""The optimizer of one parameter group, shared by both experiments: each experiment partitions
its parameters into groups with their own learning rates (Y and Z; the attention's W_Q, W_K and
the rest) and gives each group this optimizer at its rate."""

import dataclasses
from typing import Callable

import jax
import ml_collections
import optax

OPTIMIZERS = ('sgd', 'adam')
LearningRate = float | jax.Array | Callable[[jax.Array], jax.Array]  # a traced rate or a schedule


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  name: str  # one of OPTIMIZERS
  momentum: float  # SGD heavy-ball momentum (0: plain SGD)
  b1: float  # Adam
  b2: float  # Adam
  eps: float  # Adam
  weight_decay: float  # L2 term wd·θ added to the gradient (PyTorch's `weight_decay`)


def from_config(o: ml_collections.ConfigDict) -> OptimizerConfig:
  """The OptimizerConfig of a config's `optimizer` section."""
  return OptimizerConfig(name=o.name, momentum=o.momentum, b1=o.b1, b2=o.b2, eps=o.eps,
                         weight_decay=o.weight_decay)


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
