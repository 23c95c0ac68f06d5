"""Runs one experiment: python -m scan_snap.main --config=configs/<name>.py[:variant].

Results go to --workdir (default: runs/<name>[_<variant>] under the current directory). Every
config value can be overridden with --config.<key>=<value>; an unknown key is an error. The
config path is looked up among the shipped configs when it is not a file here.
"""

import errno
import os
import pathlib
import signal
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from scan_snap.core import config_files
from scan_snap.core import errors
from scan_snap.core import pipeline
from scan_snap.core import runtime
from scan_snap.core import supervisor

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config: configs/<name>.py[:variant] (a shipped config, found '
    'from any directory) or the path of a config file.', lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for results, trajectories, figures (default: '
    'runs/<name>[_<variant>] under the current directory).')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', '~/.cache/scan_snap/jax',
    "jax's persistent compilation cache: a re-run that changes only learning rates or seeds "
    "skips compilation; '' disables it.")
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Join a multi-process job (jax.distributed) before training; every '
    'process runs this same command, and process 0 writes the work directory. The coordinator, '
    'process count and process id come from the three flags below, else from '
    'JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, else from the cluster '
    '(SLURM, Cloud TPU).')
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    'coordinator_address', None, 'With --distributed: host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'With --distributed: the number of processes.', lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'With --distributed: this process, 0 … num_processes − 1.',
    lower_bound=0)
_PEER_TIMEOUT = flags.DEFINE_integer(
    'peer_timeout', 100, 'With --distributed: seconds without a heartbeat after which a process '
    'counts as lost; the others then end with one line that names it (the same command resumes).',
    lower_bound=1)
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace the run of another config found in the work directory. (A run '
    'of the same config is resumed from its checkpoints.)')
_TENSORBOARD = flags.DEFINE_bool(
    'tensorboard', False, 'Also write the metrics.jsonl lines as TensorBoard scalars under '
    '<workdir>/tensorboard (needs tensorboardX: pip install tensorboardX).')
_FORCE = flags.DEFINE_bool(
    'force', False, 'Run even when the estimate of the job\'s memory and disk says it does not fit '
    'this machine.')
flags.mark_flag_as_required('config')


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}: every setting is a flag '
             '(--config.<key>=<value>; --helpshort lists the others)')
  if _DISTRIBUTED.value and not supervisor.supervised_child():
    own_id = (str(_PROCESS_ID.value) if _PROCESS_ID.value is not None else
              os.environ.get('JAX_PROCESS_ID') or os.environ.get('SLURM_PROCID'))
    # The same command, the interpreter's own options (-u, -X …) included.
    sys.exit(supervisor.run([sys.executable, *sys.orig_argv[1:]], own_id))
  runtime.quiet_library_logs()
  workdir = None
  try:
    if _DISTRIBUTED.value:
      runtime.initialize_distributed(_COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value,
                                     _PROCESS_ID.value, _PEER_TIMEOUT.value)
    runtime.enable_compilation_cache(_COMPILATION_CACHE.value)
    spec = flags.FLAGS['config'].config_filename
    plan = pipeline.plan(_CONFIG.value, config_files.display_name(spec))  # Before the workdir.
    workdir = pathlib.Path(_WORKDIR.value or pathlib.Path('runs') / config_files.run_name(spec))
    print(f'work directory: {workdir.resolve()}', flush=True)
    pipeline.run(plan, workdir, overwrite=_OVERWRITE.value, tensorboard=_TENSORBOARD.value,
                 force=_FORCE.value)
    print(f'results in {workdir.resolve()}')
  except errors.InputError as error:
    runtime.exit_with_error(f'error: {error}')
  except KeyboardInterrupt as interrupt:  # Its text, when it has one, says what was saved.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # More Ctrl-C would cut jax's exit short.
    sys.exit(f'interrupted: {interrupt}' if str(interrupt) else
             'interrupted: what was finished is saved; the same command resumes from it')
  except OSError as error:  # A full disk, a folder that cannot be written, …
    where = f' ({error.filename})' if error.filename else ''
    remedy = ('free space' if error.errno in (errno.ENOSPC, errno.EDQUOT)
              else 'choose another --workdir' if _under(error.filename, workdir)
              else 'make it writable, or point the config key that names it elsewhere')
    runtime.exit_with_error(f'error: {error.strerror or error}{where}: {remedy}, then run the '
                            'same command again (what was finished is saved and resumes)')
  except Exception as error:  # In a job of several processes, a failed collective: a lost one?
    runtime.await_lost_process(error, _PEER_TIMEOUT.value)
    raise


def _under(filename, folder: pathlib.Path | None) -> bool:
  """Whether the file an OSError names lies in `folder`."""
  if filename is None or folder is None:
    return False
  path, folder = pathlib.Path(filename).absolute(), folder.absolute()
  return path == folder or folder in path.parents


if __name__ == '__main__':
  app.run(main, flags_parser=config_files.parse_command_line)
