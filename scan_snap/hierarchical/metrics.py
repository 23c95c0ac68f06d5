"""How far a block's hidden units encode a level's latent variables, as the authors measure it.

For level l and block b: z_i ∈ {0, 1} marks whether latent variable i of level l is active in
a sample, h_j = max over positions of hidden unit j of block b. Over a batch of samples,

    ρ_ij = ⟨z_i, h_j⟩ / (‖z_i‖ ‖h_j‖)             (uncentred: cosine of the raw columns)
    ρ_ij = ⟨z_i − z̄_i, h_j − h̄_j⟩ / (‖·‖ ‖·‖)     (centred: Pearson's correlation)

each norm + 10⁻⁹ as the authors'. The score of (l, b) is the mean of max_j ρ_ij over the
level's variables that the batch shows both active and inactive (a variable that no class uses
is never active: it has nothing to track): how well the block's best unit tracks each one.

  correlations(z, h, centred) -> ρ [n_l, units]
  scores(active, hiddens, centred) -> [levels, blocks]
  last_entropy(attention) -> the entropy of the last position's attention, in nats
  last_attention_by_class(attention, label, C) -> c̃ [C, L]: its mean per class
  snapping_step(steps, entropy) -> t₀: when a layer's attention entropy has made most of its fall
"""

import jax
import jax.numpy as jnp
import numpy as np

NORM_EPS = 1e-9  # the authors' guard against a zero norm
MIN_FALL = 0.05  # nats: an entropy that falls less has not snapped


def correlations(z_BxN: jax.Array, h_BxU: jax.Array, centred: bool) -> jax.Array:
  """ρ [N, U] of the columns of z and h over the batch (see the module docstring)."""
  if centred:
    z_BxN, h_BxU = z_BxN - z_BxN.mean(0, keepdims=True), h_BxU - h_BxU.mean(0, keepdims=True)
  z_norm = jnp.linalg.norm(z_BxN, axis=0) + NORM_EPS
  h_norm = jnp.linalg.norm(h_BxU, axis=0) + NORM_EPS
  return (z_BxN.T @ h_BxU) / (z_norm[:, None] * h_norm[None, :])


def scores(active: tuple[jax.Array, ...], hiddens: list[jax.Array], centred: bool) -> jax.Array:
  """score[l, b] = mean_i max_j ρ_ij over level l's variables that vary in the batch ([B, n_l]
  each) against block b's hidden units ([B, L, d_ff] each, max over positions); NaN for a
  level none of whose variables varies."""
  pooled = [h.max(axis=1) for h in hiddens]

  def score(z, h):
    varies = (z.min(axis=0) < z.max(axis=0)).astype(jnp.float32)
    return (correlations(z, h, centred).max(axis=1) * varies).sum() / varies.sum()

  return jnp.stack([jnp.stack([score(z, h) for h in pooled]) for z in active])


def last_entropy(weights_BxHxLxL: jax.Array) -> jax.Array:
  """−Σ_k a_k ln a_k of the last position's attention over its keys (where the class is read),
  mean over the batch and the heads: ln L when uniform, 0 on one key."""
  a = weights_BxHxLxL[..., -1, :]
  return -(a * jnp.log(jnp.where(a > 0, a, 1.0))).sum(-1).mean()


def last_attention_by_class(weights_BxHxLxL: jax.Array, label_B: jax.Array,
                            num_classes: int) -> jax.Array:
  """c̃ [C, L]: the last position's attention over the positions, mean over the heads and over
  each class's samples (on the authors' data a class is one sequence, so this is its map); 0
  for a class absent from the batch."""
  a_BxL = weights_BxHxLxL[..., -1, :].mean(axis=1)
  onehot_BxC = jax.nn.one_hot(label_B, num_classes)
  counts_C = onehot_BxC.sum(axis=0)
  return (onehot_BxC.T @ a_BxL) / jnp.maximum(counts_C, 1)[:, None]


def snapping_step(steps_E: np.ndarray, entropy_E: np.ndarray) -> float:
  """t₀ of one layer: the first evaluated step at which its entropy H has made a fraction
  1 − 1/e of its fall from step 0 to its least value, H(t₀) ≤ H₀ − (1 − 1/e)(H₀ − min H); NaN
  when it falls by less than MIN_FALL (or is not finite)."""
  h = np.asarray(entropy_E, float)
  if not np.isfinite(h).all() or h[0] - h.min() < MIN_FALL:
    return float('nan')
  level = h[0] - (1 - np.exp(-1)) * (h[0] - h.min())
  return float(np.asarray(steps_E)[np.argmax(h <= level)])
