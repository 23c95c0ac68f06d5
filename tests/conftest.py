"""Shared test set-up: strict rank promotion, absl flags, and the project's config files."""

import importlib.util
import pathlib

from absl import flags
import jax

jax.config.update('jax_numpy_rank_promotion', 'raise')
flags.FLAGS.mark_as_parsed()  # absltest helpers (create_tempdir) read flags, also under pytest.

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted((ROOT / 'configs').glob('*.py'))


def load_config(name: str, variant: str = ''):
  """configs/<name>.py's get_config(variant), loaded as the command line would load it."""
  spec = importlib.util.spec_from_file_location(f'config_{name}', ROOT / 'configs' / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)
