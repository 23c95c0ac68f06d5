"""Syn-Small (paper Fig. 4): two classes, zero start, the scan of the distinct tokens; at fixed
η_Z, larger η_Y converges faster but leaves attention less sparse.

num_last 2, num_next_per_last 1, 10 common tokens, 10 distinct tokens per class; Y = Z = 0;
SGD with momentum 0.9, η_Z = 1 and η_Y ∈ {1, 2, 5, 10}; batch 128; T = 128; 100 steps, c̃
logged every step; 10 seeds. The figure shows one row per η_Y.

  python -m scan_snap.main --config=configs/syn_small.py --workdir=runs/syn_small
  python -m scan_snap.main --config=configs/syn_small.py:smoke --workdir=/tmp/syn_small_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_small_data(c)
  c.data.seq_len = (128,)
  c.data.batch_size = 128
  c.model.init = 'zeros'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = (1.0,)
  c.optimizer.lr_y = (1.0, 2.0, 5.0, 10.0)  # η_Y/η_Z, at η_Z = 1
  c.optimizer.lr_y_relative = True
  c.train.steps = 100
  c.train.log_every = 1
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('attention_snapshots',)
  c.figures.snapshot_steps = (0, 2, 4, 6, 8, 10, 100)
  c.figures.snapshot_class = 0
  c.report.claims = ('frequency_bias', 'scanning', 'convergence_vs_sparsity')
  c.report.loss_threshold = 0.1  # nats: the right next token at probability ≈ e^−0.1 ≈ 0.9
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: η_Y ∈ {1, 10}, short sequences, small batch, 10 steps, 2 seeds."""
  c.optimizer.lr_y = (1.0, 10.0)
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.train.steps = 10
  c.figures.snapshot_steps = (0, 2, 4, 10)
  c.sweep.num_seeds = 2
