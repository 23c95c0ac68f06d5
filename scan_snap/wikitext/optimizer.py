"""The optimizer of the WikiText transformer: global-norm clipping, then W_Q and W_K at the
attention rate and every other parameter at its own rate, each × lr_decay per epoch."""

import jax
import optax
from flax import nnx

from scan_snap.core import optimizer
from scan_snap.wikitext import model


def param_labels(params: nnx.State) -> nnx.State:
  """'attention' on W_Q and W_K of every layer, 'other' on every other parameter."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: 'attention' if model.is_attention_param(path) else 'other', params)


def make_optimizer(cfg: optimizer.OptimizerConfig, lr_attention: jax.Array, lr_other: jax.Array,
                   *, clip_norm: float, lr_decay: float,
                   steps_per_epoch: int) -> optax.GradientTransformation:
  """Clipping to global norm clip_norm, then W_Q, W_K at lr_attention and the rest at lr_other
  (core.optimizer.one_group each), the rates × lr_decay after each epoch of steps_per_epoch
  steps; the rates may be traced values."""

  def group(lr):
    return optimizer.one_group(cfg, lambda count: lr * lr_decay ** (count // steps_per_epoch))

  return optax.chain(
      optax.clip_by_global_norm(clip_norm),
      optax.partition({'attention': group(lr_attention), 'other': group(lr_other)},
                      param_labels))
