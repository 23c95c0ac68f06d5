"""Phase diagram of the learning-rate plane (beyond the paper): Syn-Medium's data at num_last 5.

10,240 runs: η_Z × η_Y on one log grid of 32 rates, 10^−2 to 10^4.2 in steps of 10^0.2 (the
diagonals are the rays η_Y/η_Z = const, the main one η_Y = η_Z), × seeds 1–10; T = 128, batch
128, 100 steps, SGD with momentum 0.9, Y and Z uniform in [−1/√M, 1/√M]. Every step is logged
for the snapping time t₀, and only the last step's attention is kept per run, so that memory
does not grow with the grid. Writes phase_diagram.csv (one row per cell, keyed by the grid's
indices) and the heat maps of the final distinct-token entropy (mean and standard error over
seeds), the steps to a loss of report.loss_threshold, t₀, and the fraction of diverged runs, with
Syn-Medium's 16 points and the line η_Y = η_Z drawn on top.

  python -m scan_snap.main --config=configs/phase_diagram.py --workdir=runs/phase_diagram
  python -m scan_snap.main --config=configs/phase_diagram.py:smoke --workdir=/tmp/pd_smoke
"""

from scan_snap.core import config as core_config
from scan_snap.sequence_classes import config


def rates(num: int, step: float, first: float = -2.0) -> tuple[float, ...]:
  """`num` rates 10^first, 10^(first + step), …, at 4 significant digits."""
  return tuple(float(f'{10 ** (first + step * i):.4g}') for i in range(num))


def get_config(variant: str = ''):
  c = config.sequence_classes_config()
  config.set_syn_medium_data(c)
  c.data.num_last = (5,)
  c.data.seq_len = (128,)
  c.data.batch_size = 128
  c.model.init = 'uniform'
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.lr_z = rates(32, 0.2)
  c.optimizer.lr_y = rates(32, 0.2)
  c.optimizer.lr_y_relative = False
  c.train.steps = 100
  c.train.log_every = 1
  c.train.trajectories = False
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.figures.names = ('phase_diagram',)
  c.report.claims = ('phase_diagram',)
  return core_config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A few seconds: a 5 × 5 grid over the same span (steps of 10^1.55), 3 seeds, T = 16."""
  c.data.seq_len = (16,)
  c.data.batch_size = 16
  c.optimizer.lr_z = rates(5, 1.55)
  c.optimizer.lr_y = rates(5, 1.55)
  c.train.steps = 20
  c.sweep.num_seeds = 3
