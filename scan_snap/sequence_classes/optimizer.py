"""Optimizers with their own learning rates for the decoder Y (η_Y) and the attention Z (η_Z)."""

import jax
import optax

from scan_snap.core import optimizer


def make_optimizer(cfg: optimizer.OptimizerConfig, lr_y: jax.Array,
                   lr_z: jax.Array) -> optax.GradientTransformation:
  """Y steps with η_Y and Z with η_Z; the rates may be traced values (swept under vmap)."""
  return optax.partition(
      {'Y': optimizer.one_group(cfg, lr_y), 'Z': optimizer.one_group(cfg, lr_z)},
      {'Y': 'Y', 'Z': 'Z'})
