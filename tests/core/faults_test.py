"""Faults that must not pass unnoticed: checkpoints that another config or code version made,
damaged checkpoints, two runs on one work directory, and what killed runs leave behind."""

import errno
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import types
from unittest import mock

from absl.testing import absltest
import jax
import numpy as np
import orbax.checkpoint as ocp

import scan_snap
from scan_snap.core import checkpoints
from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.sequence_classes import sweep
from tests.testing import ROOT, WIKITEXT_DIR, finished_chunks, load_config

_NUM_CHUNKS = 4


def _can_mount_tmpfs() -> bool:
  """Whether this process may mount a small tmpfs (root, in a machine that allows it)."""
  if not hasattr(os, 'geteuid') or os.geteuid() != 0 or shutil.which('mount') is None:
    return False
  folder = tempfile.mkdtemp()
  try:
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', folder],
                             capture_output=True, check=False).returncode == 0
    if mounted:
      subprocess.run(['umount', folder], check=False)
    return mounted
  finally:
    os.rmdir(folder)


def _config():
  """Syn-Small's smoke run in four chunks of two seeds, without figures."""
  c = load_config('syn_small', 'smoke')
  c.sweep.num_seeds = 2 * _NUM_CHUNKS * jax.device_count()
  c.figures.names = ()
  return c


def _largest_file(folder: pathlib.Path) -> pathlib.Path:
  return max((p for p in folder.rglob('*') if p.is_file()), key=lambda p: p.stat().st_size)


def _flip_a_bit_that_changes_the_numbers(test: absltest.TestCase,
                                         checkpoint: pathlib.Path) -> None:
  """Flips one bit of an orbax pytree checkpoint's data, one that orbax reads back as other
  numbers with no error: what only a checksum can catch."""
  checkpointer = ocp.StandardCheckpointer()
  leaves = lambda: [np.asarray(x).tobytes() for x in jax.tree.leaves(
      checkpointer.restore(checkpoint))]
  before = leaves()
  data = _largest_file(checkpoint)
  original = data.read_bytes()
  for position in range(len(original) // 3, len(original)):
    flipped = bytearray(original)
    flipped[position] ^= 1
    data.write_bytes(bytes(flipped))
    try:
      if leaves() != before:
        return
    except Exception:  # pylint: disable=broad-except  # A bit that orbax notices: try another.
      pass
  test.fail(f'no bit of {data} changes the numbers read back')


class SequenceClassFaultsTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = pathlib.Path(tempfile.mkdtemp())
    cls.addClassCleanup(shutil.rmtree, cls.tmp)
    umask = os.umask(0o022)
    try:
      scan_snap.run_experiment(_config(), cls.tmp / 'reference')
    finally:
      os.umask(umask)

  def _copy(self) -> pathlib.Path:
    """A copy of the finished reference work directory."""
    workdir = pathlib.Path(self.create_tempdir().full_path) / 'workdir'
    shutil.copytree(self.tmp / 'reference', workdir)
    return workdir

  def _chunk(self, workdir: pathlib.Path, index: int) -> pathlib.Path:
    return workdir / 'checkpoints' / 'num_last2_T16' / str(index)

  def _assert_reference_results(self, workdir: pathlib.Path) -> None:
    reference = self.tmp / 'reference'
    self.assertEqual((workdir / 'results.csv').read_text(),
                     (reference / 'results.csv').read_text())
    with np.load(reference / 'trajectories' / 'num_last2_T16.npz') as want, \
         np.load(workdir / 'trajectories' / 'num_last2_T16.npz') as got:
      for key in want.files:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)

  def test_chunks_of_other_rates_are_refused_and_overwrite_clears_them(self):
    workdir = self._copy()
    (workdir / 'config.json').unlink()
    c = _config()
    c.optimizer.lr_z = (2.0,)
    with self.assertRaisesRegex(
        outputs.WorkdirError, re.escape(f'{workdir.resolve()} holds checkpoints made by another '
                                        'config or code version') + '.*pass --overwrite'):
      scan_snap.run_experiment(c, workdir)
    self.assertFalse((workdir / 'config.json').exists())  # Not claimed by the refused config.
    self._assert_reference_results(workdir)

    result = scan_snap.run_experiment(c, workdir, overwrite=True)
    self.assertGreater(result['train_s'], 0)  # Trained anew, not restored.
    self.assertEqual({row['lr_z'] for row in result['results']}, {2.0})
    self.assertEqual(scan_snap.run_experiment(c, workdir)['train_s'], 0.0)  # Its own chunks now.

  def test_a_key_added_since_and_left_at_its_default_resumes(self):
    workdir = self._copy()
    saved = json.loads((workdir / 'config.json').read_text())
    # As if made before these keys, which the config leaves at their defaults.
    del saved['sweep']['pairs_per_block'], saved['train']['eval_batches']
    del saved['report']['loss_threshold']
    (workdir / 'config.json').write_text(json.dumps(saved))
    self.assertEqual(scan_snap.run_experiment(_config(), workdir)['train_s'], 0.0)  # Restored, not trained.
    self._assert_reference_results(workdir)
    self.assertIn('pairs_per_block', json.loads((workdir / 'config.json').read_text())['sweep'])

    (workdir / 'config.json').write_text(json.dumps(saved))  # Without pairs_per_block again.
    c = _config()
    c.sweep.pairs_per_block = 4  # Not the default: the saved run may have had another value.
    c.sweep.num_seeds = 2
    with self.assertRaisesRegex(outputs.WorkdirError, re.escape(
        'holds a run of another config (config.sweep.num_seeds = '
        f'{2 * _NUM_CHUNKS * jax.device_count()} there, 2 here; config.sweep.pairs_per_block = '
        'absent there, 4 here)')):
      scan_snap.run_experiment(c, workdir)

  def test_chunks_of_other_steps_or_code_version_are_refused(self):
    workdir = self._copy()
    with mock.patch.object(checkpoints, 'RESULTS_VERSION', checkpoints.RESULTS_VERSION + 1):
      with self.assertRaisesRegex(outputs.WorkdirError, 'another config or code version'):
        scan_snap.run_experiment(_config(), workdir)
    (workdir / 'config.json').unlink()
    c = _config()
    c.train.steps = 20
    with self.assertRaisesRegex(outputs.WorkdirError, 'another config or code version'):
      scan_snap.run_experiment(c, workdir)

  def test_a_flipped_bit_is_reported_and_its_chunk_trained_again(self):
    workdir = self._copy()
    _flip_a_bit_that_changes_the_numbers(self, self._chunk(workdir, 1) / 'chunk')
    with self.assertLogs('absl', 'INFO') as logs:
      result = scan_snap.run_experiment(_config(), workdir)
    warnings = [line for line in logs.output if line.startswith('WARNING')]
    self.assertLen(warnings, 1)
    self.assertRegex(warnings[0], r'num_last2_T16/1 is damaged \(its arrays do not match their '
                     r'checksum\); it is trained again')
    self.assertTrue(any(f'{_NUM_CHUNKS - 1} finished chunks are restored' in line
                        for line in logs.output))
    self.assertGreater(result['train_s'], 0)
    self._assert_reference_results(workdir)

  def test_unreadable_chunks_are_reported_and_trained_again(self):
    workdir = self._copy()
    truncated = _largest_file(self._chunk(workdir, 0))
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size // 2])
    for path in self._chunk(workdir, 1).rglob('*'):
      if path.is_file():
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    for path in sorted(self._chunk(workdir, 2).iterdir())[::2]:  # Half of the folder.
      if path.is_dir():
        shutil.rmtree(path)
      else:
        path.unlink()
    with self.assertLogs('absl', 'WARNING') as logs:
      scan_snap.run_experiment(_config(), workdir)
    self.assertLen(logs.output, 3)
    for index, line in enumerate(logs.output):
      self.assertRegex(line, f'num_last2_T16/{index} is damaged .*; it is trained again')
    self._assert_reference_results(workdir)
    self.assertEqual(scan_snap.run_experiment(_config(), workdir)['train_s'], 0.0)  # Saved anew.

  def test_a_second_run_on_a_locked_workdir_fails_before_compiling(self):
    workdir = self._copy()
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import pathlib, sys, time\n'
         'from scan_snap.core import outputs\n'
         'with outputs.workdir_lock(pathlib.Path(sys.argv[1])):\n'
         '  print("locked", flush=True)\n'
         '  time.sleep(120)', str(workdir)],
        env={**os.environ, 'PYTHONPATH': str(ROOT)}, stdout=subprocess.PIPE, text=True)
    self.addCleanup(holder.wait)
    self.addCleanup(holder.kill)
    self.assertEqual(holder.stdout.readline(), 'locked\n')
    with mock.patch.object(sweep, 'Sweep', side_effect=AssertionError('not refused')):
      with self.assertRaisesRegex(outputs.WorkdirError, re.escape(
          f'{workdir} is in use by another run (pid {holder.pid})')):
        scan_snap.run_experiment(_config(), workdir)
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
             self._chunk(workdir, 9).with_name('9.orbax-checkpoint-tmp-1700000000')]
    for path in stale[:2]:
      path.write_text('half written')
    stale[2].mkdir()
    (stale[2] / '_METADATA').write_text('{')
    (workdir / '.keep').write_text('not ours')
    self.assertEqual(scan_snap.run_experiment(_config(), workdir)['train_s'], 0.0)
    self.assertEqual([path for path in stale if path.exists()], [])
    self.assertTrue((workdir / '.keep').exists())

  def test_a_disk_that_fills_in_a_checkpoint_is_one_error_and_loses_no_finished_chunk(self):
    workdir = pathlib.Path(self.create_tempdir().full_path) / 'workdir'
    real_save, calls = ocp.CheckpointManager.save, []

    def save(manager, step, *args, **kwargs):
      calls.append(step)
      if len(calls) == 3:  # As orbax reports a full disk: a ValueError with the OS error code.
        raise ValueError(f'RESOURCE_EXHAUSTED: Failed writing: "{manager.directory}/{step}'
                         '.orbax-checkpoint-tmp/chunk.orbax-checkpoint-tmp/d/0a1b": Failed to '
                         "write 778 bytes to file 7: No space left on device [os_error_code='28']")
      return real_save(manager, step, *args, **kwargs)

    with mock.patch.object(ocp.CheckpointManager, 'save', save), \
        self.assertRaises(OSError) as raised:
      scan_snap.run_experiment(_config(), workdir)
    self.assertEqual(raised.exception.errno, errno.ENOSPC)
    self.assertEqual(raised.exception.filename,
                     str(self._chunk(workdir, 2).resolve()) + '.orbax-checkpoint-tmp')
    self.assertEqual(finished_chunks(workdir), 2)  # The two saved before it are kept.
    scan_snap.run_experiment(_config(), workdir)  # Space freed: the same call resumes.
    self._assert_reference_results(workdir)

  @absltest.skipUnless(_can_mount_tmpfs(), 'mounting a tmpfs needs root and a kernel that lets')
  def test_on_a_small_real_disk_the_command_line_says_it_in_one_line(self):
    disk = pathlib.Path(self.create_tempdir().full_path)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=100k', 'tmpfs', str(disk)], check=True)
    self.addCleanup(subprocess.run, ['umount', str(disk)], check=False)
    command = [sys.executable, '-m', 'scan_snap.main', '--config=configs/syn_medium.py:smoke',
               f'--workdir={disk}/run', '--compilation_cache=']
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 1)
    self.assertNotIn('Traceback', proc.stderr)
    self.assertRegex(proc.stderr.strip().splitlines()[-1],
                     rf'^error: No space left on device \({re.escape(str(disk))}/run/\S+\): '
                     r'free space, then run the same command again \(what was finished is saved '
                     r'and resumes\)$')
    kept = finished_chunks(disk / 'run')
    subprocess.run(['mount', '-o', 'remount,size=4m', str(disk)], check=True)
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn(f'{kept} finished chunks are restored', proc.stderr)

  def test_a_full_disk_is_found_behind_the_error_a_writer_raises(self):
    orbax = ValueError('RESOURCE_EXHAUSTED: Failed writing: "/w/checkpoints/g/3.orbax-checkpoint-'
                       'tmp/chunk.orbax-checkpoint-tmp/d/ff": No space left on device '
                       "[os_error_code='122']")
    found = outputs.disk_full(orbax)
    self.assertEqual((found.errno, found.filename),
                     (errno.EDQUOT, '/w/checkpoints/g/3.orbax-checkpoint-tmp'))
    path = pathlib.Path(self.create_tempdir().full_path) / 'figure.pdf'
    with self.assertRaises(OSError) as raised, outputs.atomic_path(path):
      try:  # matplotlib's PDF writer, whose clean-up raises while the OSError is handled.
        raise OSError(errno.ENOSPC, 'No space left on device')
      except OSError:
        raise AttributeError("'Stream' object has no attribute 'pos'")  # pylint: disable=raise-missing-from
    self.assertEqual((raised.exception.errno, raised.exception.filename),
                     (errno.ENOSPC, str(path)))
    self.assertEqual(list(path.parent.iterdir()), [])  # Its temporary file is gone.
    self.assertIsNone(outputs.disk_full(ValueError('RESOURCE_EXHAUSTED: out of memory')))
    self.assertIsNone(outputs.disk_full(OSError(errno.EACCES, 'Permission denied')))

  def test_tracebacks_of_orbax_abandoned_reads_are_dropped(self):
    reported = []
    with mock.patch.object(sys, 'unraisablehook', reported.append):
      runtime.quiet_library_logs()
      for error in (RuntimeError('Event loop is closed'), RuntimeError('something else')):
        sys.unraisablehook(types.SimpleNamespace(exc_type=RuntimeError, exc_value=error))
    self.assertEqual([str(u.exc_value) for u in reported], ['something else'])


@absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                     f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
class WikiTextFaultsTest(absltest.TestCase):

  def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(self):
    c = load_config('wikitext2', 'smoke')
    c.data.dir = str(WIKITEXT_DIR)
    c.data.cache_dir = self.create_tempdir().full_path
    c.figures.names = ()
    workdir = pathlib.Path(self.create_tempdir().full_path)
    reference = scan_snap.run_experiment(c, workdir)
    reference_metrics = (workdir / 'metrics.jsonl').read_text()
    _flip_a_bit_that_changes_the_numbers(self, workdir / 'checkpoints' / '20' / 'state')
    with self.assertLogs('absl', 'WARNING') as logs:
      resumed = scan_snap.run_experiment(c, workdir)
    self.assertLen(logs.output, 1)
    self.assertRegex(logs.output[0], 'checkpoints/20 is damaged .*; resuming from step 10')
    self.assertEqual(resumed['steps_trained'], 10)
    self.assertEqual(resumed['results'], reference['results'])
    self.assertEqual((workdir / 'metrics.jsonl').read_text(), reference_metrics)
    self.assertEqual(scan_snap.run_experiment(c, workdir)['steps_trained'], 0)  # Step 20 saved anew.


if __name__ == '__main__':
  absltest.main()
