"""The engine's loop on real orbax checkpoints: what each kind of piece restores, and what a
stopped session saves and says."""

import os
import pathlib
import signal

from absl.testing import absltest
import numpy as np

from scan_snap.core import checkpoints
from scan_snap.core import engine
from scan_snap.core import outputs


def _items(value: float) -> dict:
  return {'piece': {'x': np.full(3, value, np.float32)}}


def _damage(store: checkpoints.Checkpoints, number: int) -> None:
  """Overwrites the array files of checkpoint `number` with zeros of their size."""
  for path in (store.directory / str(number)).rglob('*'):
    if path.is_file() and 'metadata' not in path.name and path.stat().st_size:
      path.write_bytes(bytes(path.stat().st_size))


class RestoreTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.workdir = pathlib.Path(self.create_tempdir().full_path)

  def _store(self, **kwargs) -> checkpoints.Checkpoints:
    return checkpoints.Checkpoints(self.workdir, 'pieces', **kwargs)

  def test_independent_pieces_are_restored_each_and_a_damaged_one_is_left_out(self):
    store = self._store()
    made_by = [engine.fingerprint({'seed': i}) for i in range(4)]
    for number in (0, 1, 3):
      store.save(number, _items(number), made_by[number])
    store.wait()
    _damage(store, 1)
    with self.assertLogs(level='WARNING') as logs:
      found = engine.restore_each(self._store(), made_by, {'piece': None})
    self.assertEqual(sorted(found), [0, 3])
    np.testing.assert_array_equal(found[3]['piece']['x'], np.full(3, 3.0, np.float32))
    self.assertRegex(logs.output[0], r'pieces/1 is damaged .*; it is trained again')
    self.assertEqual(self._store().steps(), [0, 3])  # The damaged piece is deleted.

  def test_a_piece_of_another_fingerprint_stops_the_job(self):
    store = self._store()
    store.save(0, _items(0), engine.fingerprint({'seed': 0}, lr=[1.0]))
    store.wait()
    with self.assertRaisesRegex(outputs.WorkdirError, 'another config or code version'):
      engine.restore_each(self._store(), [engine.fingerprint({'seed': 0}, lr=[2.0])],
                          {'piece': None})

  def test_chained_pieces_resume_after_the_newest_intact_one(self):
    store = self._store()
    made_by = engine.fingerprint({'steps': 30})
    for step in (10, 20, 30):
      store.save(step, _items(step), made_by)
    store.wait()
    _damage(store, 30)
    with self.assertLogs(level='WARNING') as logs:
      step, items = engine.restore_newest(self._store(), made_by, lambda: {'piece': None})
    self.assertEqual(step, 20)
    np.testing.assert_array_equal(items['piece']['x'], np.full(3, 20.0, np.float32))
    self.assertRegex(logs.output[0], r'pieces/30 is damaged .*; resuming from step 20')
    self.assertIsNone(engine.restore_newest(None, made_by, lambda: {'piece': None}))

  def test_the_fingerprint_holds_the_run_config_and_what_else_it_depends_on(self):
    self.assertEqual(engine.fingerprint({'a': 1}, seeds=[1, 2]),
                     checkpoints.fingerprint(run={'a': 1}, seeds=[1, 2]))
    self.assertNotEqual(engine.fingerprint({'a': 1}, seeds=[1, 2]),
                        engine.fingerprint({'a': 1}, seeds=[1, 3]))


class SessionTest(absltest.TestCase):

  def test_a_ctrl_c_stops_after_the_piece_under_way_with_its_checkpoint_written(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    store = checkpoints.Checkpoints(workdir, 'pieces')
    made_by = engine.fingerprint({})
    done = []
    interrupted = lambda: f'saved {store.steps()}'  # Read once the checkpoints are written.
    with self.assertRaises(KeyboardInterrupt) as raised, self.assertLogs(level='WARNING'):
      with engine.session(4, 'piece', 'test', show=False, interrupted=interrupted) as job:
        for number in range(4):
          if number == 1:
            os.kill(os.getpid(), signal.SIGINT)  # A first Ctrl-C while piece 1 is trained.
          self.assertEqual(job.stopping, number >= 1)
          job.save(store, number, _items(number), made_by)
          done.append(number)
          job.advance(1)
    self.assertEqual(done, [0, 1])  # Piece 1 finished and saved; piece 2 never started.
    self.assertEqual(str(raised.exception), 'saved [0, 1]')

  def test_the_stop_is_decided_once_per_piece(self):
    # A Ctrl-C after the piece's save was decided without it stops after the next piece, which
    # is then saved: never after a piece left unsaved.
    saved, done = [], []
    with self.assertRaises(KeyboardInterrupt), self.assertLogs(level='WARNING'):
      with engine.session(4, 'piece', 'test', show=False) as job:
        for number in range(4):
          if job.stopping:
            saved.append(number)
          if number == 1:
            os.kill(os.getpid(), signal.SIGINT)
          done.append(number)
          job.advance(1)
    self.assertEqual(done, [0, 1, 2])
    self.assertEqual(saved, [2])

  def test_without_a_message_the_interrupt_is_left_as_it_is(self):
    with self.assertRaises(KeyboardInterrupt) as raised:
      with engine.session(1, 'piece', 'test', show=False):
        raise KeyboardInterrupt
    self.assertEqual(str(raised.exception), '')


if __name__ == '__main__':
  absltest.main()
