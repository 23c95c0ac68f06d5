"""scan_snap: training dynamics of a 1-layer transformer ("Scan and Snap", Tian et al. 2023).

The Python API, for notebooks and scripts:

  import scan_snap
  c = scan_snap.load_config('configs/syn_medium.py:smoke', overrides={'optimizer.lr_z': 2.0})
  result = scan_snap.run_experiment(c)  # in memory; with a workdir it also writes the files
  result['results'], result['summary']

A config is named as on the command line (a shipped config from any directory, or a path);
`overrides` take dotted keys, and a scalar given to a grid axis becomes a one-value grid.
"""

import pathlib

import ml_collections

from scan_snap.core.config_files import load as load_config
from scan_snap.core.config_files import override

__all__ = ['load_config', 'override', 'run_experiment']


def run_experiment(c: ml_collections.ConfigDict, workdir: str | pathlib.Path | None = None,
                   overwrite: bool = False, force: bool = False,
                   tensorboard: bool = False, name: str = '') -> dict:
  """Trains the whole grid of c. With no workdir nothing is written; with one, it is the
  command line's work directory (resumed from its checkpoints). A grid too large for the
  machine is refused unless `force`. Returns a dict with the 'results' rows (one per run, as
  results.csv), the 'summary' rows (one per learning-rate cell) and the 'claims' checked (as in
  claims.json), and what the experiment adds (core.pipeline.run). `name` titles report.md
  (the command line's is the config's file name and variant, as 'syn_medium.py:smoke')."""
  from scan_snap.core import pipeline  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir) if workdir is not None else None
  return pipeline.run(pipeline.plan(c, name), workdir, overwrite=overwrite,
                      tensorboard=tensorboard, force=force)
