"""Measurements of NOTES §3, computed on device from the parameters."""

import jax
import jax.numpy as jnp

from scan_snap import data
from scan_snap import model


def attention_frequencies(z_MxM: jax.Array, tables: data.ClassTables) -> jax.Array:
  """[K, S] c̃_{l|n} = P(l|m,n) e^{z_{m,l}} / Σ_k P(k|m,n) e^{z_{m,k}} on each class's support."""
  z_KxS = z_MxM[tables.query[:, None], tables.support]
  return jax.vmap(model.attention_counts)(z_KxS, tables.probs)


def distinct_entropy(ctilde_KxS: jax.Array, num_distinct: int) -> jax.Array:
  """Entropy (nats) of c̃_n restricted to n's distinct tokens and renormalized, mean over n.

  The distinct tokens are the last `num_distinct` support slots (see `data`).
  """
  distinct_KxU = ctilde_KxS[..., -num_distinct:]
  p_KxU = distinct_KxU / distinct_KxU.sum(axis=-1, keepdims=True)
  return jax.scipy.special.entr(p_KxU).sum(axis=-1).mean(axis=-1)
