"""The optimizer of the WikiText transformer: global-norm clipping, then every parameter at the
learning rate η of its run, or at factor × η where a pattern of `lr_groups` names it, each rate
× lr_decay per epoch."""

import re

import jax
import optax
from flax import nnx

from scan_snap.core import optimizer
from scan_snap.wikitext import model

BASE = -1  # the label of the parameters that no pattern names: they train at η itself


def param_labels(params: nnx.State, lr_groups: tuple[tuple[str, float], ...]) -> nnx.State:
  """Each parameter's group: the index into lr_groups of the first pattern that matches its name
  (model.param_name, by re.search), or BASE."""
  def label(path, _):
    name = model.param_name(path)
    return next((i for i, (pattern, _) in enumerate(lr_groups) if re.search(pattern, name)), BASE)

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(cfg: optimizer.OptimizerConfig, lr: jax.Array,
                   lr_groups: tuple[tuple[str, float], ...], *, clip_norm: float,
                   lr_decay: float, steps_per_epoch: int) -> optax.GradientTransformation:
  """Clipping to global norm clip_norm, then each group of param_labels at its rate (η = lr,
  or factor × η; core.optimizer.one_group each), × lr_decay after each epoch of steps_per_epoch
  steps; lr may be a traced value."""

  def group(rate):
    return optimizer.one_group(cfg, lambda count: rate * lr_decay ** (count // steps_per_epoch))

  groups = {BASE: group(lr), **{i: group(factor * lr) for i, (_, factor) in enumerate(lr_groups)}}
  return optax.chain(optax.clip_by_global_norm(clip_norm),
                     optax.partition(groups, lambda params: param_labels(params, lr_groups)))
