"""One training run as a pure function: `make_train(run_config)(key, lr_y, lr_z)`, one `lax.scan`.

The data of step t are drawn from `fold_in(data_key, t)`, where data_key depends on the seed
alone (with a finite training set, step t reads rows of a set drawn once from data_key: see
data.training_batches). Under `vmap` over (η_Y, η_Z) with a shared key, jax therefore samples
each batch once for all the learning-rate pairs of a seed trained together, and a run's result
never depends on its neighbours.
"""

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scan_snap.core import optimizer as core_optimizer
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import metrics
from scan_snap.sequence_classes import model
from scan_snap.sequence_classes import optimizer

DYNAMICS = ('sampled', 'population', 'flow')  # What is trained: see make_train.


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything static about one training run: jit sees it as a hashable constant."""

  data: data.SequenceClasses
  seq_len: int
  batch_size: int
  model: model.ModelConfig
  optimizer: core_optimizer.OptimizerConfig
  steps: int
  log_every: int
  dynamics: str  # one of DYNAMICS
  flow_rtol: float
  flow_max_steps: int
  trajectories: bool  # keep c̃ and z at every logged step; False: at the last one only
  train_set_size: int  # N samples drawn once per seed; 0: fresh samples every step (N = ∞)
  eval_batches: int  # batches of fresh samples the final parameters are evaluated on (0: none)


TrainFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[model.Params, dict[str, jax.Array]]]


def run_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(init_key, data_key) of a run with `key = jax.random.key(seed)`: the start, and every batch
  (and training set) the run draws."""
  return tuple(jax.random.split(key))


def make_train(run_config: RunConfig) -> TrainFn:
  """Returns train(key, lr_y, lr_z) -> (final params, metrics), with `key = jax.random.key(seed)`.

  run.dynamics picks what is trained:
    'sampled'     optax steps on sampled batches (the experiments of the paper);
    'population'  optax steps on the long-sequence limit: every class once, n_l → P(l|m,n),
                  the expected gradient over uniform classes (deterministic given the init);
                  both step the read parameters alone (model.read_params): the entries of Z
                  that no logit reads keep their start, weight decay or not;
    'flow'        gradient flow dY/dt = −η_Y ∇_Y L, dZ/dt = −η_Z ∇_Z L (db/dt = −η_Z ∇_b L with
                  the token prior) of that population loss,
                  integrated by diffrax (t counts plain gradient-descent steps).

  Metrics ([L] = run.steps / run.log_every logging intervals):
    'attn/ctilde'       [L+1, K, S]  c̃_n at steps 0, log_every, …, steps ([1, K, S]: the last
                                     step alone, when not run_config.trajectories)
    'attn/logits'       [L+1, K, S]  z_{m,l} (+ b_l with the token prior) on each class's support
                                     at those steps (likewise)
    'attn/top_logit'    [L+1]        z_{m,l*} of class 1's most frequent distinct token l*
    'attn/entropy'      [L+1]        distinct-token entropy of c̃ at those steps (nats)
    'train/loss'        [L]          training loss: mean over each interval ('flow': at its end)
    'train/accuracy'    [L]          training accuracy, likewise
    'prior/b'           [K, S]       with the token prior (model.token_prior): b_l at the end
                                     on each class's support (it starts at 0)
    'eval/loss'         []           with run_config.eval_batches: the loss of the final
                                     parameters on eval_batches × B fresh samples (from a key
                                     no training step uses)
    'eval/accuracy'     []           their accuracy
    'diverged'          []           a loss, a parameter or a metric became NaN or ±inf, a
                                     logged loss exceeded divergence_bound(run) (10 ln M), or
                                     the ODE solver failed
  """
  if run_config.dynamics == 'flow':
    return _make_flow(run_config)
  tables = run_config.data.tables()

  def train(key, lr_y, lr_z):
    init_key, data_key = run_keys(key)
    params = model.init_params(init_key, run_config.data.vocab_size, run_config.model)
    opt = optimizer.make_optimizer(run_config.optimizer, lr_y=lr_y, lr_z=lr_z)
    batches = data.training_batches(data_key, tables, run_config.batch_size, run_config.seq_len,
                                    run_config.train_set_size, run_config.steps)

    def step(state, t):
      read, opt_state = state
      if run_config.dynamics == 'population':
        batch = data.population_batch(tables)
      else:
        batch = batches(t)
      (loss, aux), grads = jax.value_and_grad(model.loss_read, has_aux=True)(
          read, batch, run_config.model)
      updates, opt_state = opt.update(grads, opt_state, read)
      return (optax.apply_updates(read, updates), opt_state), {'loss': loss, **aux}

    def interval(state, i):
      state, logs = jax.lax.scan(step, state,
                                 i * run_config.log_every + jnp.arange(run_config.log_every))
      return state, {'train/loss': logs['loss'].mean(),
                     'train/accuracy': logs['accuracy'].mean(),
                     'attn/logits': model.support_logits(state[0], tables)}

    read = model.read_params(params, tables.num_context_tokens)
    (final, _), logs = jax.lax.scan(interval, (read, opt.init(read)),
                                    jnp.arange(run_config.steps // run_config.log_every))
    logs['attn/logits'] = jnp.concatenate(
        [model.support_logits(read, tables)[None], logs['attn/logits']])
    final = model.write_params(params, final)
    return final, _collect(logs, tables, run_config, final, data_key, solver_ok=True)

  return train


def _make_flow(run_config: RunConfig) -> TrainFn:
  """Gradient flow of the population loss, saved at the logged times (see make_train)."""
  import diffrax  # pylint: disable=g-import-not-at-top  (0.3 s of import, for flows only)
  tables = run_config.data.tables()
  times = jnp.asarray(logged_steps(run_config), jnp.float32)

  def train(key, lr_y, lr_z):
    population = data.population_batch(tables)
    loss_fn = lambda params: model.loss_counts(params, population, run_config.model)
    init_key, data_key = run_keys(key)
    params = model.init_params(init_key, run_config.data.vocab_size, run_config.model)

    rates = {'lr_y': lr_y, 'lr_z': lr_z}

    def velocity(t, params, args):
      grads = jax.grad(lambda p: loss_fn(p)[0])(params)
      return {name: -rates[model.LR_GROUPS[name]] * g for name, g in grads.items()}

    def observe(t, params, args):
      loss, aux = loss_fn(params)
      return {'train/loss': loss, 'train/accuracy': aux['accuracy'],
              'attn/logits': model.support_logits(
                  model.read_params(params, tables.num_context_tokens), tables)}

    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(velocity), diffrax.Tsit5(), t0=0.0, t1=float(run_config.steps), dt0=0.1,
        y0=params,
        saveat=diffrax.SaveAt(
            subs=[diffrax.SubSaveAt(ts=times, fn=observe), diffrax.SubSaveAt(t1=True)]),
        stepsize_controller=diffrax.PIDController(rtol=run_config.flow_rtol,
                                                  atol=run_config.flow_rtol * 1e-2),
        max_steps=run_config.flow_max_steps, throw=False)
    path, final = solution.ys[0], jax.tree.map(lambda x: x[0], solution.ys[1])
    logs = {'train/loss': path['train/loss'][1:], 'train/accuracy': path['train/accuracy'][1:],
            'attn/logits': path['attn/logits']}
    return final, _collect(logs, tables, run_config, final, data_key,
                           solver_ok=solution.result == diffrax.RESULTS.successful)

  return train


def _collect(logs: dict, tables: data.ClassTables, run_config: RunConfig, final_params,
             data_key: jax.Array, solver_ok) -> dict:
  """The metrics of make_train from the logged support logits [L+1, K, S] and the [L] losses
  and accuracies, with the fresh-sample evaluation of the final parameters and the divergence
  mark."""
  logits = logs['attn/logits']
  kept = logits if run_config.trajectories else logits[-1:]
  out = {'attn/ctilde': jax.vmap(metrics.attention_frequencies, (0, None))(kept, tables),
         'attn/logits': kept,
         'attn/top_logit': logits[:, 0, run_config.data.top_distinct_slot()],
         'attn/entropy': metrics.distinct_entropy(logits, tables.probs,
                                                  run_config.data.num_unique_per_next),
         'train/loss': logs['train/loss'],
         'train/accuracy': logs['train/accuracy']}
  if 'b' in final_params:
    out['prior/b'] = final_params['b'][tables.support]
  if run_config.eval_batches:
    fresh = data.sample_counts(data.held_out_keys(data_key)[2], tables,
                               run_config.eval_batches * run_config.batch_size, run_config.seq_len)
    out['eval/loss'], aux = model.loss_counts(final_params, fresh, run_config.model)
    out['eval/accuracy'] = aux['accuracy']
  finite = (jnp.all(jnp.isfinite(logs['train/loss'])) & jnp.all(jnp.isfinite(logits))
            & jnp.all(jnp.isfinite(out['attn/entropy']))
            & jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(final_params)])))
  bounded = jnp.all(logs['train/loss'] <= divergence_bound(run_config))
  out['diverged'] = ~(finite & bounded & solver_ok)
  return out


# A run whose training loss exceeds this many times ln M, the loss of a uniform prediction over
# the M tokens (about the loss at the start), is diverged: healthy runs of the shipped configs
# stay below 1.0 ln M at every logged interval.
DIVERGENCE_LOSS_FACTOR = 10.0


def divergence_bound(run_config: RunConfig) -> float:
  """The training loss above which a run is marked diverged: DIVERGENCE_LOSS_FACTOR · ln M."""
  return DIVERGENCE_LOSS_FACTOR * math.log(run_config.data.vocab_size)


def logged_steps(run_config: RunConfig) -> np.ndarray:
  """[L+1] the steps at which the 'attn/*' metrics are recorded."""
  return np.arange(0, run_config.steps + 1, run_config.log_every)
