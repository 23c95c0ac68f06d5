"""Sec. 7's learned token prior on Syn-Medium: a vector b added to every query's attention
logits, starting at 0 and trained at η_Z (model.token_prior). Theorem 2 predicts that b falls on
the common tokens and rises on the distinct ones; Sec. 6's trend of the final attention with η_Z
and η_Y/η_Z should survive it.

640 runs: num_last ∈ {1, 3, 5, 10} × η_Z ∈ {0.5, 1, 2, 3} × η_Y/η_Z ∈ {1, 2, 5, 10} × seeds 1–10;
Y and Z from zero, as Theorem 2 assumes; SGD with momentum 0.9; batch 128; T = 128; 100 steps.

  python -m scan_snap.main --config=configs/token_prior.py --workdir=runs/token_prior
  python -m scan_snap.main --config=configs/token_prior.py:long  # T = 512, where Theorem 2's
                                                                 # finite-T deviation is smaller
  python -m scan_snap.main --config=configs/token_prior.py:smoke --workdir=/tmp/token_prior_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_medium_data(c)
  c.data.seq_len = (128,)
  c.data.batch_size = 128
  c.model.init = 'zeros'
  c.model.token_prior = True
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (0.5, 1.0, 2.0, 3.0)
  c.optimizer.lr_y = (1.0, 2.0, 5.0, 10.0)
  c.optimizer.lr_y_relative = True
  c.train.steps = 100
  c.train.log_every = 10
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('entropy_grid', 'token_prior')
  c.report.claims = ('token_prior', 'learning_rates')
  return core_config.apply_variant(c, variant, long=_long, smoke=_smoke)


def _long(c):
  """T = 512, where Theorem 2's finite-T deviation is smaller: the rarest distinct tokens' b,
  which falls at T = 128 as their logits do, rises in most cells."""
  c.data.seq_len = (512,)


def _smoke(c):
  """A few seconds: two data specs, a 2 × 2 learning-rate grid, 2 seeds, short runs."""
  c.data.num_last = (1, 3)
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.optimizer.lr_z = (1.0, 3.0)
  c.optimizer.lr_y = (1.0, 2.0)
  c.train.steps = 10
  c.train.log_every = 5
  c.sweep.num_seeds = 2
