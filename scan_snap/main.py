"""Runs one experiment: python -m scan_snap.main --config=configs/<name>.py --workdir=<dir>.

Every config value can be overridden with --config.<key>=<value>; an unknown key is an error.
"""

import importlib
import pathlib

from absl import app
from absl import flags
from ml_collections import config_flags

from scan_snap import errors
from scan_snap import runtime

# config.experiment → the module whose run(c, workdir, overwrite, tensorboard) runs it; imported
# when used, so that a sequence-class job does not load the WikiText stack (flax, TFDS).
EXPERIMENTS = {'sequence_classes': 'scan_snap.experiment',
               'wikitext': 'scan_snap.wikitext.experiment'}

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for results, trajectories, figures.')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', '~/.cache/scan_snap/jax',
    "jax's persistent compilation cache: a re-run that changes only learning rates or seeds "
    "skips compilation; '' disables it.")
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Join a multi-process job (jax.distributed) before training; every '
    'process runs this same command, and process 0 writes the work directory.')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace the run of another config found in --workdir. (A run of the '
    'same config is resumed from its checkpoints.)')
_TENSORBOARD = flags.DEFINE_bool(
    'tensorboard', False, 'Also write the metrics.jsonl lines as TensorBoard scalars under '
    "<workdir>/tensorboard (needs tensorboardX: pip install -e '.[tensorboard]').")
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _DISTRIBUTED.value:
    runtime.initialize_distributed()
  runtime.enable_compilation_cache(_COMPILATION_CACHE.value)
  runtime.quiet_library_logs()
  c = _CONFIG.value
  if c.get('experiment') not in EXPERIMENTS:
    raise SystemExit(f"error: config.experiment = {c.get('experiment')!r}: expected one of "
                     f'{tuple(EXPERIMENTS)}')
  try:
    experiment = importlib.import_module(EXPERIMENTS[c.experiment])
    experiment.run(c, pathlib.Path(_WORKDIR.value), overwrite=_OVERWRITE.value,
                   tensorboard=_TENSORBOARD.value)
  except errors.InputError as error:
    raise SystemExit(f'error: {error}') from None


if __name__ == '__main__':
  app.run(main)
