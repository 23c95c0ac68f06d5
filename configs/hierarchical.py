"""Hierarchical latent-tree classes and the authors' transformer (after JoMA, Tian et al. 2023):
does block l of a trained network encode level l of the latent tree?

M = 20 tokens (19 real, 1 padding), L = 20; level 0 holds 20 latent variables, each a distinct
set of 3 tokens; level 1 the 10 classes, each a set of 3 level-0 variables; a fresh tree per
seed. The transformer: d = 64, one head, feed-forward width 256, post-LayerNorm blocks with
residuals, no positional encoding. SGD, momentum 0.9, weight decay 5·10⁻³, η = 0.01, batch
128, 1,000 steps. The grid: depth ∈ {1, 2, 4} blocks × seeds 1–10: 30 runs.

  python -m scan_snap.main --config=configs/hierarchical.py --workdir=runs/hierarchical
  python -m scan_snap.main --config=configs/hierarchical.py:smoke --workdir=/tmp/hier_smoke

As the authors draw the data, a class always expands to the same tokens: 10 distinct sequences.
`:varied` (beyond the authors) activates each child of an active variable with probability
0.7, so that the level-0 variables vary within a class and can be read apart from it. `:yz`
trains the paper's Y/Z model two layers deep instead (plain SGD, η ∈ {1, 3, 10}) and asks
whether its first layer's attention snaps before its second's (`:smoke+yz`: in seconds).
"""

from scan_snap.core import config as core_config
from scan_snap.hierarchical import config


def get_config(variant: str = ''):
  c = config.hierarchical_config()
  c.data.vocab_size = 20
  c.data.seq_len = 20
  c.data.num_latents = (20, 10)
  c.data.num_combinations = (3, 3)
  c.data.child_prob = 1.0
  c.data.batch_size = 128
  c.eval.batch_size = 1280
  c.model.d_model = 64
  c.model.d_ff = 256
  c.model.num_heads = 1
  c.model.num_layers = (1, 2, 4)
  c.optimizer.name = 'sgd'
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 5e-3
  c.optimizer.lr = (0.01,)
  c.train.steps = 1000
  c.train.eval_every = 100
  c.train.checkpoint_every = 500
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.sweep.runs_per_device = 10
  c.figures.names = ('scores',)
  c.report.claims = ('latents_learned', 'levels_in_own_blocks')
  return core_config.apply_variant(c, variant, smoke=_smoke, varied=_varied, yz=_yz)


def _varied(c):
  """Each child of an active variable active with probability 0.7."""
  c.data.child_prob = 0.7


def _smoke(c):
  """A few seconds: a smaller network at depths 1 and 2, 3 seeds, 2 rates, short runs."""
  c.eval.batch_size = 256
  c.model.d_model = 16
  c.model.d_ff = 32
  c.model.num_layers = (1, 2)
  c.optimizer.lr = (0.01, 0.02)
  c.train.steps = 40
  c.train.eval_every = 20
  c.train.checkpoint_every = 20
  c.sweep.num_seeds = 3
  c.sweep.runs_per_device = 6


def _yz(c):
  """The paper's Y/Z model, two layers (inner width 40; Z from 0, Y random), plain SGD at
  η ∈ {1, 3, 10} for Y and Z alike, evaluated every 10 steps for the snapping steps."""
  c.model.kind = 'yz'
  c.model.num_layers = (2,)
  c.model.hidden_vocab = 40
  c.optimizer.momentum = 0.0
  c.optimizer.weight_decay = 0.0
  c.optimizer.lr = (1.0, 3.0, 10.0)
  c.train.eval_every = 10
  c.figures.names = ('scores', 'attention_entropy', 'attention_by_class')
  c.report.claims = ('latents_learned', 'levels_in_own_blocks', 'layers_snap_in_order')
