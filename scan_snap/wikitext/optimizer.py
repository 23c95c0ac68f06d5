"""The optimizer of the WikiText models: global-norm clipping, then every parameter at the
learning rate η of its run, or at factor × η where a pattern of `lr_groups` names it, each rate
× lr_decay per epoch. A group's factor is a number, or a tuple: a grid axis, whose value is the
run's own (`factors`)."""

import itertools
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


def is_axis(factor) -> bool:
  """Whether a group's factor is a grid axis (a tuple of factors)."""
  return isinstance(factor, tuple)


def factor_key(pattern: str) -> str:
  """The key of an axis group's factor in a run's dict: 'lr_factor[Y_]'."""
  return f'lr_factor[{pattern}]'


def axis_groups(lr_groups) -> list[tuple[str, tuple[float, ...]]]:
  """(pattern, factors) of the groups whose factor is a grid axis, in order."""
  return [(pattern, factor) for pattern, factor in lr_groups if is_axis(factor)]


def axis_keys(lr_groups) -> list[str]:
  """The run keys of the groups whose factor is a grid axis, in order."""
  return [factor_key(pattern) for pattern, _ in axis_groups(lr_groups)]


def make_optimizer(cfg: optimizer.OptimizerConfig, lr: jax.Array,
                   lr_groups: tuple[tuple[str, float | tuple[float, ...]], ...], *,
                   clip_norm: float, lr_decay: float, steps_per_epoch: int,
                   factors: jax.Array | tuple = ()) -> optax.GradientTransformation:
  """Clipping to global norm clip_norm, then each group of param_labels at its rate (η = lr,
  or factor × η; core.optimizer.one_group each), × lr_decay after each epoch of steps_per_epoch
  steps. The groups whose factor is an axis take theirs from `factors`, in order; lr and factors
  may be traced values."""

  def group(rate):
    return optimizer.one_group(cfg, lambda count: rate * lr_decay ** (count // steps_per_epoch))

  axis = itertools.count()  # the index into factors of the next axis group
  groups = {BASE: group(lr), **{i: group((factors[next(axis)] if is_axis(factor) else factor) * lr)
                                for i, (_, factor) in enumerate(lr_groups)}}
  return optax.chain(optax.clip_by_global_norm(clip_norm),
                     optax.partition(groups, lambda params: param_labels(params, lr_groups)))
