"""The WikiText experiment's config: every key declared, validated, and frozen for jit.

A config file (configs/wikitext2.py, configs/wikitext103.py) starts from `wikitext_config()` and
sets its values. The learning-rate axis `optimizer.lr` (η) is a tuple; it × the seeds is the
grid. `optimizer.lr_groups` gives groups of parameters, by name, a rate of their own: a multiple
of η (wikitext.optimizer); a tuple of multiples is one more axis of the grid, and `model.depths`
(a tuple of depths) another, one group of runs per depth. `model.kind` picks the transformer or
the paper's Y/Z model (configs/wikitext2_yz.py).
"""

import itertools
import re

import ml_collections
import numpy as np

from scan_snap.core import config
from scan_snap.core import optimizer
from scan_snap.wikitext import data
from scan_snap.wikitext import model
from scan_snap.wikitext import optimizer as text_optimizer
from scan_snap.wikitext import train

def wikitext_config() -> ml_collections.ConfigDict:
  """Every key of a WikiText run, at the values of the paper's reference runs (one rate for
  every parameter; the authors' own groups are configs/wikitext2.py's fig7)."""
  c = ml_collections.ConfigDict()
  c.experiment = 'wikitext'

  c.data = ml_collections.ConfigDict()
  c.data.dir = ''  # a WikiText folder: wiki.{train,valid,test}.tokens (or .raw)
  c.data.variant = 'tokens'  # 'tokens' or 'raw': which files of the folder are read
  c.data.cache_dir = '~/.cache/scan_snap/tfds'  # where TFDS keeps the prepared array_record files
  c.data.train_split = 'train'  # the split(s) trained on ('validation+test'): the vocabulary's
  c.data.eval_split = 'validation'  # the split evaluated on, or 'heldout':
  c.data.heldout_tokens = 0  # the last words of the training stream, held out for evaluation
  c.data.tokenizer = 'whitespace'  # or 'basic_english', the authors' (data.TOKENIZERS)
  c.data.max_vocab = 0  # keep the max_vocab − 2 most frequent words (+ <eos>, <unk>); 0: all
  c.data.max_train_tokens = 0  # train on the first tokens of the split only; 0: all of it
  c.data.batch_size = 20  # parallel training streams
  c.data.bptt = 35  # tokens per training window (the sequence length L)

  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 10  # parallel evaluation streams
  c.eval.max_tokens = 0  # evaluate on the first tokens of the split only; 0: all of it
  c.eval.probe_position = 7  # token offset in the evaluation split of the first probe sequence
  c.eval.num_probe = 8  # consecutive probe sequences: their attention maps are recorded
  # The attention of each of the query_tokens most frequent words (ids 0 … Q − 1: <eos>, <unk>
  # and the Q − 2 most frequent training words) to key words, each of the key_tokens most
  # frequent one group and all others one, summed over the evaluation windows.
  c.eval.query_tokens = 50
  c.eval.key_tokens = 200

  c.model = ml_collections.ConfigDict()
  c.model.kind = 'transformer'  # or 'yz', the paper's Y/Z model (model.KINDS)
  c.model.d_model = 200  # D: the embedding dimension, or the rank of Y and Z
  c.model.num_layers = 1
  c.model.depths = ()  # a depth axis: (1, 2, 4) trains a group of runs at each depth
  c.model.dropout = 0.2
  # The transformer's only:
  c.model.d_ff = 200
  c.model.num_heads = 1
  c.model.sinusoidal_positions = True
  c.model.init = 'flax'  # or 'pytorch', the authors' (model.INITS)
  # The Y/Z model's only:
  c.model.residual = True  # u + e_{x_q}, and logits Y f + f
  c.model.normalize = True  # f = u/‖u‖₂

  c.optimizer = optimizer.config()  # the keys of core.optimizer.config, and:
  c.optimizer.clip_norm = 0.5  # gradient global-norm clipping
  c.optimizer.lr_decay = 0.95  # learning rates × lr_decay after each epoch
  c.optimizer.lr = (5.0,)  # grid axis: the learning rate η
  # ((pattern, factor), …): a parameter whose name ('blocks/0/ff1/kernel', …) the first of the
  # regular expressions matches trains at factor × η; every other one at η.
  c.optimizer.lr_groups = ()

  c.train = ml_collections.ConfigDict()
  c.train.steps = 30_000
  c.train.eval_every = 500  # steps between evaluations (metrics.jsonl lines, attention maps)
  c.train.checkpoint_every = 2_500  # steps between orbax checkpoints; a multiple of eval_every

  c.sweep = ml_collections.ConfigDict()
  c.sweep.first_seed = 1
  c.sweep.num_seeds = 1
  c.sweep.runs_per_device = 2  # runs each device trains per compiled call (vmapped together)

  c.figures = ml_collections.ConfigDict()
  c.figures.names = ('attended_words', 'attention_maps', 'entropy_vs_lr',
                     'training_curves')  # of figures.FIGURES
  c.figures.map_steps = ()  # evaluated steps shown in 'attention_maps'; (): six, evenly spaced

  c.report = ml_collections.ConfigDict()
  c.report.claims = ('entropy_falls_with_lr', 'attention_freezes', 'attended_words_freeze',
                     'attention_turns_dense')
  c.report.attended_mass = 0.5  # a query word attends to the fewest key words with this mass
  return c


def set_sample_data(c: ml_collections.ConfigDict) -> None:
  """The offline sample's data (configs/wikitext2.py:sample): the validation and test splits
  together but their last 20,000 words, which are held out for evaluation, and the 10,000 most
  frequent training words."""
  c.data.train_split = 'validation+test'
  c.data.eval_split = 'heldout'
  c.data.heldout_tokens = 20_000
  c.data.max_vocab = 10_000


def set_smoke_data(c: ml_collections.ConfigDict) -> None:
  """The smoke runs' data, seconds of training: 8,000 training tokens of the validation split,
  1,000 of the test split for evaluation, a 2,000-word vocabulary, 4 streams of 16-token
  windows, 2 probe sequences; 20 steps, evaluated every 5 and checkpointed every 10."""
  c.data.train_split = 'validation'
  c.data.eval_split = 'test'
  c.data.heldout_tokens = 0
  c.data.max_vocab = 2_000
  c.data.max_train_tokens = 8_000
  c.data.batch_size = 4
  c.data.bptt = 16
  c.eval.max_tokens = 1_000
  c.eval.num_probe = 2
  c.train.steps = 20
  c.train.eval_every = 5
  c.train.checkpoint_every = 10


def check(problems: config.Problems) -> None:
  """Records each out-of-range value of the config in `problems` (the figures and claims it
  names are checked when its plan is made: core.pipeline.plan)."""
  c, need = problems.config, problems.need
  positive = lambda v: config.is_int(v) and v >= 1
  d, e, m, o, t = c.data, c.eval, c.model, c.optimizer, c.train
  need(c.experiment == 'wikitext', 'experiment', "must be 'wikitext' here")
  need(isinstance(d.dir, str) and d.dir != '', 'data.dir',
       'must name a WikiText folder (wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens): '
       'pass --config.data.dir=<folder>')
  need(d.variant in data.VARIANTS, 'data.variant', f'must be one of {data.VARIANTS}')
  need(d.tokenizer in data.TOKENIZERS, 'data.tokenizer', f'must be one of {data.TOKENIZERS}')
  trained = data.splits_of(d.train_split) if isinstance(d.train_split, str) else (None,)
  need(all(s in data.SPLITS for s in trained) and len(set(trained)) == len(trained),
       'data.train_split', f'must be one of {tuple(data.SPLITS)}, or several of them joined by '
       "'+' (each once: 'validation+test')")
  need(d.eval_split in (*data.SPLITS, data.HELDOUT), 'data.eval_split',
       f'must be one of {(*data.SPLITS, data.HELDOUT)}')
  need(config.is_int(d.heldout_tokens) and d.heldout_tokens >= 0
       and (d.heldout_tokens > 0) == (d.eval_split == data.HELDOUT), 'data.heldout_tokens',
       f"must be a positive integer with data.eval_split = '{data.HELDOUT}', and 0 otherwise")
  for key in ('max_vocab', 'max_train_tokens'):
    need(config.is_int(d[key]) and d[key] >= 0, f'data.{key}', 'must be an integer ≥ 0 (0: all)')
  need(d.max_vocab == 0 or d.max_vocab >= 3, 'data.max_vocab', 'must be 0 (all words) or ≥ 3')
  for key in ('batch_size', 'bptt'):
    need(positive(d[key]), f'data.{key}', 'must be a positive integer')
  need(positive(e.batch_size), 'eval.batch_size', 'must be a positive integer')
  need(config.is_int(e.max_tokens) and e.max_tokens >= 0, 'eval.max_tokens',
       'must be an integer ≥ 0 (0: all)')
  need(config.is_int(e.probe_position) and e.probe_position >= 0, 'eval.probe_position',
       'must be an integer ≥ 0')
  for key in ('num_probe', 'query_tokens', 'key_tokens'):
    need(positive(e[key]), f'eval.{key}', 'must be a positive integer')
  need(config.is_real(c.report.attended_mass) and 0 < c.report.attended_mass < 1,
       'report.attended_mass', 'must lie in (0, 1)')

  for key in ('d_model', 'd_ff', 'num_heads'):
    need(positive(m[key]), f'model.{key}', 'must be a positive integer')
  need(positive(m.num_layers), 'model.num_layers', 'must be a positive integer')
  depths_ok = isinstance(m.depths, (tuple, list)) and all(positive(n) for n in m.depths)
  need(depths_ok, 'model.depths', 'must be a tuple of positive integers (a depth axis: one group '
       'of runs per depth), or () for model.num_layers alone')
  if depths_ok and m.depths:
    need(len(set(m.depths)) == len(m.depths), 'model.depths', 'must give each depth once')
    need(m.num_layers == 1, 'model.num_layers', 'must be 1 with model.depths, which gives the '
         'depths: add --config.model.num_layers=1 (variants such as smoke and layers2 set it)')
  depths_ok = depths_ok and positive(m.num_layers)
  need(not (positive(m.d_model) and positive(m.num_heads)) or m.d_model % m.num_heads == 0,
       'model.num_heads', 'must divide model.d_model')
  need(config.is_real(m.dropout) and 0 <= m.dropout < 1, 'model.dropout', 'must lie in [0, 1)')
  need(isinstance(m.sinusoidal_positions, bool), 'model.sinusoidal_positions', 'must be a bool')
  need(m.init in model.INITS, 'model.init', f'must be one of {model.INITS}')
  need(m.kind in model.KINDS, 'model.kind', f'must be one of {tuple(model.KINDS)}')
  for key in ('residual', 'normalize'):
    need(isinstance(m[key], bool), f'model.{key}', 'must be a bool')
  if m.kind == 'yz':
    need(not depths_ok or depths(c) == (1,), 'model.num_layers',
         "must be 1 with model.kind = 'yz', and model.depths () or (1,) (the paper's model has "
         'one layer)')
    need(m.dropout == 0, 'model.dropout', "must be 0 with model.kind = 'yz' (the Y/Z model has "
         'no dropout, as in the authors\' runs)')

  optimizer.check(problems)
  need(config.is_real(o.clip_norm) and o.clip_norm > 0, 'optimizer.clip_norm',
       'must be a positive number')
  need(config.is_real(o.lr_decay) and 0 < o.lr_decay <= 1, 'optimizer.lr_decay',
       'must lie in (0, 1]')
  need(config.learning_rates_ok(o.lr), 'optimizer.lr', config.LEARNING_RATES)
  _check_lr_groups(problems)
  if not problems.found:
    f32 = lambda x: float(np.float32(x))  # as the device rounds them
    need(all(f32(lr) * f32(factor) <= config.FLOAT32_MAX for lr in o.lr
             for _, factors in o.lr_groups for factor in _factors(factors)),
         'optimizer.lr_groups', f'× optimizer.lr must stay ≤ {config.FLOAT32_MAX:.4g} (float32)')
    config.check_distinct(problems, 'optimizer.lr', list(o.lr), 'η')
    for pattern, factors in o.lr_groups:
      if isinstance(factors, (tuple, list)):
        config.check_distinct(problems, 'optimizer.lr_groups', list(factors),
                              f'factor of {pattern!r}')

  evals_ok = config.check_evaluated_grid(problems)
  need(not evals_ok or all(config.is_int(s) and 0 <= s <= t.steps and s % t.eval_every == 0
                           for s in c.figures.map_steps),
       'figures.map_steps',
       'must be evaluated steps: multiples of train.eval_every ≤ train.steps')


def _factors(factor) -> tuple:
  """A group's factors: its one number, or the values of its axis."""
  return tuple(factor) if isinstance(factor, (tuple, list)) else (factor,)


def _check_lr_groups(problems: config.Problems) -> None:
  """optimizer.lr_groups: (pattern, factor) pairs, each pattern a regular expression that names
  at least one parameter of the model, each factor a positive number or a tuple of them."""
  c = problems.config
  groups, kind = c.optimizer.lr_groups, c.model.kind
  pairs_ok = isinstance(groups, (tuple, list)) and all(
      isinstance(g, (tuple, list)) and len(g) == 2 and isinstance(g[0], str)
      and len(_factors(g[1])) > 0
      and all(config.is_real(f) and 0 < f <= config.FLOAT32_MAX for f in _factors(g[1]))
      for g in groups)
  problems.need(pairs_ok, 'optimizer.lr_groups',
                "must be (pattern, factor) pairs, e.g. (('ff1|ff2', 2.0),): a regular expression "
                'and a positive multiple of optimizer.lr, or a tuple of them (a grid axis)')
  layers = [c.model.num_layers]
  if isinstance(c.model.depths, (tuple, list)) and c.model.depths:
    layers = list(c.model.depths)
  if (not pairs_ok or not all(config.is_int(n) and n >= 1 for n in layers)
      or kind not in model.KINDS):
    return
  # The shallowest network's names, which every deeper one has too: a pattern must name a
  # parameter at every depth, or an axis on it would train copies of the same run there.
  names = model.param_names(kind, min(layers))
  left = list(names)  # the names no earlier pattern took
  for pattern, _ in groups:
    try:
      matched = [n for n in left if re.search(pattern, n)]
    except re.error as error:
      problems.need(False, 'optimizer.lr_groups', f'holds {pattern!r}, not a regular expression '
                    f'({error})')
      continue
    taken = ' that the patterns before it have not taken' if len(left) < len(names) else ''
    problems.need(bool(matched), 'optimizer.lr_groups', f'holds {pattern!r}, which names no '
                  f'parameter{taken}: the names are ' + ', '.join(names))
    left = [n for n in left if n not in matched]


def depths(c: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The depths of the grid: model.depths, or model.num_layers alone."""
  return tuple(int(n) for n in c.model.depths) or (int(c.model.num_layers),)


def depth_axis(c: ml_collections.ConfigDict) -> bool:
  """Whether the grid has a depth axis (model.depths): its runs then hold 'num_layers'."""
  return bool(c.model.depths)


def depth_groups(c: ml_collections.ConfigDict, runs: list[dict]) -> list[tuple[int, list[dict]]]:
  """(depth, its runs) for each depth of the grid, in order: every run without a depth axis."""
  return [(n, [run for run in runs if run.get('num_layers', n) == n]) for n in depths(c)]


def run_config(c: ml_collections.ConfigDict, vocab_size: int, steps_per_epoch: int,
               num_layers: int | None = None) -> train.TextRunConfig:
  """The frozen config of every run of one depth of the grid (num_layers; None: the one depth
  of a grid without a depth axis); the rates and seeds stay traced."""
  o = c.optimizer
  return train.TextRunConfig(
      model=model_config(c, vocab_size, num_layers), optimizer=optimizer.from_config(o),
      lr_groups=lr_groups(c),
      clip_norm=o.clip_norm, lr_decay=o.lr_decay,
      steps_per_epoch=steps_per_epoch, steps=c.train.steps, eval_every=c.train.eval_every,
      query_tokens=min(c.eval.query_tokens, vocab_size),
      key_tokens=min(c.eval.key_tokens, vocab_size))


def model_config(c: ml_collections.ConfigDict, vocab_size: int, num_layers: int | None = None
                 ) -> model.TransformerConfig | model.YZConfig:
  """The frozen config of the model that model.kind names, num_layers deep (None: the one depth
  of a grid without a depth axis)."""
  m = c.model
  if num_layers is None:
    (num_layers,) = depths(c)
  if m.kind == 'yz':
    return model.YZConfig(vocab_size=vocab_size, max_len=c.data.bptt, rank=m.d_model,
                          residual=m.residual, normalize=m.normalize)
  return model.TransformerConfig(
      vocab_size=vocab_size, max_len=c.data.bptt, d_model=m.d_model, d_ff=m.d_ff,
      num_heads=m.num_heads, num_layers=num_layers, dropout=m.dropout,
      sinusoidal_positions=m.sinusoidal_positions, init=m.init)


def lr_groups(c: ml_collections.ConfigDict) -> tuple[tuple[str, float | tuple[float, ...]], ...]:
  """optimizer.lr_groups as the run config holds them: each factor a float, an axis a tuple."""
  return tuple((str(pattern), tuple(float(f) for f in factor)
                if isinstance(factor, (tuple, list)) else float(factor))
               for pattern, factor in c.optimizer.lr_groups)


def grid(c: ml_collections.ConfigDict) -> list[dict]:
  """The runs: {'seed', 'lr'}, each axis group's factor (text_optimizer.factor_key) and, with a
  depth axis, 'num_layers'; depth-major (each depth is one group of runs, trained in turn), then
  seed-major, then η-major, then in the order of the groups."""
  groups = lr_groups(c)
  keys = text_optimizer.axis_keys(groups)
  axes = [factors for _, factors in text_optimizer.axis_groups(groups)]
  depth = lambda n: {'num_layers': n} if depth_axis(c) else {}
  return [{'seed': s, 'lr': float(lr), **dict(zip(keys, factors)), **depth(n)}
          for n in depths(c) for s in config.seeds(c) for lr in c.optimizer.lr
          for factors in itertools.product(*axes)]
