"""Faults of the training and of the input: runs that diverge while staying finite, grids too
large for the machine, an interrupted run, a work directory that cannot be written, a damaged
WikiText file. Each is marked or reported in one line, never a silently wrong number."""

import math
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from unittest import mock

from absl.testing import absltest

import scan_snap
from scan_snap.sequence_classes import config
from scan_snap.core import runtime
from scan_snap.sequence_classes import train
from scan_snap.wikitext import data
from tests.testing import ROOT, WIKITEXT_DIR, finished_chunks, load_config


def _smoke(**overrides):
  return scan_snap.load_config('syn_medium:smoke', overrides={'data.num_last': 1, **overrides})


class DivergenceTest(absltest.TestCase):

  def test_finite_but_diverging_runs_are_marked(self):
    for huge in (1e6, 1e30):  # Loss about 5e5 and 5e29: finite, and far past the bound.
      c = _smoke(**{'optimizer.lr_z': (huge, 1.0), 'report.claims': ('learning_rates',)})
      result = scan_snap.run_experiment(c)
      for row in result['results']:
        self.assertEqual(row['diverged'], row['lr_z'] > 1, row)
        self.assertTrue(math.isfinite(row['entropy']), row)  # Defined, even when collapsed.
      for cell in result['summary']:
        self.assertEqual((cell['num_runs'], cell['num_diverged']),
                         (0, 2) if cell['lr_z'] > 1 else (2, 0))
      for check in result['claims']:
        self.assertIn('4 diverged runs left out', check['measured'])

  def test_wide_grid_every_kept_run_is_finite_and_bounded(self):
    c = _smoke(**{'optimizer.lr_z': (0.01, 1.0, 100.0, 1e4, 1e8), 'optimizer.lr_y': (1.0, 10.0)})
    result = scan_snap.run_experiment(c)
    diverged = [row['diverged'] for row in result['results']]
    self.assertTrue(any(diverged) and not all(diverged))  # Both kinds are in the grid.
    bound = train.divergence_bound(config.run_config(c, 1))
    for row in result['results']:
      if not row['diverged']:
        self.assertTrue(math.isfinite(row['entropy']) and row['final_loss'] <= bound, row)
    for cell in result['summary']:
      if cell['num_runs']:
        self.assertTrue(math.isfinite(cell['entropy_mean']), cell)

  def test_healthy_runs_stay_far_below_the_bound(self):
    c = load_config('syn_small', 'smoke')
    result = scan_snap.run_experiment(c)
    self.assertFalse(any(row['diverged'] for row in result['results']))
    bound = train.divergence_bound(config.run_config(c, 2))
    self.assertLess(max(row['final_loss'] for row in result['results']), bound / 5)


class SizeTest(absltest.TestCase):

  def test_a_grid_larger_than_the_machine_is_refused_before_anything_is_written(self):
    c = _smoke(**{'sweep.num_seeds': 10_000_000})
    workdir = pathlib.Path(self.create_tempdir().full_path) / 'run'
    with self.assertRaisesRegex(runtime.TooLargeError, r'40000000 runs need about .* GB of '
                                r'memory .*: shrink the job \(sweep.num_seeds, optimizer.lr_z, '
                                r'.*data.num_last.*\), or pass --force'):
      scan_snap.run_experiment(c, workdir)
    self.assertFalse(workdir.exists())

  def test_force_runs_it_anyway(self):
    c = _smoke()
    with mock.patch.object(runtime, 'available_memory', return_value=1):
      with self.assertRaises(runtime.TooLargeError):
        scan_snap.run_experiment(c)
      self.assertLen(scan_snap.run_experiment(c, force=True)['results'], 8)


def _main(workdir, *flags):
  return [sys.executable, '-m', 'scan_snap.main', f'--workdir={workdir}', '--compilation_cache=',
          '--config=configs/syn_medium.py:smoke', '--config.data.num_last=1', *flags]


class CommandLineFaultsTest(absltest.TestCase):

  def test_ctrl_c_prints_one_line_and_the_run_resumes(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    flags = ('--config.sweep.num_seeds=8', '--config.train.steps=200',
             '--config.train.log_every=20')
    reference = subprocess.run(_main(tmp / 'reference', *flags), cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    self.assertEqual(reference.returncode, 0, reference.stderr[-2000:])
    workdir = tmp / 'interrupted'
    proc = subprocess.Popen(_main(workdir, *flags), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while finished_chunks(workdir) < 1 and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    self.assertNotEqual(proc.returncode, 0, 'the run ended before it could be interrupted')
    self.assertNotIn('Traceback', stderr)
    saved = finished_chunks(workdir)
    self.assertBetween(saved, 1, 3)  # 4 chunks of 2 seeds; the interrupted one is not lost.
    self.assertTrue(stderr.rstrip().endswith(
        f'interrupted: saved {saved} of 4 chunks: the same command trains the others'), stderr)

    resumed = subprocess.run(_main(workdir, *flags), cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-2000:])
    self.assertIn(f'{saved} finished chunks are restored', resumed.stderr)
    self.assertEqual((workdir / 'results.csv').read_text(),
                     (tmp / 'reference' / 'results.csv').read_text())


class WikiTextInterruptTest(absltest.TestCase):

  @absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                       f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
  def test_ctrl_c_saves_the_step_it_stops_at_and_the_run_resumes(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    c = load_config('wikitext2', 'smoke')
    scan_snap.override(c, {'data.dir': str(WIKITEXT_DIR), 'data.cache_dir': str(tmp / 'tfds'),
                           'figures.names': (), 'train.checkpoint_every': 20})
    scan_snap.run_experiment(c, tmp / 'reference')
    workdir = tmp / 'interrupted'

    def interrupt_after_the_first_evaluation():
      while not (workdir / 'metrics.jsonl').exists():
        time.sleep(0.01)
      os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_after_the_first_evaluation, daemon=True).start()
    with self.assertRaises(KeyboardInterrupt) as raised:
      scan_snap.run_experiment(c, workdir)
    stopped = [int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit()]
    self.assertLen(stopped, 1)  # Saved where it stopped, though checkpoint_every is 20.
    self.assertLess(stopped[0], c.train.steps)
    self.assertEqual(str(raised.exception), f'saved at step {stopped[0]} of {c.train.steps}: '
                     'the same command resumes from it')
    resumed = scan_snap.run_experiment(c, workdir)
    self.assertEqual(resumed['steps_trained'], c.train.steps - stopped[0])
    for name in ('results.csv', 'metrics.jsonl'):
      self.assertEqual((workdir / name).read_text(), (tmp / 'reference' / name).read_text())


class WikiTextInputTest(absltest.TestCase):

  @absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                       f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
  def test_a_bad_byte_past_the_first_mib_is_named_with_its_offset(self):
    folder = pathlib.Path(self.create_tempdir().full_path)
    for name in ('wiki.valid.tokens', 'wiki.test.tokens'):
      shutil.copy(WIKITEXT_DIR / name, folder / name)
    text = bytearray((folder / 'wiki.test.tokens').read_bytes())
    offset = len(text) - 1000  # Past the first MiB, which the heading check reads.
    self.assertGreater(offset, 1 << 20)
    text[offset] = 0xFF
    (folder / 'wiki.test.tokens').write_bytes(bytes(text))
    with self.assertRaisesRegex(data.DataError,
                                rf"wiki.test.tokens is not UTF-8 text: byte b'\\xff' at offset "
                                rf'{offset} cannot be decoded'):
      data.check_folder(folder, 'tokens', ('validation', 'test'))


if __name__ == '__main__':
  absltest.main()
