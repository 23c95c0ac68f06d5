"""The hierarchical-class experiment's config: every key declared, validated, and frozen for jit.

configs/hierarchical.py starts from `hierarchical_config()` (the authors' settings) and sets its
values. The grid is sweep's seeds × optimizer.lr (η) × model.num_layers (the depth); each depth
is one group of runs, compiled once.
"""

from typing import NamedTuple

import ml_collections

from scan_snap.core import config
from scan_snap.core import optimizer
from scan_snap.hierarchical import data
from scan_snap.hierarchical import model
from scan_snap.hierarchical import train


MODELS = ('transformer', 'yz')


def hierarchical_config() -> ml_collections.ConfigDict:
  """Every key, at the authors' values (facebookresearch/luckmatters,
  ssl/real-dataset/config/decoder_only_hier.yaml) and a depth axis of 1, 2 and 4 blocks."""
  c = ml_collections.ConfigDict()
  c.experiment = 'hierarchical'

  c.data = ml_collections.ConfigDict()
  c.data.vocab_size = 20  # M: tokens 0 … M − 2, and M − 1, the padding
  c.data.seq_len = 20  # L
  c.data.num_latents = (20, 10)  # latent variables per level, bottom first; the last: classes
  c.data.num_combinations = (3, 3)  # variables of the level below in each variable of a level
  c.data.child_prob = 1.0  # each child of an active variable active with this probability
  c.data.batch_size = 128  # fresh samples per training step

  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 1280  # the run's fixed evaluation samples, read at every evaluation

  c.model = ml_collections.ConfigDict()
  c.model.kind = 'transformer'  # 'transformer' (the authors') or 'yz' (the paper's Y/Z, stacked)
  c.model.d_model = 64
  c.model.d_ff = 256
  c.model.num_heads = 1
  c.model.num_layers = (1, 2, 4)  # grid axis: the depth
  c.model.hidden_vocab = 40  # 'yz': the width D_l of its inner layers

  c.optimizer = optimizer.config(name='sgd', momentum=0.9, weight_decay=5e-3)
  c.optimizer.lr = (0.01,)  # grid axis: the learning rate η

  c.train = ml_collections.ConfigDict()
  c.train.steps = 1000
  c.train.eval_every = 100  # steps between evaluations (metrics.jsonl lines, scores)
  c.train.checkpoint_every = 500  # steps between orbax checkpoints; a multiple of eval_every

  c.sweep = ml_collections.ConfigDict()
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 10
  c.sweep.runs_per_device = 10  # runs each device trains per compiled call (vmapped together)

  c.figures = ml_collections.ConfigDict()
  c.figures.names = ('scores',)  # of figures.FIGURES

  c.report = ml_collections.ConfigDict()
  c.report.claims = ('latents_learned', 'levels_in_own_blocks')  # of claims.CLAIMS
  return c


def check(problems: config.Problems) -> None:
  """Records each out-of-range value of the config in `problems`."""
  c, need = problems.config, problems.need
  positive = lambda v: config.is_int(v) and v >= 1
  positives = lambda v: (isinstance(v, (tuple, list)) and len(v) > 0
                         and all(positive(x) for x in v))
  d, m = c.data, c.model
  need(c.experiment == 'hierarchical', 'experiment', "must be 'hierarchical' here")
  need(config.is_int(d.vocab_size) and d.vocab_size >= 3, 'data.vocab_size',
       'must be an integer ≥ 3 (real tokens and the padding)')
  for key in ('seq_len', 'batch_size'):
    need(positive(d[key]), f'data.{key}', 'must be a positive integer')
  for key in ('num_latents', 'num_combinations'):
    need(positives(d[key]), f'data.{key}', 'must be a tuple of positive integers, one per level')
  need(not (positives(d.num_latents) and positives(d.num_combinations))
       or len(d.num_latents) == len(d.num_combinations), 'data.num_combinations',
       'must have one entry per level of data.num_latents')
  need(config.is_real(d.child_prob) and 0 < d.child_prob <= 1, 'data.child_prob',
       'must lie in (0, 1] (1: every child, as the authors draw the data)')
  if not problems.found:
    for problem in spec(c).problems():
      need(False, 'data', problem)
  need(positive(c.eval.batch_size) and c.eval.batch_size >= 2, 'eval.batch_size',
       'must be an integer ≥ 2 (the scores are correlations over it)')
  need(m.kind in MODELS, 'model.kind', f'must be one of {MODELS}')
  for key in ('d_model', 'd_ff', 'num_heads', 'hidden_vocab'):
    need(positive(m[key]), f'model.{key}', 'must be a positive integer')
  need(not (positive(m.d_model) and positive(m.num_heads)) or m.d_model % m.num_heads == 0,
       'model.num_heads', 'must divide model.d_model')
  need(positives(m.num_layers) and len(set(m.num_layers)) == len(m.num_layers),
       'model.num_layers', 'must be distinct positive integers (the depths of the grid)')
  optimizer.check(problems)
  need(config.learning_rates_ok(c.optimizer.lr), 'optimizer.lr', config.LEARNING_RATES)
  if config.learning_rates_ok(c.optimizer.lr):
    config.check_distinct(problems, 'optimizer.lr', list(c.optimizer.lr), 'η')
  config.check_evaluated_grid(problems)


def spec(c: ml_collections.ConfigDict) -> data.LatentTree:
  d = c.data
  return data.LatentTree(vocab_size=d.vocab_size, seq_len=d.seq_len,
                         num_latents=tuple(d.num_latents),
                         num_combinations=tuple(d.num_combinations),
                         child_prob=float(d.child_prob))


def run_config(c: ml_collections.ConfigDict, num_layers: int) -> train.RunConfig:
  """The frozen config of the runs of depth `num_layers` (the rates and seeds stay traced)."""
  m, s = c.model, spec(c)
  if m.kind == 'yz':
    network = model.YZConfig(vocab_size=s.vocab_size, num_classes=s.num_classes,
                             num_layers=num_layers, hidden_vocab=m.hidden_vocab)
  else:
    network = model.TransformerConfig(vocab_size=s.vocab_size, num_classes=s.num_classes,
                                      d_model=m.d_model, d_ff=m.d_ff, num_heads=m.num_heads,
                                      num_layers=num_layers)
  return train.RunConfig(
      spec=s, model=network,
      optimizer=optimizer.from_config(c.optimizer), batch_size=c.data.batch_size,
      eval_batch_size=c.eval.batch_size, steps=c.train.steps, eval_every=c.train.eval_every)


class Group(NamedTuple):
  """The runs of one depth: {'seed', 'lr'}, seed-major."""

  num_layers: int
  runs: list[dict]


def grid(c: ml_collections.ConfigDict) -> list[Group]:
  """The groups, one per depth, in the order of model.num_layers."""
  runs = [{'seed': s, 'lr': float(lr)} for s in config.seeds(c) for lr in c.optimizer.lr]
  return [Group(n, runs) for n in c.model.num_layers]


def num_params(c: ml_collections.ConfigDict, num_layers: int) -> int:
  """The parameters of one network of depth num_layers."""
  if c.model.kind == 'yz':
    rc = run_config(c, num_layers)
    dims = model.widths(rc.model)
    return sum(a * a + a * b for a, b in zip(dims[:-1], dims[1:]))
  d, f = c.model.d_model, c.model.d_ff
  block = 3 * d * d + 2 * d * f + f + d + 4 * d
  return c.data.vocab_size * d + num_layers * block + (d + 1) * c.data.num_latents[-1]
