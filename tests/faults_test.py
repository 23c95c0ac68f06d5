"""Faults that must not pass unnoticed: two runs on one work directory, and what killed runs
leave behind."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

from absl.testing import absltest
import jax

from scan_snap import experiment
from scan_snap import outputs
from scan_snap import sweep
from tests.conftest import ROOT, load_config

_NUM_CHUNKS = 4


def _config():
  """Syn-Small's smoke run in four chunks of two seeds, without figures."""
  c = load_config('syn_small', 'smoke')
  c.sweep.num_seeds = 2 * _NUM_CHUNKS * jax.device_count()
  c.figures.names = ()
  return c


class SequenceClassFaultsTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = pathlib.Path(tempfile.mkdtemp())
    cls.addClassCleanup(shutil.rmtree, cls.tmp)
    umask = os.umask(0o022)
    try:
      experiment.run(_config(), cls.tmp / 'reference')
    finally:
      os.umask(umask)

  def _copy(self) -> pathlib.Path:
    """A copy of the finished reference work directory."""
    workdir = pathlib.Path(self.create_tempdir().full_path) / 'workdir'
    shutil.copytree(self.tmp / 'reference', workdir)
    return workdir

  def _chunk(self, workdir: pathlib.Path, index: int) -> pathlib.Path:
    return workdir / 'checkpoints' / 'num_last2_T16' / f'chunk_{index}'

  def test_a_second_run_on_a_locked_workdir_fails_before_compiling(self):
    workdir = self._copy()
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import pathlib, sys, time\n'
         'from scan_snap import outputs\n'
         'with outputs.workdir_lock(pathlib.Path(sys.argv[1])):\n'
         '  print("locked", flush=True)\n'
         '  time.sleep(120)', str(workdir)],
        env={**os.environ, 'PYTHONPATH': str(ROOT)}, stdout=subprocess.PIPE, text=True)
    self.addCleanup(holder.wait)
    self.addCleanup(holder.kill)
    self.assertEqual(holder.stdout.readline(), 'locked\n')
    with mock.patch.object(sweep, 'run_sweep', side_effect=AssertionError('not refused')):
      with self.assertRaisesRegex(outputs.WorkdirError, re.escape(
          f'{workdir} is in use by another run (pid {holder.pid})')):
        experiment.run(_config(), workdir)
    holder.kill()
    holder.wait()
    with outputs.workdir_lock(workdir):  # Released when its holder was killed.
      pass

  def test_files_honour_the_umask(self):
    self.assertEqual((self.tmp / 'reference' / 'results.csv').stat().st_mode & 0o777, 0o644)
    path = pathlib.Path(self.create_tempdir().full_path) / 'a.txt'
    umask = os.umask(0o002)
    try:
      outputs.write_text(path, 'text')
    finally:
      os.umask(umask)
    self.assertEqual(path.stat().st_mode & 0o777, 0o664)

  def test_temporary_files_of_killed_runs_are_removed(self):
    workdir = self._copy()
    stale = [workdir / '.results.csv.k2j3h4g5.csv',
             workdir / 'trajectories' / '.num_last2_T16.npz.0f3a9b2c.npz',
             self._chunk(workdir, 9).with_name('chunk_9.orbax-checkpoint-tmp-1700000000')]
    for path in stale[:2]:
      path.write_text('half written')
    stale[2].mkdir()
    (stale[2] / '_METADATA').write_text('{')
    (workdir / '.keep').write_text('not ours')
    self.assertEqual(experiment.run(_config(), workdir)['train_s'], 0.0)
    self.assertEqual([path for path in stale if path.exists()], [])
    self.assertTrue((workdir / '.keep').exists())

if __name__ == '__main__':
  absltest.main()
