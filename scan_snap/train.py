"""One training run as a pure function: `make_train(run)(key, lr_y, lr_z)`, one `lax.scan`.

The data of step t are drawn from `fold_in(data_key, t)`, where data_key depends on the seed
alone. Under `vmap` over (η_Y, η_Z) with a shared key, jax therefore samples each batch once
for all learning-rate pairs of a seed, and a run's result never depends on its neighbours.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scan_snap import config
from scan_snap import data
from scan_snap import metrics
from scan_snap import model
from scan_snap import optimizer

TrainFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[model.Params, dict[str, jax.Array]]]


def make_train(run: config.RunConfig) -> TrainFn:
  """Returns train(key, lr_y, lr_z) -> (final params, metrics), with `key = jax.random.key(seed)`.

  Metrics ([L] = run.steps / run.log_every logging intervals):
    'attn/ctilde'       [L+1, K, S]  c̃_n at steps 0, log_every, …, steps
    'attn/entropy'      [L+1]        distinct-token entropy of c̃ at those steps (nats)
    'train/loss'        [L]          mean training loss over each interval
    'train/accuracy'    [L]          mean training accuracy over each interval
    'diverged'          []           a loss or a final parameter is NaN or ±inf
  """
  tables = run.data.tables()
  num_distinct = run.data.num_unique_per_next

  def attention_metrics(params):
    ctilde = metrics.attention_frequencies(params['Z'], tables)
    return {'attn/ctilde': ctilde, 'attn/entropy': metrics.distinct_entropy(ctilde, num_distinct)}

  def train(key, lr_y, lr_z):
    init_key, data_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    params = model.init_params(init_key, run.data.vocab_size, run.model)
    opt = optimizer.make_optimizer(run.optimizer, lr_y, lr_z)

    def step(state, t):
      params, opt_state = state
      batch = data.sample_counts(jax.random.fold_in(data_key, t), tables, run.batch_size,
                                 run.seq_len)
      (loss, aux), grads = jax.value_and_grad(model.loss_counts, has_aux=True)(
          params, batch, run.model)
      updates, opt_state = opt.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), {'loss': loss, **aux}

    def interval(state, i):
      state, logs = jax.lax.scan(step, state, i * run.log_every + jnp.arange(run.log_every))
      return state, {'train/loss': logs['loss'].mean(),
                     'train/accuracy': logs['accuracy'].mean(),
                     'finite': jnp.all(jnp.isfinite(logs['loss'])),
                     **attention_metrics(state[0])}

    (final, _), logs = jax.lax.scan(interval, (params, opt.init(params)),
                                    jnp.arange(run.steps // run.log_every))
    start = attention_metrics(params)
    params_finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(final)]))
    out = {key: jnp.concatenate([start[key][None], logs[key]]) for key in start}
    out['train/loss'] = logs['train/loss']
    out['train/accuracy'] = logs['train/accuracy']
    out['diverged'] = ~(jnp.all(logs['finite']) & params_finite)
    return final, out

  return train


def logged_steps(run: config.RunConfig) -> np.ndarray:
  """[L+1] the steps at which the 'attn/*' metrics are recorded."""
  return np.arange(0, run.steps + 1, run.log_every)
