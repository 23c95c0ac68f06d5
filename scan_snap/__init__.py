"""scan_snap: training dynamics of a 1-layer transformer ("Scan and Snap", Tian et al. 2023).

The Python API, for notebooks and scripts:

  import scan_snap
  c = scan_snap.load_config('configs/syn_medium.py:smoke', overrides={'optimizer.lr_z': 2.0})
  result = scan_snap.run_experiment(c)  # in memory; with a workdir it also writes the files
  result['results'], result['summary']

A config is named as on the command line (a shipped config from any directory, or a path);
`overrides` take dotted keys, and a scalar given to a grid axis becomes a one-value grid.
"""

import importlib
import pathlib

import ml_collections

from scan_snap.core.config_files import load as load_config
from scan_snap.core.config_files import override

__all__ = ['EXPERIMENTS', 'experiment_module', 'load_config', 'override', 'run_experiment']

# config.experiment → the module whose validate(c) checks a config and whose
# run(c, workdir, overwrite, tensorboard) runs it; imported when used, so that a sequence-class
# job does not load the WikiText stack (flax, TFDS).
EXPERIMENTS = {'sequence_classes': 'scan_snap.sequence_classes.experiment',
               'wikitext': 'scan_snap.wikitext.experiment'}


def experiment_module(c: ml_collections.ConfigDict):
  """The module that runs c (see EXPERIMENTS); an InputError for an unknown experiment."""
  from scan_snap.core import errors  # pylint: disable=g-import-not-at-top
  if c.get('experiment') not in EXPERIMENTS:
    raise errors.InputError(f"config.experiment = {c.get('experiment')!r}: expected one of "
                            f'{tuple(EXPERIMENTS)}')
  return importlib.import_module(EXPERIMENTS[c.experiment])


def run_experiment(c: ml_collections.ConfigDict, workdir: str | pathlib.Path | None = None,
                   overwrite: bool = False, force: bool = False) -> dict:
  """Trains the whole grid of c. With no workdir nothing is written; with one, it is the
  command line's work directory (resumed from its checkpoints). A grid too large for the
  machine is refused unless `force`. Returns a dict with the
  'results' rows (one per run, as results.csv) and the 'summary' rows, and for sequence
  classes also the 'claims' checked."""
  return experiment_module(c).run(c, pathlib.Path(workdir) if workdir is not None else None,
                                  overwrite=overwrite, force=force)
