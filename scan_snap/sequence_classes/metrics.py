"""Measurements of docs/model.md, computed on device from the parameters."""

import jax
import jax.numpy as jnp

from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import model


def attention_frequencies(z_KxS: jax.Array, tables: data.ClassTables) -> jax.Array:
  """[K, S] c̃_{l|n} = P(l|m,n) e^{z_{m,l}} / Σ_k P(k|m,n) e^{z_{m,k}}, from model.support_logits."""
  return jax.vmap(model.attention_counts)(z_KxS, tables.probs)


def distinct_entropy(logits_KxS: jax.Array, probs_KxS: jax.Array, num_distinct: int) -> jax.Array:
  """Entropy (nats) of c̃_n restricted to n's distinct tokens and renormalized, mean over n.

  The distinct tokens are the last `num_distinct` support slots (see `data`).
  """
  return jax.scipy.special.entr(distinct_attention(logits_KxS, probs_KxS, num_distinct)).sum(
      axis=-1).mean(axis=-1)


def distinct_attention(logits_KxS: jax.Array, probs_KxS: jax.Array,
                       num_distinct: int) -> jax.Array:
  """[K, U] c̃_n on n's distinct tokens, renormalized to sum 1 (the last U support slots):
  softmax over them of z_{m,l} + ln P(l|m,n). Computed from the logits, it stays defined when
  attention has collapsed onto the common tokens and c̃ of every distinct token underflows."""
  probs_KxS = jnp.broadcast_to(probs_KxS, jnp.shape(logits_KxS))  # Leading axes: runs, steps.
  return jax.nn.softmax(logits_KxS[..., -num_distinct:]
                        + jnp.log(probs_KxS[..., -num_distinct:]), axis=-1)


def recall_at_thresholds(logits_KxS: jax.Array, probs_KxS: jax.Array, num_distinct: int,
                         thresholds: jax.Array) -> jax.Array:
  """Paper Appendix G: the fraction of distinct tokens whose renormalized attention is at
  least each threshold, averaged over the next tokens; one value per threshold."""
  distinct = distinct_attention(logits_KxS, probs_KxS, num_distinct)
  thresholds = jnp.reshape(jnp.asarray(thresholds), (1,) * distinct.ndim + (-1,))
  return (distinct[..., None] >= thresholds).mean(axis=(-3, -2))
