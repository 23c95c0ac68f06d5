"""The models of hierarchical classes, as pure functions of a parameter pytree: the authors'
transformer (TransformerConfig) and the paper's Y/Z model stacked in layers (YZConfig).

The transformer. Embedding E [M, d] (no positions: the causal mask is the only order), then
`num_layers` blocks, each
    a   = softmax_causal(x W_Q (x W_K)ᵀ / √(d/H)) x W_V        per head, heads concatenated
    u   = LN₁(a + x)
    h   = ReLU(u W₁ + b₁)                                       the block's hidden, width d_ff
    x'  = LN₂(h W₂ + b₂ + u)
and the class logits x_L W_out + b_out read at the last position. Initialization as PyTorch's
defaults, as in the authors' runs: E ~ N(0, 1); every linear map's weight and bias
~ U(±1/√fan_in); LayerNorm scale 1, bias 0.

The Y/Z model, layer by layer (the paper's reparameterized attention, as the authors stack it
in their YZFormer): X₀ is the one-hot tokens [B, L, M]; layer l reads
    A   = softmax_causal(X_l Z_l X_lᵀ)                           Z_l [D_l, D_l]
    f   = A X_l / ‖A X_l‖                                        per position: the layer's hidden
    X_{l+1} = ReLU(f Y_l) / ‖ReLU(f Y_l)‖                         Y_l [D_l, D_{l+1}]
and the last layer's f Y at the last position gives the class logits. D₀ = M, the inner widths
are `hidden_vocab`. Z starts at 0 (uniform attention, as the paper's theorems); Y ~ N(0, 1/D_l).

  init(cfg, key) -> params
  apply(cfg, params, tokens) -> (logits [B, C], hiddens: per block [B, L, ·],
                                 attentions: per block [B, H, L, L])
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


@dataclasses.dataclass(frozen=True)
class YZConfig:
  vocab_size: int  # M
  num_classes: int
  num_layers: int = 2
  hidden_vocab: int = 40  # D_l of the inner layers
  num_heads: int = 1  # one attention map per layer (for the shape that the readings share)


def widths(cfg: YZConfig) -> list[int]:
  """D₀ … D_n: the one-hot tokens, the inner layers, the classes."""
  return [cfg.vocab_size] + [cfg.hidden_vocab] * (cfg.num_layers - 1) + [cfg.num_classes]


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
  bound = 1 / jnp.sqrt(fan_in)
  return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def _linear(key: jax.Array, d_in: int, d_out: int) -> dict:
  k_w, k_b = jax.random.split(key)
  return {'kernel': _uniform(k_w, (d_in, d_out), d_in), 'bias': _uniform(k_b, (d_out,), d_in)}


def _layer_norm(d: int) -> dict:
  return {'scale': jnp.ones(d), 'bias': jnp.zeros(d)}


def init(cfg: TransformerConfig | YZConfig, key: jax.Array) -> dict:
  """The parameters of one network, from `key`."""
  if isinstance(cfg, YZConfig):
    dims = widths(cfg)
    keys = jax.random.split(key, cfg.num_layers)
    return {'layers': [{'Z': jnp.zeros((d_in, d_in)),
                        'Y': jax.random.normal(k, (d_in, d_out)) / jnp.sqrt(d_in)}
                       for k, d_in, d_out in zip(keys, dims[:-1], dims[1:])]}
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


def causal_softmax(logits_BxHxLxL: jax.Array) -> jax.Array:
  """Softmax over the keys k ≤ q of each query q."""
  length = logits_BxHxLxL.shape[-1]
  causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
  return jax.nn.softmax(jnp.where(causal, logits_BxHxLxL, -jnp.inf), axis=-1)


def attention(cfg: TransformerConfig, block: dict,
              x_BxLxD: jax.Array) -> tuple[jax.Array, jax.Array]:
  """softmax_causal(Q Kᵀ / √(d/H)) V per head, the heads concatenated: [B, L, d]; and the
  attention weights [B, H, L, L]."""
  b, length, d = x_BxLxD.shape
  heads = lambda w: (x_BxLxD @ w).reshape(b, length, cfg.num_heads, d // cfg.num_heads)
  q, k, v = heads(block['wq']), heads(block['wk']), heads(block['wv'])
  logits = jnp.einsum('bqhe,bkhe->bhqk', q, k) / jnp.sqrt(d / cfg.num_heads)
  weights = causal_softmax(logits)
  return jnp.einsum('bhqk,bkhe->bqhe', weights, v).reshape(b, length, d), weights


UNIT_EPS = 1e-12  # ‖x‖ is read as √(‖x‖² + ε): 0 stays 0, with a finite gradient


def _unit(x: jax.Array) -> jax.Array:
  """x / ‖x‖ along the last axis (0 stays 0)."""
  return x / jnp.sqrt((x * x).sum(-1, keepdims=True) + UNIT_EPS)


def apply(cfg: TransformerConfig | YZConfig, params: dict, tokens_BxL: jax.Array
          ) -> tuple[jax.Array, list[jax.Array], list[jax.Array]]:
  """The class logits at the last position [B, C], each block's hidden (the transformer's h
  [B, L, d_ff]; the Y/Z model's f [B, L, D_l]) and its attention weights [B, H, L, L]."""
  if isinstance(cfg, YZConfig):
    return _apply_yz(params, tokens_BxL, cfg.vocab_size)
  x = params['embed'][tokens_BxL]
  hiddens, attentions = [], []
  for block in params['blocks']:
    a, weights = attention(cfg, block, x)
    u = layer_norm(block['ln1'], a + x)
    h = jax.nn.relu(u @ block['ff1']['kernel'] + block['ff1']['bias'][None, None])
    x = layer_norm(block['ln2'], h @ block['ff2']['kernel'] + block['ff2']['bias'][None, None] + u)
    hiddens.append(h)
    attentions.append(weights)
  return x[:, -1] @ params['out']['kernel'] + params['out']['bias'][None], hiddens, attentions


def _apply_yz(params: dict, tokens_BxL: jax.Array, vocab_size: int):
  x = jax.nn.one_hot(tokens_BxL, vocab_size)
  hiddens, attentions = [], []
  for i, layer in enumerate(params['layers']):
    weights = causal_softmax(jnp.einsum('bqd,de,bke->bqk', x, layer['Z'], x)[:, None])
    f = _unit(jnp.einsum('bqk,bkd->bqd', weights[:, 0], x))
    out = f @ layer['Y']
    hiddens.append(f)
    attentions.append(weights)
    if i < len(params['layers']) - 1:
      x = _unit(jax.nn.relu(out))
  return out[:, -1], hiddens, attentions
