"""Phase transition (paper Fig. 3, Theorem 4): population dynamics over 10⁴ steps.

Syn-Small's classes with K = 2, 6 and 10 queries (M = 34, 82, 130) trained on the
long-sequence limit (T → ∞, the expected gradient) from a zero start by plain gradient descent:
η_Y ∈ {0.03, …, 3} (2 decades, 6 values) × η_Z ∈ {0.003, 0.01, 0.03, 0.1}. For each run, the
growth of the most frequent distinct token's logit and its snapping time t₀
(results.transition_time); a report of Theorems 2, 3 and 4 (t₀·η_Y/(2K ln M) per K, its slopes
in η_Y and η_Z), and two solver checks: the decoder reduction of docs/model.md and the flow
against descent. Use
--config.train.dynamics=flow for the gradient flow.

  python -m scan_snap.main --config=configs/phase_transition.py --workdir=runs/phase_transition
  python -m scan_snap.main --config=configs/phase_transition.py:smoke --workdir=/tmp/pt_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_small_data(c)
  c.data.num_last = (2, 6, 10)
  c.model.init = 'zeros'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.0
  c.optimizer.lr_y = (0.03, 0.06, 0.1, 0.3, 1.0, 3.0)
  c.optimizer.lr_z = (0.003, 0.01, 0.03, 0.1)
  c.optimizer.lr_y_relative = False
  c.train.dynamics = 'population'
  c.train.steps = 10_000
  c.train.log_every = 1
  c.sweep.num_seeds = 1  # Deterministic: the zero start and the population gradient.
  c.sweep.seeds_per_device = 1
  c.figures.names = ('snapping',)
  c.report.claims = ('snapping', 'frequency_bias', 'scanning', 'decoder_reduction',
                     'flow_vs_steps')
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: K = 2, 300 steps, three η_Y, one η_Z."""
  c.data.num_last = (2,)
  c.optimizer.lr_y = (0.3, 1.0, 3.0)
  c.optimizer.lr_z = (0.03,)
  c.train.steps = 300
