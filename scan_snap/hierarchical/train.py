"""Training and evaluation of the hierarchical-class transformer, as pure functions of explicit
state, in the shape of core.intervals.

`make_functions(run_config)` returns the pure functions of one run; `tree` is the run's latent
tree (data.draw_tree), one array per level:
  init(seed) -> state                                       parameters, optimizer state
  train_interval(state, seed, lr, *tree, first_step) -> (state, metrics)
      run_config.eval_every SGD steps as one lax.scan; step s trains on a fresh batch drawn
      from fold_in(key(seed, 1), s), cross-entropy of the class at the last position
  evaluate(params, seed, lr, *tree) -> metrics
      on the run's fixed evaluation batch (key(seed, 2)): eval/loss, eval/accuracy,
      attn/entropy [blocks] and attn/by_class [blocks, classes, L] (the last position's
      attention, metrics), and score/centred, score/uncentred [levels, blocks] (metrics.scores)
The seed, the rate and the tree are arguments, so `jax.vmap` trains a grid of runs in one
compiled program; `grid_functions` returns them jitted over a group of runs split over the
devices (the data argument of core.intervals is unused: each run draws its own batches).
"""

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from scan_snap.core import grid
from scan_snap.core import optimizer as core_optimizer
from scan_snap.hierarchical import data
from scan_snap.hierarchical import metrics
from scan_snap.hierarchical import model


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything static about one run: jit sees it as a hashable constant."""

  spec: data.LatentTree
  model: model.TransformerConfig | model.YZConfig
  optimizer: core_optimizer.OptimizerConfig
  batch_size: int
  eval_batch_size: int
  steps: int
  eval_every: int


class TrainState(NamedTuple):
  params: dict
  opt_state: optax.OptState


def loss_and_accuracy(logits_BxC: jax.Array, label_B: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean cross-entropy of the class at the last position, and the fraction predicted."""
  loss = optax.softmax_cross_entropy_with_integer_labels(logits_BxC, label_B).mean()
  return loss, (logits_BxC.argmax(-1) == label_B).mean()


def make_functions(run_config: RunConfig) -> tuple[Callable, Callable, Callable]:
  """init, train_interval and evaluate of one run (see the module docstring)."""
  rc = run_config
  optimizer = lambda lr: core_optimizer.one_group(rc.optimizer, lr)
  key = lambda seed, stream: jax.random.fold_in(jax.random.key(seed), stream)

  def init(seed: jax.Array) -> TrainState:
    params = model.init(rc.model, key(seed, 0))
    return TrainState(params, optimizer(1.0).init(params))

  def train_interval(state: TrainState, seed: jax.Array, lr: jax.Array, *tree_and_step):
    *tree, first_step = tree_and_step
    opt = optimizer(lr)

    def step(state: TrainState, s: jax.Array):
      batch = data.sample(rc.spec, tuple(tree), jax.random.fold_in(key(seed, 1), s),
                          rc.batch_size)
      loss, grads = jax.value_and_grad(
          lambda p: loss_and_accuracy(model.apply(rc.model, p, batch.tokens)[0],
                                      batch.label)[0])(state.params)
      updates, opt_state = opt.update(grads, state.opt_state, state.params)
      return TrainState(optax.apply_updates(state.params, updates), opt_state), loss

    state, losses = jax.lax.scan(step, state, first_step + jnp.arange(rc.eval_every))
    return state, {'train/loss': losses.mean()}

  def evaluate(params: dict, seed: jax.Array, lr: jax.Array, *tree: jax.Array) -> dict:
    del lr
    batch = data.sample(rc.spec, tuple(tree), key(seed, 2), rc.eval_batch_size)
    logits, hiddens, attentions = model.apply(rc.model, params, batch.tokens)  # one pass
    loss, accuracy = loss_and_accuracy(logits, batch.label)
    return {'eval/loss': loss, 'eval/accuracy': accuracy,
            'attn/entropy': jnp.stack([metrics.last_entropy(a) for a in attentions]),
            'attn/by_class': jnp.stack([metrics.last_attention_by_class(
                a, batch.label, rc.spec.num_classes) for a in attentions]),
            'score/centred': metrics.scores(batch.active, hiddens, True),
            'score/uncentred': metrics.scores(batch.active, hiddens, False)}

  return init, train_interval, evaluate


def grid_functions(run_config: RunConfig,
                   device_mesh: jax.sharding.Mesh) -> tuple[Callable, Callable, Callable]:
  """init, train_interval and evaluate over a leading axis of runs (seed, η and the tree's
  levels per run), jitted and split over the mesh's devices (core.grid.over_runs)."""
  init, train_interval, evaluate = make_functions(run_config)
  levels = run_config.spec.num_levels
  over_runs = lambda f, in_axes, **jit_kwargs: grid.over_runs(
      jax.vmap(f, in_axes=in_axes), device_mesh, in_axes, **jit_kwargs)
  per_run = (0,) * (2 + levels)  # seed, η, the tree
  return (over_runs(lambda seed, lr, *tree: init(seed), per_run),
          over_runs(lambda state, _, *args: train_interval(state, *args),
                    (0, None, *per_run, None), donate_argnums=0),
          over_runs(lambda params, _, *args: evaluate(params, *args), (0, None, *per_run)))
