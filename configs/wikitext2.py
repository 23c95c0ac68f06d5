"""WikiText-2 (paper Figs. 7 and 10): attention freezing and sparsity against the learning rate.

An ordinary decoder-only transformer (embedding 200, feed-forward 200, 1 head, 1 layer, dropout
0.2, sinusoidal positions), batch 20 × 35 tokens, SGD with gradient clipping 0.5; every parameter
at the rate η of its run (optimizer.lr), × 0.95 per epoch (docs/reference.md). The variants
fig7 and fig10 are the authors' own runs of the two figures: a constant rate, and for Fig. 7 the
feed-forward layers at twice the rate of the rest, with dropout 0.3. Variants join with '+':
sample+fig7 is Fig. 7's settings on the offline sample, sample+fig10 Fig. 10's five rates, and
sample+layers2 or sample+layers4 the sample with 2 or 4 layers; --config.model.depths='(1,2,4)'
trains the three depths in one grid.

  # The full dataset: a folder with wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens.
  python -m scan_snap.main --config=configs/wikitext2.py --config.data.dir=<wikitext-2 folder> \
      --workdir=runs/wikitext2
  python -m scan_snap.main --config=configs/wikitext2.py:fig7 --config.data.dir=<wikitext-2 folder>
  python -m scan_snap.main --config=configs/wikitext2.py:fig10 --config.data.dir=<wikitext-2 folder>
  # Offline, ≤ 20 min on a 2-core CPU: train on the validation and test splits but their last
  # 20,000 words, which are held out for evaluation; 3 seeds at one constant rate.
  python -m scan_snap.main --config=configs/wikitext2.py:sample \
      --config.data.dir=<wikitext-2 folder> --workdir=runs/wikitext2_sample
  python -m scan_snap.main --config=configs/wikitext2.py:sample+fig7 \
      --config.data.dir=<wikitext-2 folder>
  # Seconds, for tests: a slice of the same files.
  python -m scan_snap.main --config=configs/wikitext2.py:smoke \
      --config.data.dir=<wikitext-2 folder> --workdir=/tmp/wikitext2_smoke
"""

from scan_snap.core import config
from scan_snap.wikitext import config as text_config


def get_config(variant: str = ''):
  c = text_config.wikitext_config()
  c.data.train_split = 'train'
  c.data.eval_split = 'validation'
  c.optimizer.name = 'sgd'
  c.optimizer.lr = (1.0, 2.0, 5.0, 10.0, 20.0)
  c.train.steps = 30_000  # ≈ 10 epochs of 2,983 steps
  c.train.eval_every = 500
  c.train.checkpoint_every = 2_500
  c.sweep.num_seeds = 3
  c.sweep.runs_per_device = 15  # the whole 15-run grid in one call (a GPU)
  c.report.claims = ('entropy_falls_with_lr', 'attention_freezes', 'attended_words_freeze',
                     'attention_turns_dense')
  return config.apply_variant(c, variant, sample=_sample, smoke=_smoke, fig7=_fig7, fig10=_fig10,
                              layers2=lambda c: _layers(c, 2), layers4=lambda c: _layers(c, 4))


def _sample(c):
  """Offline, on the shipped files: trained on the validation and test splits together (455,000
  words, ≈ 630 steps per epoch) but their last 20,000 words, which are held out for evaluation;
  the 10,000 most frequent training words (97% of the tokens; the decoder's cost grows with the
  vocabulary, which is 18,026 words in full); the authors' Fig. 7 window, 2,000 steps with an
  evaluation every 100; one constant rate η = 5 for every parameter; 3 seeds."""
  text_config.set_sample_data(c)
  _fig7_window(c)


def _smoke(c):
  """Seconds: 8,000 training tokens of the validation split, 1,000 of the test split for
  evaluation, a 2,000-word vocabulary, 2 layers, two rates, 20 steps."""
  text_config.set_smoke_data(c)
  c.model.d_model = 32
  c.model.d_ff = 32
  c.model.num_layers = 2
  c.optimizer.lr = (1.0, 10.0)
  c.sweep.num_seeds = 1
  c.sweep.runs_per_device = 2


def _fig7(c):
  """The authors' Fig. 7 run: the feed-forward layers (ff1, ff2, their biases too) at rate 10 and
  every other parameter at 5, constant; dropout 0.3; 2,000 steps, the figure's window, its maps
  at steps 0, 500, …, 2,000; 3 seeds."""
  c.model.dropout = 0.3
  c.optimizer.lr_groups = (('ff1|ff2', 2.0),)
  _fig7_window(c)


def _fig7_window(c):
  """Fig. 7's window: 2,000 steps, an evaluation every 100, at one constant rate η = 5, 3 seeds
  trained in one call; with one rate, Fig. 10's trend has nothing to read (fig10 gives five)."""
  c.optimizer.lr = (5.0,)
  c.optimizer.lr_decay = 1.0
  c.train.steps = 2_000
  c.train.eval_every = 100
  c.train.checkpoint_every = 500
  c.figures.map_steps = (0, 500, 1_000, 1_500, 2_000)
  c.sweep.num_seeds = 3
  c.sweep.runs_per_device = 3
  c.figures.names = ('attended_words', 'attention_maps', 'training_curves')
  c.report.claims = ('attention_freezes', 'attended_words_freeze', 'attention_turns_dense')


def _fig10(c):
  """The authors' Fig. 10 runs: one constant rate for every parameter, at each η of the grid."""
  c.optimizer.lr = (1.0, 2.0, 5.0, 10.0, 20.0)
  c.optimizer.lr_groups = ()
  c.optimizer.lr_decay = 1.0
  c.figures.names = ('attended_words', 'attention_maps', 'entropy_vs_lr', 'training_curves')
  c.report.claims = ('entropy_falls_with_lr', 'attention_freezes', 'attended_words_freeze',
                     'attention_turns_dense')


def _layers(c, num_layers: int):
  """Several layers (the paper's multi-layer runs of Fig. 7): each layer's attention entropy and
  freezing are read, the first layer first."""
  c.model.num_layers = num_layers
