"""Training and evaluation of the WikiText transformer, as pure functions of explicit state.

`make_functions(run_config)` does the set-up in Python and returns pure functions of a run:
  init(seed) -> state                                 parameters and optimizer state
  train_interval(state, tokens, seed, lr, factors, first_step) -> (state, metrics)
      `run_config.eval_every` SGD/Adam steps as one lax.scan: step s reads training window
      s mod steps_per_epoch, draws dropout from fold_in(key(seed), s), and uses each group's
      rate (η or factor × η, run_config.lr_groups; the factors of axis groups are the run's
      `factors`) × lr_decay^(epoch of s)
  evaluate(params, tokens) -> metrics                 deterministic pass over the evaluation
      windows: eval/loss, attn/entropy per layer, attn/token_mass per layer (token_mass), and
      attn/maps of the probe sequences
The token streams are arguments (not constants folded into the compiled program), and so are
the rates, so `jax.vmap` of these functions trains a grid of (seed, η, factors) in one
compiled program; `grid_functions` returns them jitted over a group of runs split over the
devices, in the shape of core.intervals (each takes the run's seed, η and factors).
"""

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from scan_snap.core import grid
from scan_snap.core import optimizer as core_optimizer
from scan_snap.wikitext import model
from scan_snap.wikitext import optimizer


@dataclasses.dataclass(frozen=True)
class TextRunConfig:
  """Everything static about one WikiText run: jit sees it as a hashable constant."""

  model: model.TransformerConfig | model.YZConfig
  optimizer: core_optimizer.OptimizerConfig
  clip_norm: float  # gradients are rescaled to global norm ≤ clip_norm
  lr_decay: float  # learning rates × lr_decay after each epoch
  steps_per_epoch: int  # training windows per pass over the training split
  steps: int
  eval_every: int
  # (pattern, factor): the rate factor × η; a tuple of factors is a grid axis (optimizer.is_axis)
  lr_groups: tuple[tuple[str, float | tuple[float, ...]], ...] = ()
  query_tokens: int = 50  # Q: attn/token_mass reads the queries of ids 0 … Q − 1
  key_tokens: int = 200  # K: and groups the keys of ids 0 … K − 1, one group each, the rest one


class TextData(NamedTuple):
  """Token ids on device: training streams, evaluation streams and probe sequences."""

  train_BxN: jax.Array  # batch_size parallel streams of the training split
  eval_ExN: jax.Array  # eval_batch_size parallel streams of the evaluation split
  probe_PxL: jax.Array  # fixed evaluation sequences whose attention maps are recorded


class TrainState(NamedTuple):
  params: nnx.State
  opt_state: optax.OptState


def window(streams_BxN: jax.Array, index: jax.Array, bptt: int) -> tuple[jax.Array, jax.Array]:
  """Inputs x[:, i·bptt : (i+1)·bptt] and targets shifted by one token."""
  b = streams_BxN.shape[0]
  inputs_BxL = jax.lax.dynamic_slice(streams_BxN, (0, index * bptt), (b, bptt))
  targets_BxL = jax.lax.dynamic_slice(streams_BxN, (0, index * bptt + 1), (b, bptt))
  return inputs_BxL, targets_BxL


def cross_entropy(logits_BxLxV: jax.Array, targets_BxL: jax.Array) -> jax.Array:
  """Mean −ln softmax(logits)[target] over the tokens."""
  return optax.softmax_cross_entropy_with_integer_labels(logits_BxLxV, targets_BxL).mean()


def token_mass(attn_BxLxL: jax.Array, ids_BxL: jax.Array, num_queries: int,
               num_keys: int) -> jax.Array:
  """[Q, K + 2]: entry (a, b) sums over the windows' positions whose query token is id a < Q
  the attention they give to the other positions holding token id b (b < K); column K, to the
  other positions holding any other token; column K + 1, to their own position. Row a sums to
  the number of times id a is a query; columns 0 … K over their sum are the attention of token a
  over the key tokens of its context, grouped by identity."""
  queries_BxLxQ = jax.nn.one_hot(jnp.where(ids_BxL < num_queries, ids_BxL, -1), num_queries)
  keys_BxLxK1 = jax.nn.one_hot(jnp.minimum(ids_BxL, num_keys), num_keys + 1)
  own_BxL = jnp.diagonal(attn_BxLxL, axis1=-2, axis2=-1)
  others_BxLxL = attn_BxLxL * (1 - jnp.eye(attn_BxLxL.shape[-1], dtype=attn_BxLxL.dtype))[None]
  by_key_BxLxK2 = jnp.concatenate([jnp.einsum('bqk,bkj->bqj', others_BxLxL, keys_BxLxK1),
                                   own_BxL[..., None]], axis=-1)
  return jnp.einsum('bqa,bqj->aj', queries_BxLxQ, by_key_BxLxK2)


def make_functions(run_config: TextRunConfig) -> tuple[Callable, Callable, Callable]:
  """init, train_interval and evaluate of one run (see the module docstring)."""
  bptt = run_config.model.max_len
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: model.build(run_config.model, nnx.Rngs(0))))
  apply = lambda params, tokens, key=None: nnx.merge(graphdef, params)(tokens, key)
  make_optimizer = lambda lr, factors: optimizer.make_optimizer(
      run_config.optimizer, lr, run_config.lr_groups, clip_norm=run_config.clip_norm,
      lr_decay=run_config.lr_decay, steps_per_epoch=run_config.steps_per_epoch, factors=factors)
  num_axes = len(optimizer.axis_groups(run_config.lr_groups))

  def init(seed: jax.Array) -> TrainState:
    key = jax.random.fold_in(jax.random.key(seed), 0)
    _, params = nnx.split(model.build(run_config.model, nnx.Rngs(key)))
    return TrainState(params, make_optimizer(1.0, jnp.ones(num_axes)).init(params))

  def loss_fn(params, inputs_BxL, targets_BxL, key):
    logits_BxLxV, _ = apply(params, inputs_BxL, key)
    return cross_entropy(logits_BxLxV, targets_BxL)

  def train_interval(state: TrainState, tokens: TextData, seed: jax.Array, lr: jax.Array,
                     factors: jax.Array, first_step: jax.Array) -> tuple[TrainState, dict]:
    opt = make_optimizer(lr, factors)
    dropout_key = jax.random.fold_in(jax.random.key(seed), 1)

    def step(state: TrainState, s: jax.Array):
      inputs_BxL, targets_BxL = window(tokens.train_BxN, s % run_config.steps_per_epoch, bptt)
      loss, grads = jax.value_and_grad(loss_fn)(state.params, inputs_BxL, targets_BxL,
                                                jax.random.fold_in(dropout_key, s))
      updates, opt_state = opt.update(grads, state.opt_state, state.params)
      return TrainState(optax.apply_updates(state.params, updates), opt_state), loss

    state, losses = jax.lax.scan(step, state, first_step + jnp.arange(run_config.eval_every))
    return state, {'train/loss': losses.mean()}

  def evaluate(params: nnx.State, tokens: TextData) -> dict:
    num_eval_windows = (tokens.eval_ExN.shape[1] - 1) // bptt

    def one_window(index):
      inputs_ExL, targets_ExL = window(tokens.eval_ExN, index, bptt)
      logits_ExLxV, attns = apply(params, inputs_ExL)
      entropy_layers = jnp.stack([model.attention_entropy(a).mean() for a in attns])
      mass_NxQxK2 = jnp.stack([token_mass(a.mean(axis=1), inputs_ExL, run_config.query_tokens,
                                          run_config.key_tokens) for a in attns])
      return cross_entropy(logits_ExLxV, targets_ExL), entropy_layers, mass_NxQxK2

    # Per window, the masses are [layers, Q, K + 2] (40 kB per layer at Q = 50, K = 200): less
    # than one window's logits, so they are stacked and summed after the map.
    losses_W, entropies_WxN, mass_WxNxQxK2 = jax.lax.map(one_window, jnp.arange(num_eval_windows))
    _, probe_attns = apply(params, tokens.probe_PxL)
    return {'eval/loss': losses_W.mean(),
            'attn/entropy': entropies_WxN.mean(axis=0),  # (layers,)
            'attn/token_mass': mass_WxNxQxK2.sum(axis=0),  # (layers, Q, K + 2)
            'attn/maps': jnp.stack(probe_attns)}  # (layers, P, H, L, L)

  return init, train_interval, evaluate


def grid_functions(run_config: TextRunConfig,
                   device_mesh: jax.sharding.Mesh) -> tuple[Callable, Callable, Callable]:
  """init, train_interval and evaluate over a leading axis of runs, jitted: the runs are split
  evenly over the mesh's devices and vmapped on each (core.grid.over_runs); the tokens and the
  first step are shared. core.intervals builds them for meshes of one device: called always
  with the same number of runs, they compute a run's numbers with the same program whatever the
  other runs and the device (a mesh of several devices would round differently)."""
  init, train_interval, evaluate = make_functions(run_config)
  over_runs = lambda f, in_axes, **jit_kwargs: grid.over_runs(
      jax.vmap(f, in_axes=in_axes), device_mesh, in_axes, **jit_kwargs)
  # core.intervals passes every run's arguments (seed, η, factors) to each; init reads the seed
  # only, evaluate neither.
  return (over_runs(lambda seed, lr, factors: init(seed), (0, 0, 0)),
          over_runs(train_interval, (0, None, 0, 0, 0, None), donate_argnums=0),
          over_runs(lambda params, tokens, seed, lr, factors: evaluate(params, tokens),
                    (0, None, 0, 0, 0)))
