"""Sec. 7's residual connection: f = (u + e_m)/‖u + e_m‖, on classes whose tokens are shared
within a query's classes (locally common) or only across queries (locally distinct). With the
residual, Theorem 2 should hold within each query's classes: the locally distinct and the
distinct tokens' logits rise and the locally common ones' fall (the rarest distinct tokens fall:
docs/model.md). Each run is repeated without the residual, seed for seed, to measure what the
residual itself changes.

2 × 9 × 10 runs, and as many without the residual: num_last ∈ {2, 4}, two classes per query;
per class 5 common tokens (all classes), 5 query-common (its query's classes), 5 shared across
queries (the class in its place under every other query), 5 distinct; η_Z ∈ {0.5, 1, 2} ×
η_Y/η_Z ∈ {1, 5, 10} × seeds 1–10; Y and Z from zero, as Theorem 2 assumes; SGD with momentum
0.9; batch 128; T = 128; 100 steps.

  python -m scan_snap.main --config=configs/residual.py --workdir=runs/residual
  python -m scan_snap.main --config=configs/residual.py:smoke --workdir=/tmp/residual_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  c.data.family = 'shared_across_queries'
  c.data.num_last = (2, 4)
  c.data.num_next_per_last = 2
  c.data.num_common = 5
  c.data.num_common_per_last = 5
  c.data.num_shared_across = 5
  c.data.num_unique_per_next = 5
  c.data.seq_len = (128,)
  c.data.batch_size = 128
  c.model.init = 'zeros'
  c.model.residual = True
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (0.5, 1.0, 2.0)
  c.optimizer.lr_y = (1.0, 5.0, 10.0)
  c.optimizer.lr_y_relative = True
  c.train.steps = 100
  c.train.log_every = 10
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('residual',)
  c.report.claims = ('residual',)
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: one data spec, a 2 × 2 learning-rate grid, 3 seeds, short runs."""
  c.data.num_last = (2,)
  c.data.num_common = 2
  c.data.num_common_per_last = 2
  c.data.num_shared_across = 2
  c.data.num_unique_per_next = 2
  c.data.seq_len = (32,)
  c.data.batch_size = 32
  c.optimizer.lr_z = (1.0, 2.0)
  c.optimizer.lr_y = (1.0, 5.0)
  c.train.steps = 20
  c.train.log_every = 5
  c.sweep.num_seeds = 3
