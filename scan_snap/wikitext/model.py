"""The decoder-only transformer of the WikiText experiment (docs/reference.md), in Flax NNX.

Token embedding × √D plus sinusoidal positions, then `num_layers` post-norm blocks (causal
self-attention with W_Q, W_K, W_V, W_O; a ReLU feed-forward layer), then a linear decoder to the
vocabulary, as in PyTorch's word-language-model transformer that the paper's runs build on.
Dropout takes an explicit key; without one the model is deterministic (evaluation).
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


def param_name(path: tuple) -> str:
  """A parameter's name, its path joined by '/': 'blocks/0/attention/query/kernel', 'embed/…'."""
  return '/'.join(str(getattr(p, 'key', getattr(p, 'idx', p))) for p in path
                  if getattr(p, 'name', None) != 'value')


def param_names(num_layers: int) -> list[str]:
  """The names of every parameter of a model with `num_layers` blocks (what
  optimizer.lr_groups's patterns are matched against)."""
  cfg = TransformerConfig(vocab_size=2, max_len=2, d_model=2, d_ff=2, num_layers=num_layers)
  _, params = nnx.split(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))))
  return [param_name(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]
