"""Syn-Medium (paper Fig. 6): sparsity of attention against η_Y and η_Z.

640 runs: num_last ∈ {1, 3, 5, 10} × η_Z ∈ {0.5, 1, 2, 3} × η_Y/η_Z ∈ {1, 2, 5, 10} × seeds 1–10;
Y and Z uniform in [−1/√M, 1/√M]; SGD with momentum 0.9; batch 128; T = 128; 100 steps.

  python -m scan_snap.main --config=configs/syn_medium.py --workdir=runs/syn_medium
  python -m scan_snap.main --config=configs/syn_medium.py:smoke --workdir=/tmp/syn_medium_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_medium_data(c)
  c.data.seq_len = (128,)
  c.data.batch_size = 128
  c.model.init = 'uniform'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (0.5, 1.0, 2.0, 3.0)
  c.optimizer.lr_y = (1.0, 2.0, 5.0, 10.0)
  c.optimizer.lr_y_relative = True
  c.train.steps = 100
  c.train.log_every = 10
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('entropy_grid',)
  c.report.claims = ('learning_rates',)
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: two data specs, a 2 × 2 learning-rate grid, 2 seeds, short runs."""
  c.data.num_last = (1, 3)
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.optimizer.lr_z = (1.0, 3.0)
  c.optimizer.lr_y = (1.0, 5.0)
  c.train.steps = 10
  c.train.log_every = 5
  c.sweep.num_seeds = 2
