"""The optimizer of the Y/Z model: each parameter steps at the rate of its learning-rate group
(model.LR_GROUPS: Y at η_Y, Z and the token prior b at η_Z)."""

import jax
import optax

from scan_snap.core import optimizer
from scan_snap.sequence_classes import model


def make_optimizer(cfg: optimizer.OptimizerConfig,
                   **rates: jax.Array) -> optax.GradientTransformation:
  """core.optimizer.one_group per learning-rate group at its rate (rates: group → rate, e.g.
  lr_y=η_Y, lr_z=η_Z), each parameter labelled by model.LR_GROUPS; the rates may be traced
  values (swept under vmap)."""
  return optax.partition({group: optimizer.one_group(cfg, rate) for group, rate in rates.items()},
                         lambda params: {name: model.LR_GROUPS[name] for name in params})
