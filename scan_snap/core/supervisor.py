"""A process of a multi-process job, run as the child of a small supervisor that reports a lost
process in one line.

When a process of a jax.distributed job dies, jax ends the others: a failed heartbeat or a failed
collective becomes a fatal log line and abort(), with a C++ stack trace and a dump of every
thread, some hundred lines that do not say what to do. The supervisor starts the same command as
its child, passes its output through, and from the first line of jax's distributed runtime that
reports a failure on, holds the rest back. When the child then ends, it prints one line instead:
which process was lost, and that the same command resumes. Signals sent to the supervisor (Ctrl-C,
SIGTERM) go to the child, once each.
"""

import ctypes
import os
import re
import signal
import subprocess
import sys

SUPERVISED = 'SCAN_SNAP_SUPERVISED'  # Set in the child's environment.
LOST_PROCESS_EXIT_CODE = 3

# The first line that jax's distributed runtime writes when a process is lost: a warning, error
# or fatal line, in glog's format, of its coordination service, preemption sync or client.
_FAILURE_LINE = re.compile(
    rb'[WEF]\d{4} [\d:.]+ +\d+ (coordination_service\S*|preemption_sync_manager|client)'
    rb'\.\w+:\d+\]')
_LOST_TASKS = (re.compile(rb'[Tt]ask (\d+) heartbeat timeout'),
               re.compile(rb'unhealthy \(stopped sending heartbeats\):\s*([\d, ]+)'))


def is_supervised() -> bool:
  """Whether this process is the child of a supervisor."""
  return os.environ.get(SUPERVISED) == '1'


def run(command: list[str]) -> int:
  """Runs `command` (a job process: python -m scan_snap.main …) as a supervised child; returns
  the exit code for this process: the child's, or LOST_PROCESS_EXIT_CODE after the one line on a
  lost process."""
  child = subprocess.Popen(
      command, env={**os.environ, SUPERVISED: '1'},
      stderr=subprocess.PIPE, start_new_session=True,  # Signals reach it only through here,
      preexec_fn=_die_with_parent)
  forwarded = {}
  for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(signum) is not signal.SIG_IGN:  # An ignored one stays ignored.
      forwarded[signum] = signal.signal(signum, lambda s, _: child.send_signal(s))
  try:
    held = _pass_through(child.stderr)
    returncode = child.wait()
  finally:
    if child.poll() is None:  # This process is failing: take the child with it.
      child.kill()
      child.wait()
    for signum, handler in forwarded.items():
      signal.signal(signum, handler)
  own_lines = re.findall(rb'^(?:error|interrupted): .*\n', held or b'', re.MULTILINE)
  if held is None or returncode == 0 or own_lines:  # Not a lost process: the child's own words.
    sys.stderr.buffer.write(b''.join(own_lines) if own_lines and returncode else held or b'')
    sys.stderr.flush()
    return returncode if returncode >= 0 else 128 - returncode
  sys.stderr.write(f'\nerror: {_lost_process(held, command)} of this job was lost (it ended, or '
                   'sent no heartbeat for --peer_timeout seconds), and this process stopped '
                   'with it; what was finished is saved: start the same command again on every '
                   'process to resume from it\n')
  sys.stderr.flush()
  return LOST_PROCESS_EXIT_CODE


def _die_with_parent() -> None:
  """In the child, before it runs: the kernel kills it when this process dies (Linux), so that a
  killed job process takes its child along and the job sees it lost."""
  if sys.platform.startswith('linux'):
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 is PR_SET_PDEATHSIG.


def _pass_through(stream) -> bytes | None:
  """Copies `stream` to stderr, one line (ended by \\n or \\r, as a progress bar's) at a time, up
  to the first _FAILURE_LINE; returns what came from there on, or None when none came."""
  out, pending = sys.stderr.buffer, b''
  while chunk := os.read(stream.fileno(), 1 << 16):
    pending += chunk
    lines = re.split(rb'(?<=[\r\n])', pending)
    pending = lines.pop()
    for i, line in enumerate(lines):
      if failure := _FAILURE_LINE.search(line):  # It may follow a progress bar's text.
        out.write(line[:failure.start()])
        out.flush()
        return b''.join([line[failure.start():], *lines[i + 1:], pending, stream.read()])
      out.write(line)
    out.flush()
  out.write(pending)
  return None


def _lost_process(held: bytes, command: list[str]) -> str:
  """Which process the held output names as lost; a process that is not the coordinator and
  names none lost its link to the coordinator, process 0."""
  for pattern in _LOST_TASKS:
    if found := pattern.search(held):
      tasks = sorted({int(t) for t in re.findall(rb'\d+', found.group(1))})
      return ('process ' if len(tasks) == 1 else 'processes ') + ', '.join(map(str, tasks))
  own = next((a.split('=', 1)[1] for a in command if a.startswith('--process_id=')),
             os.environ.get('JAX_PROCESS_ID', os.environ.get('SLURM_PROCID')))
  return 'process 0 (the coordinator)' if own not in (None, '0') else 'another process'
