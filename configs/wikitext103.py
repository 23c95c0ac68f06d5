"""WikiText-103 (paper Figs. 7 and 10): the WikiText-2 experiment on the 103M-token corpus.

Settings as configs/wikitext2.py; one epoch is ≈ 147,000 steps of 20 × 35 tokens, so the
default trains one epoch per run, 5 rates × 3 seeds. Meant for a GPU; evaluation uses the first 200,000 tokens of
the validation split.

  python -m scan_snap.main --config=configs/wikitext103.py \
      --config.data.dir=<wikitext-103 folder> --workdir=runs/wikitext103
  python -m scan_snap.main --config=configs/wikitext103.py:smoke \
      --config.data.dir=<wikitext-103 folder> --workdir=/tmp/wikitext103_smoke
"""

from scan_snap.core import config
from scan_snap.wikitext import config as text_config


def get_config(variant: str = ''):
  c = text_config.wikitext_config()
  c.data.train_split = 'train'
  c.data.eval_split = 'validation'
  c.eval.max_tokens = 200_000
  c.optimizer.name = 'sgd'
  c.optimizer.lr = (1.0, 2.0, 5.0, 10.0, 20.0)
  c.train.steps = 150_000
  c.train.eval_every = 5_000
  c.train.checkpoint_every = 10_000
  c.sweep.num_seeds = 3  # the claims' unit: 3 seeds at least
  c.sweep.runs_per_device = 5  # one seed's 5 rates in one call (a GPU)
  c.report.claims = ('entropy_falls_with_lr', 'attention_freezes', 'attended_words_freeze',
                     'attention_turns_dense')
  return config.apply_variant(c, variant, smoke=_smoke)


def _smoke(c):
  """A short check of a WikiText-103 folder: 100,000 training tokens, 40 steps."""
  c.data.max_train_tokens = 100_000
  c.eval.max_tokens = 5_000
  c.optimizer.lr = (1.0, 10.0)
  c.sweep.num_seeds = 1
  c.sweep.runs_per_device = 2
  c.train.steps = 40
  c.train.eval_every = 10
  c.train.checkpoint_every = 20
