"""Process-wide set-up: the progress bar and the log lines written while it is shown, Ctrl-C,
and the errors that say a process of the job was lost."""

import io
import os
import pathlib
import signal
import time
from unittest import mock

from absl import logging
from absl.testing import absltest

from scan_snap.core import runtime


class ProgressBarTest(absltest.TestCase):

  def _output(self, bar):
    """What a bar of 2 steps with a log line between them writes to the log's stream."""
    logging.use_absl_handler()  # As absl's app.run does: log records go to its handler.
    handler = logging.get_absl_handler().python_handler
    stream, handler_stream = io.StringIO(), handler.stream
    handler.setStream(stream)
    try:
      with bar(stream) as progress:
        progress.update(1)
        logging.warning('a log line')
        progress.update(1)
    finally:
      handler.setStream(handler_stream)
    return stream.getvalue()

  def test_log_lines_start_a_line_of_their_own(self):
    text = self._output(lambda stream: runtime.progress_bar(total=2, mininterval=0))
    before = text[:text.index('a log line')].rsplit('\n', 1)[-1]
    self.assertEqual(before.rsplit('\r', 1)[-1][:1], 'W')  # The bar was cleared first.
    self.assertIn('2/2', text.rsplit('a log line', 1)[1])  # And drawn again below.

  def test_without_it_the_line_runs_into_the_bar(self):  # What the test above guards against.
    import tqdm  # pylint: disable=g-import-not-at-top
    text = self._output(lambda stream: tqdm.tqdm(total=2, mininterval=0, file=stream))
    before = text[:text.index('a log line')].rsplit('\n', 1)[-1]
    self.assertIn('1/2', before.rsplit('\r', 1)[-1])



class CheckFitsTest(absltest.TestCase):

  def test_a_disk_too_small_names_the_experiments_keys(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    size = {'runs': 6, 'memory_bytes': 1, 'disk_bytes': 10**15}
    with self.assertRaisesRegex(runtime.TooLargeError,
                                r'^6 runs need about 1000000.0 GB on disk \(.* free where .*\): '
                                r'shrink the job \(sweep.num_seeds, model.d_model\), or pass '
                                r'--force$'):
      runtime.check_fits(size, workdir, False, ('sweep.num_seeds', 'model.d_model'))
    runtime.check_fits(size, workdir, True, ('sweep.num_seeds',))  # Warns only.
    runtime.check_fits(size, None, False, ('sweep.num_seeds',))  # Nothing goes to disk.

  def test_one_run_is_one_run(self):
    with self.assertLogs(level='INFO') as logs, self.assertRaisesRegex(
        runtime.TooLargeError, r'^1 run needs about 1000000.0 GB on disk'):
      runtime.check_fits({'runs': 1, 'memory_bytes': 1, 'disk_bytes': 10**15},
                         pathlib.Path(self.create_tempdir().full_path), False, ('sweep.num_seeds',))
    self.assertIn('1 run; about', logs.output[0])


class InterruptTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    # Python's own Ctrl-C, also where the suite was started with SIGINT ignored (in the
    # background of a shell without job control).
    self.addCleanup(signal.signal, signal.SIGINT,
                    signal.signal(signal.SIGINT, signal.default_int_handler))

  def test_a_ctrl_c_while_a_checkpoint_is_finished_does_not_cut_it_short(self):
    written = []

    def wait():  # A checkpoint still being written when the run stops; Ctrl-C meanwhile.
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)  # The signal is handled here, in the main thread.
      written.append(True)

    with self.assertLogs(level='WARNING') as logs, self.assertRaises(KeyboardInterrupt):
      with runtime.waiting_for(wait), runtime.stop_on_interrupt():
        os.kill(os.getpid(), signal.SIGINT)  # The first Ctrl-C: stop at the next safe point.
        time.sleep(0.05)
        runtime.stop_point()
    self.assertEqual(written, [True])
    self.assertIn('finishing the checkpoint being written, then stopping', logs.output[-1])
    self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

  def test_without_it_the_second_ctrl_c_cuts_the_wait_short(self):  # What the test above guards.
    written = []

    def wait():
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)
      written.append(True)

    with self.assertRaises(KeyboardInterrupt):
      wait()
    self.assertEqual(written, [])


def _raised(error: Exception, cause: Exception | None = None) -> Exception:
  """error, raised from cause, as caught."""
  try:
    raise error from cause
  except Exception as caught:  # pylint: disable=broad-except
    return caught


class DevicesPerProcessTest(absltest.TestCase):

  def test_processes_with_unequal_devices_are_refused_in_one_line(self):
    on = lambda *processes: [mock.Mock(process_index=p) for p in processes]
    runtime.check_devices_per_process(on(0, 0, 1, 1))
    with self.assertRaisesRegex(runtime.errors.InputError,
                                r'as many devices .*: found 1 on process 0, 2 on process 1$'):
      runtime.check_devices_per_process(on(0, 1, 1))


class LostPeerTest(absltest.TestCase):

  def test_an_error_raised_from_a_failed_collective_says_a_process_was_lost(self):
    collective = RuntimeError('UNAVAILABLE: Failed to send RPC to coordination service')
    barrier = _raised(TimeoutError('Timed out while waiting for async_commit_complete barrier.'),
                      collective)
    self.assertTrue(runtime.lost_peer(collective))
    self.assertTrue(runtime.lost_peer(barrier))  # orbax's timeout at a checkpoint's barrier
    self.assertFalse(runtime.lost_peer(_raised(TimeoutError('Timed out'), ValueError('bad'))))
    self.assertFalse(runtime.lost_peer(ValueError('a bad config value')))
    try:  # An error raised `from None` is not read through what it replaced.
      try:
        raise collective
      except RuntimeError:
        raise ValueError('a bad config value') from None
    except ValueError as error:
      self.assertFalse(runtime.lost_peer(error))


if __name__ == '__main__':
  absltest.main()
