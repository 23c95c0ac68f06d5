"""The reparameterized 1-layer transformer of docs/model.md, as pure functions.

Parameters are two M×M matrices: Z (attention logits, z_{m,l}: query m attends to key l) and
Y (decoder), and with the token prior (Sec. 7) an M-vector b added to every query's logits: the
attention reads z_{m,l} + b_l. Convention: the next-token logits are Y^T f, i.e. `f @ Y`, so
Y[k, j] maps feature k to output token j.

Two exact forms of the forward pass:
- the sequence form reads the contextual tokens x_1 … x_{T−1}: b_t = softmax_t z_{m,x_t},
  u = Σ_t b_t e_{x_t};
- the counts form reads n_l, the number of contextual positions holding l:
  u_l = n_l e^{z_{m,l}} / Σ_k n_k e^{z_{m,k}}. With n_l replaced by P(l|m,n) it gives the
  long-sequence limit c̃_n. The attention is computed on the tokens a sample can hold (its
  class's support), the products with Y are dense matrix products: the fast form.
Both then use f = u/‖u‖₂ (u + e_m with the residual) and loss = CE(Y^T f, x_{T+1}).

In sequence classes every query is an id ≥ C and every contextual token an id < C: the counts
form then reads Z only in the block Z[C:, :C], and training carries and steps Y and that block
(and b, with the token prior) alone (`read_params`, `loss_read`).
"""

import dataclasses

import jax
import jax.numpy as jnp

from scan_snap.sequence_classes import data

Params = dict[str, jax.Array]  # {'Y': [M, M], 'Z': [M, M]}, and 'b': [M] with the token prior

# The learning-rate group of each parameter: Y steps at η_Y, Z and b at η_Z. The optimizer's
# labels and the flow's velocity follow this map, and read_params carries every parameter, so
# that a new parameter is an entry of init_params and of this map.
LR_GROUPS = {'Y': 'lr_y', 'Z': 'lr_z', 'b': 'lr_z'}

INITS = ('zeros', 'uniform', 'normal')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  init: str  # one of INITS
  init_scale: float  # standard deviation of the 'normal' init
  l2_norm: bool  # f = u/‖u‖₂ (the paper's "LayerNorm"); off: f = u
  residual: bool  # add e_{x_T} to u
  token_prior: bool = False  # learn b, added to z_{m,l} for every query m (starts at 0)


def init_params(key: jax.Array, vocab_size: int, cfg: ModelConfig) -> Params:
  """Y, Z at zero, uniform in [−1/√M, 1/√M], or Gaussian with std init_scale (one draw of
  both); b, with the token prior, at zero."""
  shape = (2, vocab_size, vocab_size)
  if cfg.init == 'zeros':
    y, z = jnp.zeros(shape)
  elif cfg.init == 'uniform':
    bound = 1.0 / vocab_size**0.5
    y, z = jax.random.uniform(key, shape, minval=-bound, maxval=bound)
  elif cfg.init == 'normal':
    y, z = cfg.init_scale * jax.random.normal(key, shape)
  else:
    raise ValueError(f'unknown init {cfg.init!r}; expected one of {INITS}')
  prior = {'b': jnp.zeros(vocab_size)} if cfg.token_prior else {}
  return {'Y': y, 'Z': z, **prior}


def attention_counts(z: jax.Array, counts: jax.Array) -> jax.Array:
  """u_l = n_l e^{z_l} / Σ_k n_k e^{z_k} along the last axis; tokens with n_l = 0 get 0.

  The maximum subtracted for stability is a constant to autodiff (u does not depend on it),
  which spares the gradient its reductions.
  """
  logits = jnp.where(counts > 0, z + jnp.log(counts), -jnp.inf)
  weights = jnp.exp(logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
  return weights * _reciprocal(jnp.sum(weights, axis=-1, keepdims=True))


def _reciprocal(x: jax.Array) -> jax.Array:
  """1/x, written so that XLA multiplies by it on every device count (a division by a
  broadcast value is rewritten into such a product in some of XLA's pipelines and not others,
  which changes the rounding)."""
  return 1.0 / x


def read_params(params: Params, num_counted: int) -> Params:
  """The trained parameters, with C = num_counted: each parameter whole, but Z as its block
  Z[C:, :C], all that the counts form reads of Z for a batch whose queries are ids ≥ C, as in
  sequence classes (their contextual tokens come first)."""
  return {name: p[num_counted:, :num_counted] if name == 'Z' else p
          for name, p in params.items()}


def write_params(params: Params, read: Params) -> Params:
  """params with its read parameters (read_params) replaced by `read`'s."""
  num_counted = read['Z'].shape[1]
  return {name: params['Z'].at[num_counted:, :num_counted].set(r) if name == 'Z' else r
          for name, r in read.items()}


def support_logits(read: Params, tables: data.ClassTables) -> jax.Array:
  """[K, S] z_{m,l} (+ b_l): each class's query row of Z on its support, from the read
  parameters (read_params); what the attention metrics are computed from."""
  return _with_prior(read, read['Z'][tables.query[:, None] - tables.num_context_tokens,
                                     tables.support], tables.support)


def _with_prior(params: Params, z: jax.Array, tokens: jax.Array) -> jax.Array:
  """z_{m,l} + b_l for the key tokens `tokens` (the shape of z) with the token prior, else z."""
  return z + params['b'][tokens] if 'b' in params else z


def logits_counts(params: Params, batch: data.CountsBatch, cfg: ModelConfig) -> jax.Array:
  """[B, M] logits Y^T f of each sample in the counts form."""
  z_BxS = params['Z'][batch.query[:, None], batch.tokens]
  return _logits(params['Y'], _with_prior(params, z_BxS, batch.tokens), batch, cfg)


def logits_read(read: Params, batch: data.CountsBatch, cfg: ModelConfig) -> jax.Array:
  """logits_counts from the read parameters (read_params), for queries ≥ C: query m reads row
  m − C of Z[C:, :C]."""
  z_BxS = read['Z'][batch.query[:, None] - batch.num_counted, batch.tokens]
  return _logits(read['Y'], _with_prior(read, z_BxS, batch.tokens), batch, cfg)


def _logits(y_MxM: jax.Array, z_BxS: jax.Array, batch: data.CountsBatch,
            cfg: ModelConfig) -> jax.Array:
  """The counts form's logits from Y and z_{m,l} of each row's listed tokens.

  The attention is computed on each row's S listed tokens, then spread over the first
  C = batch.num_counted token ids, so that the products with Y are dense over C rows only.
  """
  batch_size, num_counted = batch.tokens.shape[0], batch.num_counted
  u_BxS = attention_counts(z_BxS, batch.counts)
  sum_sq_B = jnp.sum(u_BxS**2, axis=-1)
  if cfg.residual:  # v = u + e_m: ‖v‖² = ‖u‖² + 2 u_m + 1, with u_m = 0 when m is not listed.
    u_m_B = jnp.sum(jnp.where(batch.tokens == batch.query[:, None], u_BxS, 0.0), axis=-1)
    sum_sq_B = sum_sq_B + 2 * u_m_B + 1
  scale_B = _reciprocal(jnp.sqrt(sum_sq_B)) if cfg.l2_norm else jnp.ones(batch_size)
  f_BxC = jnp.zeros((batch_size, num_counted)).at[
      jnp.arange(batch_size)[:, None], batch.tokens].set(u_BxS * scale_B[:, None],
                                                          unique_indices=True)
  logits_BxM = f_BxC @ y_MxM[:num_counted]
  if cfg.residual:
    logits_BxM = logits_BxM + y_MxM[batch.query] * scale_B[:, None]
  return logits_BxM


def logits_sequence(params: Params, query: jax.Array, context_T: jax.Array,
                    cfg: ModelConfig) -> jax.Array:
  """[M] logits Y^T f of one sample in the sequence form (the paper's definition, dense in M)."""
  attention_T = jax.nn.softmax(_with_prior(params, params['Z'][query, context_T], context_T))
  u_M = jnp.zeros(params['Z'].shape[0]).at[context_T].add(attention_T)
  if cfg.residual:
    u_M = u_M + jax.nn.one_hot(query, u_M.shape[-1])
  return (u_M / jnp.linalg.norm(u_M) if cfg.l2_norm else u_M) @ params['Y']


def _cross_entropy(logits_BxM: jax.Array, label_B: jax.Array) -> tuple[jax.Array, dict]:
  """Mean of −log softmax(logits)_label over the batch, and the accuracy.

  The label's logit is read through a one-hot mask: its gradient is elementwise, where that of
  an indexed read is a scatter (slow on CPUs, and one more kernel to compile).
  """
  token_M = jnp.arange(logits_BxM.shape[-1])
  label_logit_B = jnp.sum(jnp.where(token_M[None, :] == label_B[:, None], logits_BxM, 0.0), axis=-1)
  loss = jnp.mean(jax.nn.logsumexp(logits_BxM, axis=-1) - label_logit_B)
  return loss, {'accuracy': accuracy(logits_BxM, label_B)}


def accuracy(logits_BxM: jax.Array, label_B: jax.Array) -> jax.Array:
  """Mean of [argmax_j logits_j = label], ties going to the first index as in jnp.argmax, but
  computed with max reductions (an argmax is a slow serial reduction on CPUs): the label's
  logit reaches the maximum and no earlier token's logit does."""
  label_logit_B = jnp.take_along_axis(logits_BxM, label_B[:, None], axis=-1)[:, 0]
  earlier_BxM = jnp.arange(logits_BxM.shape[-1])[None, :] < label_B[:, None]
  earlier_max_B = jnp.max(jnp.where(earlier_BxM, logits_BxM, -jnp.inf), axis=-1)
  return jnp.mean((label_logit_B >= jnp.max(logits_BxM, axis=-1)) & (earlier_max_B < label_logit_B))


def loss_counts(params: Params, batch: data.CountsBatch, cfg: ModelConfig):
  """Mean cross-entropy over the batch, counts form; returns (loss, {'accuracy'})."""
  return _cross_entropy(logits_counts(params, batch, cfg), batch.label)


def loss_read(read: Params, batch: data.CountsBatch, cfg: ModelConfig):
  """loss_counts from the read parameters (read_params), for queries ≥ C: what training of
  sequence classes differentiates."""
  return _cross_entropy(logits_read(read, batch, cfg), batch.label)


def loss_sequence(params: Params, batch: data.SequenceBatch, cfg: ModelConfig):
  """Mean cross-entropy over the batch, sequence form; returns (loss, {'accuracy'})."""
  logits = jax.vmap(logits_sequence, (None, 0, 0, None))(params, batch.query, batch.context, cfg)
  return _cross_entropy(logits, batch.label)
