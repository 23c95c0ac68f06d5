"""The models of the WikiText experiment (docs/reference.md), in Flax NNX; `build(cfg)` makes the
one a config names.

Transformer (TransformerConfig): token embedding × √D plus sinusoidal positions, then
`num_layers` post-norm blocks (causal self-attention with W_Q, W_K, W_V, W_O; a ReLU feed-forward
layer), then a linear decoder to the vocabulary, as in PyTorch's word-language-model transformer
that the paper's runs build on. Dropout takes an explicit key; without one the model is
deterministic (evaluation).

YZModel (YZConfig): the paper's reparameterized 1-layer model on one-hot words, with Y and Z as
rank-D factors, as in the authors' text model.

Both give next-token logits (B, L, V) and each layer's attention weights (B, H, L, L).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  vocab_size: int
  max_len: int  # longest sequence (bptt)
  d_model: int = 200  # embedding dimension D
  d_ff: int = 200  # feed-forward hidden units
  num_heads: int = 1
  num_layers: int = 1
  dropout: float = 0.2
  sinusoidal_positions: bool = True
  init: str = 'flax'  # or 'pytorch', the authors' (INITS)


INITS = ('flax', 'pytorch')


def _pytorch_uniform(fan_in: int):
  """PyTorch's nn.Linear default for its weight and bias: U(±1/√fan_in)."""
  bound = 1 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def _linear_inits(cfg: 'TransformerConfig', role: str, fan_in: int) -> dict:
  """The initializers of one nnx.Linear: flax's defaults (lecun_normal, zero bias) for
  cfg.init = 'flax'; for 'pytorch', nn.TransformerEncoderLayer's: W_Q, W_K, W_V together one
  xavier_uniform [3d, d] matrix (U(±√(6/4d))) with zero biases, W_O PyTorch's Linear weight with a
  zero bias, the feed-forward layers PyTorch's Linear weight and bias."""
  if cfg.init == 'flax':
    return {}
  zeros = jax.nn.initializers.zeros
  if role == 'qkv':
    bound = math.sqrt(6 / (4 * cfg.d_model))
    return {'kernel_init': lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound), 'bias_init': zeros}
  if role == 'out':
    return {'kernel_init': _pytorch_uniform(fan_in), 'bias_init': zeros}
  return {'kernel_init': _pytorch_uniform(fan_in), 'bias_init': _pytorch_uniform(fan_in)}


def sinusoidal_positions(length: int, dim: int) -> jax.Array:
  """PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D)); shape (L, D)."""
  position_Lx1 = jnp.arange(length, dtype=jnp.float32)[:, None]
  frequency = jnp.exp(jnp.arange(0, dim, 2, dtype=jnp.float32) * (-math.log(10000.0) / dim))
  angle_LxH = position_Lx1 * frequency[None, :]
  return jnp.stack([jnp.sin(angle_LxH), jnp.cos(angle_LxH)], axis=-1).reshape(length, -1)[:, :dim]


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
  """Inverted dropout with an explicit key; the identity when key is None."""
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0)


def _split(key: jax.Array | None, num: int) -> list:
  return [None] * num if key is None else list(jax.random.split(key, num))


def attention_entropy(attn_BxHxLxL: jax.Array) -> jax.Array:
  """−Σ_j a_ij ln a_ij of every attention row (0 ln 0 = 0); shape (B, H, L)."""
  return -jnp.sum(jax.scipy.special.xlogy(attn_BxHxLxL, attn_BxHxLxL), axis=-1)


class CausalSelfAttention(nnx.Module):
  """softmax(Q Kᵀ / √d_head + causal mask) V, then W_O; also returns the attention weights."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    if cfg.d_model % cfg.num_heads:
      raise ValueError(f'd_model = {cfg.d_model} is not a multiple of num_heads = {cfg.num_heads}')
    self.num_heads, self.rate = cfg.num_heads, cfg.dropout
    qkv, out = _linear_inits(cfg, 'qkv', cfg.d_model), _linear_inits(cfg, 'out', cfg.d_model)
    self.query = nnx.Linear(cfg.d_model, cfg.d_model, rngs=rngs, **qkv)
    self.key = nnx.Linear(cfg.d_model, cfg.d_model, rngs=rngs, **qkv)
    self.value = nnx.Linear(cfg.d_model, cfg.d_model, rngs=rngs, **qkv)
    self.out = nnx.Linear(cfg.d_model, cfg.d_model, rngs=rngs, **out)

  def __call__(self, x_BxLxD: jax.Array,
               dropout_key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    b, length, d = x_BxLxD.shape
    heads = lambda y: y.reshape(b, length, self.num_heads, d // self.num_heads)
    q_BxLxHxK, k_BxLxHxK, v_BxLxHxK = (heads(f(x_BxLxD))
                                       for f in (self.query, self.key, self.value))
    head_dim = d // self.num_heads
    scores_BxHxLxL = jnp.einsum('bqhk,bshk->bhqs', q_BxLxHxK, k_BxLxHxK) / math.sqrt(head_dim)
    causal_LxL = jnp.tril(jnp.ones((length, length), dtype=bool))
    attn_BxHxLxL = jax.nn.softmax(jnp.where(causal_LxL, scores_BxHxLxL, -jnp.inf), axis=-1)
    mixed_BxLxHxK = jnp.einsum('bhqs,bshk->bqhk', dropout(attn_BxHxLxL, self.rate, dropout_key),
                               v_BxLxHxK)
    return self.out(mixed_BxLxHxK.reshape(b, length, d)), attn_BxHxLxL


class Block(nnx.Module):
  """x ← LN(x + Dropout(Attn(x))); x ← LN(x + Dropout(W₂ Dropout(ReLU(W₁ x))))."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.rate = cfg.dropout
    self.attention = CausalSelfAttention(cfg, rngs=rngs)
    self.norm1 = nnx.LayerNorm(cfg.d_model, epsilon=1e-5, rngs=rngs)
    self.ff1 = nnx.Linear(cfg.d_model, cfg.d_ff, rngs=rngs,
                          **_linear_inits(cfg, 'ff', cfg.d_model))
    self.ff2 = nnx.Linear(cfg.d_ff, cfg.d_model, rngs=rngs, **_linear_inits(cfg, 'ff', cfg.d_ff))
    self.norm2 = nnx.LayerNorm(cfg.d_model, epsilon=1e-5, rngs=rngs)

  def __call__(self, x_BxLxD: jax.Array,
               dropout_key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    k_attn, k_mix, k_hidden, k_ff = _split(dropout_key, 4)
    mixed_BxLxD, attn_BxHxLxL = self.attention(x_BxLxD, k_attn)
    x_BxLxD = self.norm1(x_BxLxD + dropout(mixed_BxLxD, self.rate, k_mix))
    hidden_BxLxF = dropout(jax.nn.relu(self.ff1(x_BxLxD)), self.rate, k_hidden)
    x_BxLxD = self.norm2(x_BxLxD + dropout(self.ff2(hidden_BxLxF), self.rate, k_ff))
    return x_BxLxD, attn_BxHxLxL


class Transformer(nnx.Module):
  """Next-token logits (B, L, V) and each layer's attention weights (B, H, L, L)."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    uniform = jax.nn.initializers.uniform(0.2)  # U[0, 0.2), shifted to U[−0.1, 0.1) below
    self.embed = nnx.Embed(cfg.vocab_size, cfg.d_model, rngs=rngs,
                           embedding_init=lambda *a: uniform(*a) - 0.1)
    self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.decoder = nnx.Linear(cfg.d_model, cfg.vocab_size, rngs=rngs,
                              kernel_init=lambda *a: uniform(*a) - 0.1)

  def __call__(self, tokens_BxL: jax.Array,
               dropout_key: jax.Array | None = None) -> tuple[jax.Array, list[jax.Array]]:
    cfg = self.cfg
    keys = _split(dropout_key, cfg.num_layers + 1)
    x_BxLxD = self.embed(tokens_BxL) * math.sqrt(cfg.d_model)
    if cfg.sinusoidal_positions:
      x_BxLxD = x_BxLxD + sinusoidal_positions(tokens_BxL.shape[1], cfg.d_model)[None]
    x_BxLxD = dropout(x_BxLxD, cfg.dropout, keys[0])
    attns = []
    for block, key in zip(self.blocks, keys[1:]):
      x_BxLxD, attn_BxHxLxL = block(x_BxLxD, key)
      attns.append(attn_BxHxLxL)
    return self.decoder(x_BxLxD), attns


@dataclasses.dataclass(frozen=True)
class YZConfig:
  """The Y/Z model: Z = Z_query Z_keyᵀ and Y = Y_out Y_inᵀ, M×M of rank D (M = vocab_size)."""

  vocab_size: int
  max_len: int  # longest sequence (bptt)
  rank: int = 200  # D
  residual: bool = True  # u gains the query's own one-hot vector, the logits gain f
  normalize: bool = True  # f = u/‖u‖₂; u itself when False

  num_layers = 1  # one layer, as the paper's model, with one head
  num_heads = 1


class YZModel(nnx.Module):
  """The paper's model on a window of words x_1 … x_L, every position a query (causal):
    a_{qk} = softmax_{k ≤ q}(z_{x_q, x_k}),  u_q = Σ_{k≤q} a_{qk} e_{x_k} (+ e_{x_q} with the
    residual),  f_q = u_q/‖u_q‖₂,  logits_q = Y f_q (+ f_q with the residual).
  A query attends to its own position too, as in the authors' runs (the synthetic model's query
  does not). The one-hot products are read as row lookups: z_{m,l} = Z_query[m]·Z_key[l] and
  Y f = Y_out (Σ_k w_k Y_in[x_k]) for f = Σ_k w_k e_{x_k}. Every entry starts uniform in
  ±1/√fan_in, PyTorch's Linear default (fan_in M for Z_key and Y_in, D for Z_query and Y_out)."""

  def __init__(self, cfg: YZConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    m, d = cfg.vocab_size, cfg.rank
    param = lambda fan_in: nnx.Param(_pytorch_uniform(fan_in)(rngs.params(), (m, d)))
    self.Z_query, self.Z_key, self.Y_in, self.Y_out = param(d), param(m), param(m), param(d)

  def __call__(self, tokens_BxL: jax.Array,
               dropout_key: jax.Array | None = None) -> tuple[jax.Array, list[jax.Array]]:
    del dropout_key  # the model has no dropout
    cfg, (b, length) = self.cfg, tokens_BxL.shape
    logits_BxLxL = jnp.einsum('bqd,bkd->bqk', self.Z_query[...][tokens_BxL],
                              self.Z_key[...][tokens_BxL])
    causal_LxL = jnp.tril(jnp.ones((length, length), dtype=bool))
    attn_BxLxL = jax.nn.softmax(jnp.where(causal_LxL, logits_BxLxL, -jnp.inf), axis=-1)
    # u_q = Σ_k w_{qk} e_{x_k}: the residual's e_{x_q} is the query's own position, x_q itself.
    weights_BxLxL = attn_BxLxL + jnp.eye(length)[None] if cfg.residual else attn_BxLxL
    if cfg.normalize:  # ‖u_q‖² = Σ_{k,k'} w_{qk} w_{qk'} [x_k = x_k']
      same_BxLxL = (tokens_BxL[:, :, None] == tokens_BxL[:, None, :]).astype(weights_BxLxL.dtype)
      norm_BxL = jnp.sqrt(jnp.einsum('bqk,bkj,bqj->bq', weights_BxLxL, same_BxLxL, weights_BxLxL))
      weights_BxLxL = weights_BxLxL / norm_BxL[..., None]
    hidden_BxLxD = jnp.einsum('bqk,bkd->bqd', weights_BxLxL, self.Y_in[...][tokens_BxL])
    out_BxLxV = hidden_BxLxD @ self.Y_out[...].T
    if cfg.residual:  # + f_q: the weight w_{qk} on word x_k
      rows = (jnp.arange(b)[:, None, None], jnp.arange(length)[None, :, None],
              tokens_BxL[:, None, :])
      out_BxLxV = out_BxLxV.at[rows].add(weights_BxLxL)
    return out_BxLxV, [attn_BxLxL[:, None]]


KINDS = {'transformer': (TransformerConfig, Transformer), 'yz': (YZConfig, YZModel)}


def build(cfg: TransformerConfig | YZConfig, rngs: nnx.Rngs) -> Transformer | YZModel:
  """The model of a config: a Transformer or a YZModel."""
  return next(m for c, m in KINDS.values() if isinstance(cfg, c))(cfg, rngs=rngs)


def num_params(cfg: TransformerConfig | YZConfig) -> int:
  """The number of parameters of the model of cfg (counted on its shapes, nothing allocated)."""
  _, params = nnx.split(nnx.eval_shape(lambda: build(cfg, nnx.Rngs(0))))
  return sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(params))


def param_name(path: tuple) -> str:
  """A parameter's name, its path joined by '/': 'blocks/0/attention/query/kernel', 'embed/…'."""
  return '/'.join(str(getattr(p, 'key', getattr(p, 'idx', p))) for p in path
                  if getattr(p, 'name', None) != 'value')


def param_names(kind: str, num_layers: int) -> list[str]:
  """The names of every parameter of a model of KINDS[kind] with `num_layers` blocks (what
  optimizer.lr_groups's patterns are matched against)."""
  cfg = (TransformerConfig(vocab_size=2, max_len=2, d_model=2, d_ff=2, num_layers=num_layers)
         if kind == 'transformer' else YZConfig(vocab_size=2, max_len=2, rank=2))
  _, params = nnx.split(nnx.eval_shape(lambda: build(cfg, nnx.Rngs(0))))
  return [param_name(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]
