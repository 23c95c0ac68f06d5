"""What several tests share: the checkout's root, its config files, and the WikiText-2 files the
WikiText tests read."""

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
