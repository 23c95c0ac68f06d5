"""What several tests share: the checkout's root, its config files, the WikiText-2 files the
WikiText tests read, and tiny WikiText models, runs and token streams."""

import os
import pathlib

from scan_snap.core import config_files

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted(p for p in (ROOT / 'configs').glob('*.py') if p.stem != '__init__')
# The real WikiText-2 validation and test files: ../shared/data/wikitext-2 beside the checkout,
# or the folder named by $SCAN_SNAP_WIKITEXT_DIR.
WIKITEXT_DIR = pathlib.Path(os.environ.get('SCAN_SNAP_WIKITEXT_DIR',
                                           ROOT.parent / 'shared' / 'data' / 'wikitext-2'))


def load_config(name: str, variant: str = ''):
  """configs/<name>.py's get_config(variant), loaded as the command line would load it."""
  return config_files.load(ROOT / 'configs' / f'{name}.py', variant)


def finished_chunks(workdir: pathlib.Path) -> int:
  """The finished chunk checkpoints of a sequence-class work directory (orbax writes each to a
  temporary folder first, and renames it to its number when complete)."""
  return sum(path.name.isdigit() for path in workdir.glob('checkpoints/*/*'))


# Tiny WikiText fixtures. They import the WikiText stack (flax, TFDS) when called, so that the
# sequence-class tests do not load it.
# pylint: disable=g-import-not-at-top


def needs_wikitext(test):
  """Skips `test` (a test or a test case) unless the WikiText-2 files are at WIKITEXT_DIR."""
  from absl.testing import absltest
  return absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                             f'no WikiText-2 files at {WIKITEXT_DIR} (set '
                             'SCAN_SNAP_WIKITEXT_DIR)')(test)


def text_optimizer(**overrides):
  """The core.optimizer.OptimizerConfig of plain SGD, with `overrides`."""
  from scan_snap.core import optimizer
  return optimizer.from_config(optimizer.config(**overrides))


def tiny_transformer(**overrides):
  """A two-layer transformer of 24 words and 8 positions: (its config, graphdef, params)."""
  from flax import nnx
  from scan_snap.wikitext import model
  cfg = model.TransformerConfig(**{
      'vocab_size': 24, 'max_len': 8, 'd_model': 16, 'd_ff': 12, 'num_heads': 2,
      'num_layers': 2, 'dropout': 0.0, **overrides})
  graphdef, params = nnx.split(model.Transformer(cfg, rngs=nnx.Rngs(0)))
  return cfg, graphdef, params


def tiny_tokens(vocab_size: int = 24, bptt: int = 8):
  """The train.TextData of random words: 4 training and 2 evaluation streams, 2 probes."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from scan_snap.wikitext import data
  from scan_snap.wikitext import train
  ids = jax.random.randint(jax.random.key(5), (3000,), 0, vocab_size)
  return train.TextData(train_BxN=jnp.asarray(data.batchify(np.asarray(ids[:2000]), 4)),
                        eval_ExN=jnp.asarray(data.batchify(np.asarray(ids[2000:2400]), 2)),
                        probe_PxL=ids[2400:2400 + 2 * bptt].reshape(2, bptt))


def tiny_text_run(**overrides):
  """The train.TextRunConfig of tiny_transformer (dropout 0.1) and tiny_tokens: 12 steps,
  evaluated every 6, the attention of 6 query words to 10 key words, with `overrides`."""
  from scan_snap.wikitext import train
  cfg, _, _ = tiny_transformer(dropout=0.1)
  return train.TextRunConfig(**{
      'model': cfg, 'optimizer': text_optimizer(), 'clip_norm': 0.5, 'lr_decay': 0.95,
      'steps_per_epoch': 10, 'steps': 12, 'eval_every': 6, 'query_tokens': 6, 'key_tokens': 10,
      **overrides})
