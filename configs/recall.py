"""Recall at threshold (paper Appendix G, Figs. 11–12) on Syn-Medium's data.

Syn-Medium's settings with an absolute grid η_Y ∈ {1, 2, 5, 10} × η_Z ∈ {0.5, 1, 2, 3}, so
that curves can vary η_Z at a fixed η_Y (5) and η_Y at a fixed η_Z (1); 640 runs. A token is
attended when its renormalized distinct attention is at least the threshold (× 1/U).

  python -m scan_snap.main --config=configs/recall.py --workdir=runs/recall
  python -m scan_snap.main --config=configs/recall.py:smoke --workdir=/tmp/recall_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_medium_data(c)
  c.model.init = 'uniform'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (0.5, 1.0, 2.0, 3.0)
  c.optimizer.lr_y = (1.0, 2.0, 5.0, 10.0)
  c.optimizer.lr_y_relative = False
  c.train.steps = 100
  c.train.log_every = 10
  c.sweep.num_seeds = 10
  c.figures.names = ('recall',)
  c.figures.recall_lr_y = 5.0
  c.figures.recall_lr_z = 1.0
  c.report.claims = ('recall',)
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: one data spec, a 2 × 2 grid, 2 seeds, short runs."""
  c.data.num_last = (1,)
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.optimizer.lr_z = (1.0, 3.0)
  c.optimizer.lr_y = (5.0, 10.0)
  c.train.steps = 10
  c.train.log_every = 5
  c.sweep.num_seeds = 2
