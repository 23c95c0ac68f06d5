"""The supervisor of a job process, on stand-in children that write what jax's distributed
runtime writes when a process is lost (tests/distributed_test.py loses a real one)."""

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

from absl.testing import absltest

from tests.testing import ROOT

# What a job process of 2 writes when process 1 stops sending heartbeats, after a progress bar,
# and then the abort; the lines are those of jax 0.10's coordination service and client.
_LOST_ONE = r'''
import os, sys
sys.stderr.write('sweep:   5%|   | 16/320 [00:05<01:44]\rsweep:  10%|   | 32/320 [00:06<00:40]')
sys.stderr.write('E1204 18:03:02.034460   19570 coordination_service.cc:1549] [377] Use error '
                 'polling to propagate the following error to all tasks: UNAVAILABLE: The '
                 'following tasks are unhealthy (stopped sending heartbeats):\n1\nThe tasks have '
                 'crashed.\n')
sys.stderr.write('F1204 18:03:02.175818    5942 client.h:80] Terminating process because the '
                 'JAX distributed service detected fatal errors.\n*** Check failure stack trace '
                 '***\n    @     0x7f3091e20634  absl::log_internal::LogMessage::SendToLog()\n')
sys.stderr.flush()
os.abort()
'''


def _supervise(child: str, process_id: str | None = None) -> subprocess.CompletedProcess:
  """Runs supervisor.run on `python -c child`, as main does, in a process of its own."""
  script = textwrap.dedent(f'''
      import sys
      from scan_snap.core import supervisor
      sys.exit(supervisor.run([sys.executable, '-c', {child!r}], {process_id!r}))''')
  env = {k: v for k, v in os.environ.items() if k != 'JAX_PROCESS_ID'}
  done = subprocess.run([sys.executable, '-c', script], cwd=ROOT, env=env, capture_output=True,
                        timeout=60)
  done.stderr = done.stderr.decode()  # Not text=True, which would turn a bar's \r into \n.
  return done


class SupervisorTest(absltest.TestCase):

  def test_a_lost_process_is_one_line_naming_it_after_the_passed_through_output(self):
    done = _supervise(_LOST_ONE, '0')
    self.assertEqual(done.returncode, 3, done.stderr)
    # The progress bar up to the runtime's first failure line passes; from there on, one line.
    self.assertTrue(done.stderr.startswith('sweep:   5%|   | 16/320 [00:05<01:44]\r'
                                           'sweep:  10%|   | 32/320 [00:06<00:40]\n'),
                    done.stderr)
    lines = done.stderr.split('\n')[1:-1]
    self.assertLen(lines, 1, done.stderr)
    self.assertRegex(lines[0], r'^error: process 1 of this job was lost .* start the same command'
                     ' again on every process to resume from it$')

  def test_a_process_whose_coordinator_is_gone_names_process_0(self):
    child = _LOST_ONE.replace('Use error polling', 'Polled an error').replace(
        'following tasks are unhealthy (stopped sending heartbeats):\\n1', 'Socket closed')
    done = _supervise(child, '1')
    self.assertEqual(done.returncode, 3, done.stderr)
    self.assertIn('error: process 0 (the coordinator) of this job was lost', done.stderr)

  def test_the_childs_own_error_line_and_exit_code_pass_through_the_runtimes_lines(self):
    child = textwrap.dedent('''
        import sys
        sys.stderr.write('W1204 17:59:00.925392   10771 preemption_sync_manager.cc:147] Failed '
                         'to retrieve preemption notice\\n')
        sys.exit('error: --config.sweep.num_seeds must be positive')''')
    done = _supervise(child)
    self.assertEqual(done.returncode, 1, done.stderr)
    self.assertEqual(done.stderr, 'error: --config.sweep.num_seeds must be positive\n')

  def test_a_child_that_said_why_it_stopped_keeps_its_words_when_jax_aborts_it_after(self):
    """As when process 0 stops on its own error while the others wait: at its exit jax's
    shutdown barrier fails, and aborts it."""
    child = _LOST_ONE.replace("import os, sys\n", "import os, sys\nsys.stderr.write("
                              "'error: the work directory is locked by another run\\n')\n", 1)
    done = _supervise(child, '0')
    self.assertEqual(done.returncode, 1, done.stderr)
    self.assertTrue(done.stderr.startswith('error: the work directory is locked by another run\n'),
                    done.stderr)
    self.assertNotIn('was lost', done.stderr)
    self.assertNotIn('Terminating', done.stderr)

  def test_a_progress_bar_shows_at_once_and_a_signal_reaches_the_child_once(self):
    child = textwrap.dedent('''
        import signal, sys, time
        got = []
        signal.signal(signal.SIGINT, lambda s, _: got.append(s))
        sys.stderr.write('\\rsweep:  33%|   | 1/3')
        sys.stderr.flush()
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
          time.sleep(0.05)
        time.sleep(0.5)  # A second delivery would arrive by now.
        sys.stderr.write(f'\\nsignals: {len(got)}\\n')''')
    script = textwrap.dedent(f'''
        import sys
        from scan_snap.core import supervisor
        sys.exit(supervisor.run([sys.executable, '-c', {child!r}], None))''')
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    proc = subprocess.Popen([sys.executable, '-c', script], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE)
    try:
      seen, deadline = b'', time.monotonic() + 30
      while b'1/3' not in seen and time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.1)[0]:
          seen += os.read(proc.stderr.fileno(), 1024)
      self.assertIn(b'\rsweep:  33%|   | 1/3', seen)  # Before the child wrote anything more.
      proc.send_signal(signal.SIGTERM)  # Reaches the child as SIGINT, the graceful stop.
      _, rest = proc.communicate(timeout=30)
    finally:
      if proc.poll() is None:
        proc.kill()
    self.assertEqual(proc.returncode, 0, seen + rest)
    self.assertIn(b'signals: 1\n', rest)

  def test_a_child_that_succeeds_passes_everything_through(self):
    child = ("import sys; sys.stderr.write('E1204 17:59:00.925419   10771 preemption_sync_manager"
             ".cc:159] Failed to cancel preemption barrier\\nresults in /tmp/x\\n')")
    done = _supervise(child)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertEqual(done.stderr, 'E1204 17:59:00.925419   10771 preemption_sync_manager.cc:159]'
                     ' Failed to cancel preemption barrier\nresults in /tmp/x\n')

  def test_a_child_killed_by_a_signal_without_the_runtimes_lines_keeps_its_code(self):
    done = _supervise('import os, signal; os.kill(os.getpid(), signal.SIGKILL)')
    self.assertEqual(done.returncode, 128 + 9, done.stderr)
    self.assertEqual(done.stderr, '')


if __name__ == '__main__':
  absltest.main()
