"""Runs one experiment: python -m scan_snap.main --config=configs/<name>.py --workdir=<dir>.

Every config value can be overridden with --config.<key>=<value>; an unknown key is an error.
"""

import pathlib

from absl import app
from absl import flags
from ml_collections import config_flags

from scan_snap import experiment

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for results, trajectories, figures.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  experiment.run(_CONFIG.value, pathlib.Path(_WORKDIR.value))


if __name__ == '__main__':
  app.run(main)
