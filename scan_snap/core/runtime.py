"""Process-wide set-up and the process's side of a run: the compilation cache, jax.distributed,
quiet library logs, the progress bar, the memory and disk check, and stopping on Ctrl-C."""

import collections
import contextlib
import functools
import logging as python_logging
import os
import pathlib
import re
import shutil
import signal
import sys
import time
from typing import Callable, Iterator, TypeVar

from absl import logging
import jax
from jax.experimental import multihost_utils
import tqdm

from scan_snap.core import errors


def enable_compilation_cache(directory: str) -> None:
  """Turns on jax's persistent compilation cache in `directory` ('' leaves it off)."""
  if directory:
    jax.config.update('jax_compilation_cache_dir', os.path.expanduser(directory))
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None,
                           peer_timeout_s: int = 100) -> None:
  """Joins a multi-process job through jax.distributed.

  Each of the coordinator's host:port, the number of processes and this process's id comes from
  its argument, else from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES or JAX_PROCESS_ID; what is
  still unknown then is left to jax's cluster detection (SLURM, Cloud TPU, …).

  A process that sends no heartbeat for `peer_timeout_s` seconds counts as lost, and jax then
  ends every other process (core.supervisor turns that abort into one line).
  """
  from_env = lambda name, cast: cast(os.environ[name]) if os.environ.get(name) else None
  try:
    coordinator_address = coordinator_address or from_env('JAX_COORDINATOR_ADDRESS', str)
    num_processes = num_processes if num_processes is not None else from_env(
        'JAX_NUM_PROCESSES', int)
    process_id = process_id if process_id is not None else from_env('JAX_PROCESS_ID', int)
  except ValueError as error:
    raise errors.InputError(f'JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers: {error}'
                            ) from None
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               heartbeat_timeout_seconds=peer_timeout_s)
  except (ValueError, RuntimeError) as error:
    raise errors.InputError(
        f'--distributed could not join the job: {str(error).splitlines()[0]} (give '
        '--coordinator_address, --num_processes and --process_id, or JAX_COORDINATOR_ADDRESS, '
        'JAX_NUM_PROCESSES and JAX_PROCESS_ID, or run under SLURM or on a Cloud TPU)') from None
  logging.info('process %d of %d; %d local and %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  check_devices_per_process(jax.devices())  # Every process sees every device: all decide alike.


def check_devices_per_process(devices: list[jax.Device]) -> None:
  """An InputError unless every process of the job has as many of `devices` (each process
  trains an equal share of the grid on its own devices, in as many calls as the others)."""
  per_process = collections.Counter(device.process_index for device in devices)
  if len(set(per_process.values())) > 1:
    raise errors.InputError(
        'every process of the job must have as many devices (each trains an equal share of the '
        'grid on its own): found ' + ', '.join(f'{n} on process {p}'
                                               for p, n in sorted(per_process.items())))


def in_a_job_of_several_processes() -> bool:
  """Whether this process joined a jax.distributed job of more than one process (without
  starting a backend when it did not)."""
  return jax.distributed.is_initialized() and jax.process_count() > 1


def exit_with_error(message: str) -> None:
  """Ends this process with `message` on stderr and exit code 1. In a multi-process job, at
  once: jax's exit would wait at its shutdown barrier for the other processes (up to 5 minutes),
  which instead find this one lost and end too."""
  if in_a_job_of_several_processes():
    sys.stdout.flush()
    sys.stderr.write(message + '\n')
    sys.stderr.flush()
    os._exit(1)  # pylint: disable=protected-access
  sys.exit(message)


# What the error of a collective says when a process of the job has gone (Gloo, gRPC).
_LOST_PEER = re.compile(r'Gloo|UNAVAILABLE|DEADLINE_EXCEEDED|Socket closed|Connection (reset|'
                        r'closed|refused)|heartbeat')


def await_lost_process(error: Exception, peer_timeout_s: int) -> None:
  """In a multi-process job, after an error that says a process has gone (a failed collective),
  sleeps for `peer_timeout_s` seconds and a few more: jax then ends this process, having found
  the process lost (core.supervisor reports it in one line). Returns at once in one process, on
  another error, or on Ctrl-C; and after the sleep, if jax did not end it."""
  if in_a_job_of_several_processes() and lost_peer(error):
    try:
      time.sleep(peer_timeout_s + 10)
    except KeyboardInterrupt:
      pass


def lost_peer(error: BaseException) -> bool:
  """Whether an error says that a process of the job has gone: its text, or that of an error it
  was raised from or during (orbax's timeout at a checkpoint's barrier, say, raised from the
  collective that found the process lost)."""
  return any(_LOST_PEER.search(str(e)) for e in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
  """The error, then the one it was raised from or during, and so on."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = (error.__cause__ if error.__cause__ is not None or error.__suppress_context__
             else error.__context__)


def barrier(name: str) -> None:
  """In a multi-process job, waits until every process gets here; in one process, nothing."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


_T = TypeVar('_T')


def process_zero_first(f: Callable[[], _T], name: str) -> _T:
  """f(), run by process 0 before the other processes of a multi-process job run it: to fill a
  cache that they may share (they then find it filled) without racing. When process 0's f()
  fails, the others still run theirs, which on the same inputs fails the same way."""
  if jax.process_count() == 1:
    return f()
  if jax.process_index() == 0:
    try:
      return f()
    finally:
      barrier(name)
  barrier(name)
  return f()


def quiet_library_logs(libraries: tuple[str, ...] = ('jax', 'orbax', 'tensorflow_datasets')
                       ) -> None:
  """Drops the INFO lines that these libraries write through absl logging (jax's search for
  backends that the machine lacks, orbax's every checkpoint, TFDS's every prepared dataset);
  their warnings and errors still show. Also drops the tracebacks of orbax's abandoned reads
  (see _drop_closed_loop_reports)."""
  markers = tuple(f'{os.sep}{name}{os.sep}' for name in libraries)
  logging.get_absl_handler().addFilter(
      lambda record: record.levelno >= python_logging.WARNING or not any(
          m in record.pathname for m in markers))
  sys.unraisablehook = functools.partial(_drop_closed_loop_reports, report=sys.unraisablehook)


def _drop_closed_loop_reports(unraisable, report: Callable[..., None]) -> None:
  """An unraisablehook that passes on to `report` all but "Event loop is closed". Orbax gives up
  reading a damaged checkpoint with reads still pending, and closes its event loop; as those
  reads end, their callbacks find it closed and print tracebacks that add nothing to the error
  (which the caller reports)."""
  if not (isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == 'Event loop is closed'):
    report(unraisable)


class _AboveTheBar:
  """A text stream that writes through tqdm.write, so that lines land above a progress bar."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str) -> None:
    tqdm.tqdm.write(text, file=self._stream, end='')

  def flush(self) -> None:
    self._stream.flush()


@contextlib.contextmanager
def progress_bar(**tqdm_args) -> Iterator[tqdm.tqdm]:
  """A tqdm progress bar on stderr; absl log lines written while it is shown go above it
  instead of through it."""
  handler = logging.get_absl_handler().python_handler
  stream = handler.stream
  handler.setStream(_AboveTheBar(stream))
  try:
    with tqdm.tqdm(file=stream, **tqdm_args) as bar:
      yield bar
  finally:
    handler.setStream(stream)


def available_memory() -> int:
  """Bytes of memory this machine can still give (MemAvailable on Linux)."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


def free_disk(path: pathlib.Path) -> int:
  """Free bytes on the file system that holds `path` (or would hold it: its nearest existing
  parent)."""
  path = pathlib.Path(path).resolve()
  while not path.exists():
    path = path.parent
  return shutil.disk_usage(path).free


class TooLargeError(errors.InputError):
  """The job will not fit this machine's memory or disk."""


def check_fits(size: dict[str, int], workdir: pathlib.Path | None, force: bool,
               size_keys: tuple[str, ...]) -> None:
  """Logs the job's size ('runs', 'memory_bytes', 'disk_bytes', as estimated by the
  experiment) and raises TooLargeError, naming the config keys `size_keys` that set it, when it
  exceeds the memory or disk at hand, unless `force`, which only warns. With no workdir nothing
  goes to disk."""
  disk = size['disk_bytes'] if workdir is not None else 0
  runs = f"{size['runs']} run" + ('s' if size['runs'] != 1 else '')
  need = 'needs' if size['runs'] == 1 else 'need'
  logging.info('%s; about %s of memory and %s on disk', runs, _gigabytes(size['memory_bytes']),
               _gigabytes(disk))
  short = []
  memory = available_memory()
  if size['memory_bytes'] > memory:
    short.append(f"about {_gigabytes(size['memory_bytes'])} of memory "
                 f'({_gigabytes(memory)} available)')
  free = free_disk(workdir) if disk else 0
  if 0 < free < disk:  # 0: no disk to speak of (say /proc); writing will say what is wrong.
    short.append(f'about {_gigabytes(disk)} on disk ({_gigabytes(free)} free where {workdir} is)')
  if short and not force:
    raise TooLargeError(f"{runs} {need} {' and '.join(short)}: shrink the job "
                        f"({', '.join(size_keys)}), or pass --force")
  if short:
    logging.warning('%s %s %s; going on (--force)', runs, need, ' and '.join(short))


def _gigabytes(num_bytes: int) -> str:
  return f'{num_bytes / 1e6:.1f} MB' if num_bytes < 1e9 else f'{num_bytes / 1e9:.1f} GB'


class _StopRequest:
  """Set by a first Ctrl-C inside `stop_on_interrupt`; read at the run's safe points."""
  requested = False


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[None]:
  """Within the block, a first Ctrl-C (SIGINT) asks the run to stop at its next safe point
  (see stop_point: after a chunk or an evaluation, its checkpoint under way); a second one
  interrupts at once. Outside the main thread, Ctrl-C keeps Python's behaviour."""
  def request(signum, frame):
    if _StopRequest.requested:
      raise KeyboardInterrupt
    _StopRequest.requested = True
    logging.warning('stopping after the work under way (Ctrl-C again to stop at once)')

  try:
    previous = signal.signal(signal.SIGINT, request)
  except ValueError:  # Not the main thread.
    yield
    return
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
    _StopRequest.requested = False


def stop_requested() -> bool:
  """Whether a Ctrl-C asked the run to stop (see stop_on_interrupt)."""
  return _StopRequest.requested


def stop_point() -> None:
  """Raises KeyboardInterrupt when a Ctrl-C asked the run to stop (see stop_on_interrupt)."""
  if stop_requested():
    raise KeyboardInterrupt


@contextlib.contextmanager
def waiting_for(wait: Callable[[], object] | None) -> Iterator[None]:
  """Calls wait() when the block ends, however it ends: checkpoints still being written in the
  background are finished before an error or a Ctrl-C leaves the run. A Ctrl-C during that wait
  does not cut the checkpoint short (which would lose it): it is told so, and the wait goes on."""
  try:
    yield
  finally:
    if wait is not None:
      with _ctrl_c_waits('finishing the checkpoint being written, then stopping'):
        wait()


@contextlib.contextmanager
def _ctrl_c_waits(message: str) -> Iterator[None]:
  """Within the block (in the main thread), a Ctrl-C logs `message` instead of interrupting."""
  try:
    previous = signal.signal(signal.SIGINT, lambda signum, frame: logging.warning(message))
  except ValueError:  # Not the main thread.
    yield
    return
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
