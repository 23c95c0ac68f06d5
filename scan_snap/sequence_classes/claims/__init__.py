"""The paper's claims, measured on an experiment's results, each decided by a calibrated test.

CLAIMS is the registry that config.report.claims names, put together from the modules that
hold each subject's claims beside their code (theorems, token_prior, residual,
learning_rates, finite_data, solvers; common holds what they share); each entry gives its verdicts
(core/verdicts.py: an effect, its uncertainty, the test and α = 0.01) on a results.Results, the
report section they belong in, and what it needs: per-run columns, tables, reference runs.

  'frequency_bias'       Thm 2: every common token's logit falls and every distinct token's
                         rises (per token; at finite T over seeds, which shows its deviation)
  'token_prior'          Sec. 7: the learned prior b of every common token falls, of every
                         distinct token rises (Thm 2's signs, if the prior's coupling of the
                         queries keeps them)
  'residual'             Sec. 7: with the residual, every locally distinct token's logit
                         rises, every locally common token's falls and every distinct token's
                         rises; the residual raises, resp. lowers, the first two against the
                         same run without it
  'scanning'             Thm 3: distinct tokens lose attention from the rarest up, and each
                         relative gain grows monotonically (where η_Y ≫ η_Z)
  'snapping'             Thm 4: t₀ ∝ 1/η_Y, independent of η_Z, logarithmic growth after t₀
  'learning_rates'       Sec. 6: larger η_Z sparsens; η_Y beyond η_Z makes attention denser
  'recall'               Figs. 11–12: the same, read on the recall curves at the figure's rates
  'convergence_vs_sparsity'  Fig. 4: at fixed η_Z, larger η_Y converges faster, less sparse
  'adam_subsets'         Fig. 5: Adam's learning rates end on different distinct tokens
  'long_sequence_limit'  Lemma 2: the distance to the population dynamics falls as T grows
  'spurious_tokens'      Sec. 9: a larger training set suppresses the common tokens that a
                         small one makes look distinct
  'decoder_reduction'    a solver check: ξ(t) of docs/model.md against its closed form
  'flow_vs_steps'        a solver check: gradient descent converges to the flow like its step

A check on sampled training treats seeds as its independent units; one on deterministic
dynamics (population, flow) has no sampling noise and is exact. Diverged runs are left out and
counted in `measured`. Thresholds are stated in each docstring and never tuned to make a check
pass.
"""

from scan_snap.sequence_classes.claims import finite_data
from scan_snap.sequence_classes.claims import learning_rates
from scan_snap.sequence_classes.claims import residual
from scan_snap.sequence_classes.claims import solvers
from scan_snap.sequence_classes.claims import theorems
from scan_snap.sequence_classes.claims import token_prior


CLAIMS = {**theorems.CLAIMS, **token_prior.CLAIMS, **residual.CLAIMS,
          **learning_rates.CLAIMS, **finite_data.CLAIMS, **solvers.CLAIMS}
