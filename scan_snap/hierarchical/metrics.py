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
"""

import jax
import jax.numpy as jnp

NORM_EPS = 1e-9  # the authors' guard against a zero norm


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
