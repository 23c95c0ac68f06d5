"""Syn-Small with Adam (paper Fig. 5): different learning rates pick different distinct tokens.

Syn-Small's data and zero start, trained with Adam at η_Y = η_Z ∈ {0.01, 0.03, 0.1,
0.3} for 100 steps. The figure shows c̃ of class 1 during training, one row per rate, and
names the distinct tokens each rate ends up attending to (renormalized attention ≥ 1/U);
the claim `adam_subsets` tests over 10 seeds that the rates end on different subsets.

  python -m scan_snap.main --config=configs/syn_small_adam.py --workdir=runs/syn_small_adam
  python -m scan_snap.main --config=configs/syn_small_adam.py:smoke --workdir=/tmp/adam_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_small_data(c)
  c.model.init = 'zeros'
  c.optimizer.name = 'adam'
  c.optimizer.lr_z = (0.01, 0.03, 0.1, 0.3)
  c.optimizer.lr_y = (1.0,)
  c.optimizer.lr_y_relative = True
  c.train.steps = 100
  c.train.log_every = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('attention_snapshots',)
  c.figures.snapshot_steps = (0, 2, 5, 10, 20, 50, 100)
  c.report.claims = ('adam_subsets',)
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: two rates, short sequences, 10 steps, 2 seeds."""
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.optimizer.lr_z = (0.03, 0.3)
  c.train.steps = 10
  c.figures.snapshot_steps = (0, 5, 10)
  c.sweep.num_seeds = 2
