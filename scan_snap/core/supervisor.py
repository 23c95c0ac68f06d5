"""A process of a multi-process job, run as the child of a small supervisor that reports a lost
process in one line.

When a process of a jax.distributed job dies, jax ends the others: a failed heartbeat or a failed
collective becomes a fatal log line and abort(), with a C++ stack trace and a dump of every
thread, some hundred lines that do not say what to do. The supervisor starts the same command as
its child and passes its output through. From the first line in which jax's distributed runtime
(its C++ coordination service, client or preemption sync) reports a failure, it holds the rest
back; when the child then ends, it prints one line instead: which process was lost, and that the
same command resumes. A child that had already said why it stopped (its own `error:` or
`interrupted:` line, or a traceback) keeps its words and its exit code.

Signals: the child runs in a session of its own, and SIGINT, SIGTERM and SIGHUP sent to the
supervisor (Ctrl-C in a terminal, kill, timeout) reach it through the supervisor, exactly once;
SIGTERM arrives as SIGINT, the graceful stop (jax's preemption service would otherwise take it).
Under SLURM, which signals every process of a job step itself, the child shares the supervisor's
process group and the supervisor forwards nothing.
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys

SUPERVISED = 'SCAN_SNAP_SUPERVISOR_PID'  # In the child's environment: the supervisor's pid.
LOST_PROCESS_EXIT_CODE = 3

# A line in which jax's distributed runtime reports a failure: glog's format, from its C++ files.
_FAILURE_LINE = re.compile(
    rb'[WEF]\d{4} [\d:.]+ +\d+ (coordination_service\w*|preemption_sync_manager|client)'
    rb'\.(cc|h):\d+\]')
# The tail of a chunk that may be the start of such a line (held until its line is complete).
_MAYBE_FAILURE_LINE = re.compile(rb'[WEF][\d :.]*$')
# A line in which the child says itself why it stopped.
_OWN_LINE = re.compile(rb'^(error: |interrupted: |Traceback \(most recent call last\):)',
                       re.MULTILINE)
_LOST_TASKS = (re.compile(rb'[Tt]ask (\d+) heartbeat timeout'),
               re.compile(rb'unhealthy \(stopped sending heartbeats\):\s*([\d,\s]+)'))


def supervised_child() -> bool:
  """Whether this process is the child of a supervisor; if so, from now on it dies with it
  (Linux)."""
  parent = os.environ.pop(SUPERVISED, None)  # Not inherited by this process's own children.
  if parent is None:
    return False
  if sys.platform.startswith('linux'):
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 is PR_SET_PDEATHSIG.
  if os.getppid() != int(parent):  # The supervisor died before that took effect.
    os._exit(LOST_PROCESS_EXIT_CODE)  # pylint: disable=protected-access
  return True


def run(command: list[str], process_id: str | None) -> int:
  """Runs `command` (a job process: python -m scan_snap.main …) as a supervised child; returns
  the exit code for this process: the child's, or LOST_PROCESS_EXIT_CODE after the one line on a
  lost process. `process_id`: this process's id in the job, where known."""
  slurm = 'SLURM_STEP_ID' in os.environ
  child = None

  def forward(signum, _):
    if child is not None and not slurm and child.poll() is None:
      child.send_signal(signal.SIGINT if signum == signal.SIGTERM else signum)

  previous = {}
  for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, 'SIGHUP', None)):
    if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
      previous[signum] = signal.signal(signum, forward)  # An ignored signal stays ignored.
  try:
    env = {**os.environ, SUPERVISED: str(os.getpid())}
    if sys.stderr.isatty():  # The child writes to a pipe: tell its progress bar the width.
      env.setdefault('COLUMNS', str(shutil.get_terminal_size().columns))
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE,
                             start_new_session=not slurm)
    held, own_words, ends_line = _pass_through(child.stderr)
    returncode = child.wait()
  finally:
    if child is not None and child.poll() is None:  # This process is failing: the child too.
      child.kill()
      child.wait()
    for signum, handler in previous.items():
      if handler is not None:
        signal.signal(signum, handler)
  if held is None or returncode == 0:
    _write(held or b'')
    return _exit_code(returncode)
  said = re.findall(rb'^(?:error|interrupted): .*\n', held, re.MULTILINE)
  if own_words or said:  # It said why it stopped; what jax wrote at its exit adds nothing.
    _write(b''.join(said))
    return _exit_code(returncode) if returncode > 0 else 1
  _write(('' if ends_line else '\n').encode() + (
      f'error: {_lost_process(held, process_id)} of this job was lost (it ended, or sent no '
      'heartbeat for --peer_timeout seconds), and this process stopped with it; what was '
      'finished is saved: start the same command again on every process to resume from it\n'
  ).encode())
  return LOST_PROCESS_EXIT_CODE


def _exit_code(returncode: int) -> int:
  """A child's return code as a shell reports it (a signal N as 128 + N)."""
  return returncode if returncode >= 0 else 128 - returncode


def _write(data: bytes) -> None:
  """Writes to stderr; a reader that has gone (a closed pipe) loses the text, not the run."""
  try:
    sys.stderr.buffer.write(data)
    sys.stderr.flush()
  except OSError:
    pass


def _pass_through(stream) -> tuple[bytes | None, bool, bool]:
  """Copies `stream` to stderr as it comes, up to the first _FAILURE_LINE (which may follow a
  progress bar's text on its line); returns what came from there on (None when none came),
  whether a line of the child's own words (_OWN_LINE) passed, and whether the text passed ends
  a line."""
  pending, own_words, last = b'', False, b'\n'
  while chunk := os.read(stream.fileno(), 1 << 16):
    pending += chunk
    lines = re.split(rb'(?<=[\r\n])', pending)
    pending = lines.pop()
    for i, line in enumerate(lines):
      if failure := _FAILURE_LINE.search(line):
        passed = b''.join(lines[:i]) + line[:failure.start()]
        _write(passed)
        return (b''.join([line[failure.start():], *lines[i + 1:], pending, stream.read()]),
                own_words, (last + passed)[-1:] in (b'\n', b'\r'))
      own_words = own_words or bool(_OWN_LINE.match(line))
    maybe = _MAYBE_FAILURE_LINE.search(pending)  # A bar's latest state shows at once.
    shown, pending = (pending[:maybe.start()], pending[maybe.start():]) if maybe else (pending, b'')
    passed = b''.join(lines) + shown
    if passed:
      _write(passed)
      last = passed[-1:]
  _write(pending)
  return None, own_words, True


def _lost_process(held: bytes, process_id: str | None) -> str:
  """Which process the held output names as lost; a process that is not the coordinator and
  names none lost its link to the coordinator, process 0."""
  for pattern in _LOST_TASKS:
    if found := pattern.search(held):
      tasks = sorted({int(t) for t in re.findall(rb'\d+', found.group(1))})
      return ('process ' if len(tasks) == 1 else 'processes ') + ', '.join(map(str, tasks))
  return 'process 0 (the coordinator)' if process_id not in (None, '0') else 'another process'
