"""The authors' transformer for hierarchical classes, as pure functions of a parameter pytree.

Embedding E [M, d] (no positions: the causal mask is the only order), then `num_layers` blocks,
each
    a   = softmax_causal(x W_Q (x W_K)ᵀ / √(d/H)) x W_V        per head, heads concatenated
    u   = LN₁(a + x)
    h   = ReLU(u W₁ + b₁)                                       the block's hidden, width d_ff
    x'  = LN₂(h W₂ + b₂ + u)
and the class logits x_L W_out + b_out read at the last position. Initialization as PyTorch's
defaults, as in the authors' runs: E ~ N(0, 1); every linear map's weight and bias
~ U(±1/√fan_in); LayerNorm scale 1, bias 0.

  init(cfg, key) -> params
  apply(cfg, params, tokens) -> (logits [B, C], hiddens: per block [B, L, d_ff])
"""

import dataclasses

import jax
import jax.numpy as jnp

LN_EPS = 1e-5  # PyTorch's LayerNorm default


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  vocab_size: int  # M
  num_classes: int
  d_model: int = 64
  d_ff: int = 256
  num_heads: int = 1
  num_layers: int = 2


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
  bound = 1 / jnp.sqrt(fan_in)
  return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def _linear(key: jax.Array, d_in: int, d_out: int) -> dict:
  k_w, k_b = jax.random.split(key)
  return {'kernel': _uniform(k_w, (d_in, d_out), d_in), 'bias': _uniform(k_b, (d_out,), d_in)}


def _layer_norm(d: int) -> dict:
  return {'scale': jnp.ones(d), 'bias': jnp.zeros(d)}


def init(cfg: TransformerConfig, key: jax.Array) -> dict:
  """The parameters of one network, from `key`."""
  d = cfg.d_model
  k_embed, k_out, *k_blocks = jax.random.split(key, 2 + cfg.num_layers)
  blocks = []
  for k in k_blocks:
    k_q, k_k, k_v, k_1, k_2 = jax.random.split(k, 5)
    blocks.append({'wq': _uniform(k_q, (d, d), d), 'wk': _uniform(k_k, (d, d), d),
                   'wv': _uniform(k_v, (d, d), d), 'ln1': _layer_norm(d),
                   'ff1': _linear(k_1, d, cfg.d_ff), 'ff2': _linear(k_2, cfg.d_ff, d),
                   'ln2': _layer_norm(d)})
  return {'embed': jax.random.normal(k_embed, (cfg.vocab_size, d)), 'blocks': blocks,
          'out': _linear(k_out, d, cfg.num_classes)}


def layer_norm(p: dict, x: jax.Array) -> jax.Array:
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  lead = (1,) * (x.ndim - 1)
  return ((x - mean) / jnp.sqrt(var + LN_EPS) * p['scale'].reshape(*lead, -1)
          + p['bias'].reshape(*lead, -1))


def attention(cfg: TransformerConfig, block: dict, x_BxLxD: jax.Array) -> jax.Array:
  """softmax_causal(Q Kᵀ / √(d/H)) V per head, the heads concatenated: [B, L, d]."""
  b, length, d = x_BxLxD.shape
  heads = lambda w: (x_BxLxD @ w).reshape(b, length, cfg.num_heads, d // cfg.num_heads)
  q, k, v = heads(block['wq']), heads(block['wk']), heads(block['wv'])
  logits = jnp.einsum('bqhe,bkhe->bhqk', q, k) / jnp.sqrt(d / cfg.num_heads)
  causal = jnp.tril(jnp.ones((length, length), bool))
  weights = jax.nn.softmax(jnp.where(causal, logits, -jnp.inf), axis=-1)
  return jnp.einsum('bhqk,bkhe->bqhe', weights, v).reshape(b, length, d)


def apply(cfg: TransformerConfig, params: dict,
          tokens_BxL: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
  """The class logits at the last position [B, C], and each block's hidden h [B, L, d_ff]."""
  x = params['embed'][tokens_BxL]
  hiddens = []
  for block in params['blocks']:
    u = layer_norm(block['ln1'], attention(cfg, block, x) + x)
    h = jax.nn.relu(u @ block['ff1']['kernel'] + block['ff1']['bias'][None, None])
    x = layer_norm(block['ln2'], h @ block['ff2']['kernel'] + block['ff2']['bias'][None, None] + u)
    hiddens.append(h)
  return x[:, -1] @ params['out']['kernel'] + params['out']['bias'][None], hiddens
