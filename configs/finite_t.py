"""Finite T → ∞ (paper Lemma 2): sampled training approaches the population dynamics.

Syn-Small's setting (zero start, SGD with momentum 0.9, η_Y = η_Z = 1, batch 128, 100 steps)
at T ∈ {32, 128, 512, 2048}, 10 seeds each, against the population run (n_l → P(l|m,n)) with
the same optimizer. Writes long_sequence_limit.csv (the distance per T) and its figure.

  python -m scan_snap.main --config=configs/finite_t.py --workdir=runs/finite_t
  python -m scan_snap.main --config=configs/finite_t.py:smoke --workdir=/tmp/finite_t_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_small_data(c)
  c.data.seq_len = (32, 128, 512, 2048)
  c.data.batch_size = 128
  c.model.init = 'zeros'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (1.0,)
  c.optimizer.lr_y = (1.0,)
  c.train.steps = 100
  c.train.log_every = 5
  c.sweep.num_seeds = 10
  c.figures.names = ('long_sequence_limit',)
  c.report.claims = ('long_sequence_limit', 'frequency_bias')
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: T ∈ {8, 64}, small batches, 10 steps, 4 seeds."""
  c.data.seq_len = (8, 64)
  c.data.batch_size = 32
  c.train.steps = 10
  c.sweep.num_seeds = 4
