"""The paper's Y/Z model on real text (Sec. 6 on WikiText-2): does a larger η_Z give sparser
attention, and η_Y ≫ η_Z denser attention, as on the synthetic sequence classes?

The model of the paper on one-hot words, after the authors' text version: Z = Z_query Z_keyᵀ and
Y = Y_out Y_inᵀ of rank 200, every position a query attending causally to the window, the
residual and the ℓ2 normalization (docs/reference.md). Z trains at η_Z = optimizer.lr and Y at
η_Y = factor × η_Z, each of η_Z and η_Y/η_Z a grid axis, SGD with gradient clipping 0.5 and
constant rates. The data are those of configs/wikitext2.py:sample: the validation and test
splits but their last 20,000 words (held out for evaluation), here with the 5,000 most frequent
words; 1,000 steps; η_Z ∈ {1, 3} × η_Y/η_Z ∈ {1, 3} × 3 seeds, trained together (≈ 15 min on a
2-core CPU). At η_Y = 30 the runs turn unstable (the validation loss rises above its start).

  python -m scan_snap.main --config=configs/wikitext2_yz.py \
      --config.data.dir=<wikitext-2 folder> --workdir=runs/wikitext2_yz
  # Seconds, for tests: a slice of the same files.
  python -m scan_snap.main --config=configs/wikitext2_yz.py:smoke \
      --config.data.dir=<wikitext-2 folder> --workdir=/tmp/wikitext2_yz_smoke
"""

from scan_snap.core import config
from scan_snap.wikitext import config as text_config


def get_config(variant: str = ''):
  c = text_config.wikitext_config()
  text_config.set_sample_data(c)
  c.data.max_vocab = 5_000
  c.model.kind = 'yz'
  c.model.dropout = 0.0
  c.optimizer.name = 'sgd'
  c.optimizer.lr_decay = 1.0
  c.optimizer.lr = (1.0, 3.0)  # η_Z
  c.optimizer.lr_groups = (('Y_', (1.0, 3.0)),)  # η_Y/η_Z
  c.train.steps = 1_000
  c.train.eval_every = 50
  c.train.checkpoint_every = 250
  c.sweep.num_seeds = 3
  c.sweep.runs_per_device = 6
  c.figures.names = ('attention_maps', 'entropy_vs_lr', 'training_curves')
  c.figures.map_steps = (0, 250, 500, 750, 1_000)
  c.report.claims = ('entropy_falls_with_lr', 'entropy_rises_with_lr_factor',
                     'attention_turns_dense')
  return config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """Seconds: 8,000 training tokens of the validation split, 1,000 of the test split for
  evaluation, a 2,000-word vocabulary, rank 16, 2 × 2 rates, 20 steps."""
  text_config.set_smoke_data(c)
  c.model.d_model = 16
  c.sweep.num_seeds = 2
  c.sweep.runs_per_device = 4
  c.figures.map_steps = ()
