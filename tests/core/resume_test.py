"""A sweep killed with SIGKILL resumes from its checkpoints and ends as if never interrupted."""

import json
import pathlib
import re
import signal
import subprocess
import sys
import time

from absl.testing import absltest
import numpy as np

import scan_snap
from scan_snap.core import outputs
from tests.testing import ROOT, WIKITEXT_DIR, finished_chunks, load_config

_FLAGS = ('--config=configs/syn_medium.py:smoke', '--compilation_cache=',
          '--config.sweep.num_seeds=6', '--config.train.steps=200', '--config.train.log_every=20')
_WIKITEXT_FLAGS = ('--config=configs/wikitext2.py:smoke', '--compilation_cache=',
                   f'--config.data.dir={WIKITEXT_DIR}', '--config.train.steps=100',
                   '--config.train.checkpoint_every=20')


def _main(workdir, *flags):
  return [sys.executable, '-m', 'scan_snap.main', f'--workdir={workdir}', *(flags or _FLAGS)]


class ResumeTest(absltest.TestCase):

  def test_killed_sweep_resumes_to_identical_results(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    reference = subprocess.run(_main(tmp / 'reference'), cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    self.assertEqual(reference.returncode, 0, reference.stderr[-2000:])

    workdir = tmp / 'killed'
    proc = subprocess.Popen(_main(workdir), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while finished_chunks(workdir) < 2 and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    self.assertEqual(proc.returncode, -signal.SIGKILL, 'the run ended before it could be killed')
    self.assertBetween(finished_chunks(workdir), 2, 5)  # Killed with part of the 6 chunks done.

    resumed = subprocess.run(_main(workdir), cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-2000:])
    self.assertIn('finished chunks are restored', resumed.stderr)
    self.assertEqual((workdir / 'results.csv').read_text(),
                     (tmp / 'reference' / 'results.csv').read_text())
    for path in (tmp / 'reference' / 'trajectories').glob('*.npz'):
      with np.load(path) as want, np.load(workdir / 'trajectories' / path.name) as got:
        for key in want.files:
          np.testing.assert_array_equal(got[key], want[key], err_msg=f'{path.name}: {key}')

  @absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                       f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
  def test_killed_wikitext_training_resumes_to_identical_results(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    flags = (*_WIKITEXT_FLAGS, f'--config.data.cache_dir={tmp / "tfds"}')
    reference = subprocess.run(_main(tmp / 'reference', *flags), cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    self.assertEqual(reference.returncode, 0, reference.stderr[-2000:])

    workdir = tmp / 'killed'
    proc = subprocess.Popen(_main(workdir, *flags), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    saved = lambda: [p for p in (workdir / 'checkpoints').glob('*') if p.name.isdigit()]
    deadline = time.time() + 240
    while not saved() and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    self.assertEqual(proc.returncode, -signal.SIGKILL, 'the run ended before it could be killed')
    self.assertFalse((workdir / 'results.csv').exists())  # Killed before the end.

    resumed = subprocess.run(_main(workdir, *flags), cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-2000:])
    self.assertIn('resuming', resumed.stderr)
    for name in ('results.csv', 'metrics.jsonl'):
      self.assertEqual((workdir / name).read_text(), (tmp / 'reference' / name).read_text())
    with np.load(tmp / 'reference' / 'trajectories.npz') as want, \
         np.load(workdir / 'trajectories.npz') as got:
      for key in want.files:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)

  def test_finished_workdir_trains_nothing(self):
    # Its reference runs (the population dynamics of the long-sequence limit) included.
    c = load_config('finite_t', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    first = scan_snap.run_experiment(c, workdir)
    self.assertGreater(first['train_s'], 0)
    self.assertTrue((workdir / 'checkpoints' / 'population_num_last2' / '0').is_dir())
    claims = (workdir / 'claims.json').read_bytes()
    again = scan_snap.run_experiment(c, workdir)
    self.assertEqual((again['compile_s'], again['train_s']), (0.0, 0.0))
    self.assertEqual(again['summary'], first['summary'])
    self.assertEqual((workdir / 'claims.json').read_bytes(), claims)

  def test_another_config_needs_overwrite(self):
    c = load_config('syn_small', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    scan_snap.run_experiment(c, workdir)
    c.optimizer.lr_z = (2.0,)
    with self.assertRaisesRegex(
        outputs.WorkdirError, re.escape('holds a run of another config (config.optimizer.lr_z = '
                                        '[1.0] there, [2.0] here)')):
      scan_snap.run_experiment(c, workdir)
    result = scan_snap.run_experiment(c, workdir, overwrite=True)
    self.assertGreater(result['train_s'], 0)  # Trained anew, not restored.
    self.assertIn('2.0', (workdir / 'results.csv').read_text())

  def test_other_figures_and_claims_report_the_runs_found_anew(self):
    c = load_config('syn_small', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    first = scan_snap.run_experiment(c, workdir)
    c.report.claims = c.report.claims[:1]
    c.figures.names = ()
    again = scan_snap.run_experiment(c, workdir)  # What is trained is the same: nothing is.
    self.assertEqual((again['compile_s'], again['train_s']), (0.0, 0.0))
    self.assertEqual(again['summary'], first['summary'])
    self.assertLess(len(again['claims']), len(first['claims']))
    self.assertEqual(json.loads((workdir / 'config.json').read_text())['report']['claims'],
                     list(c.report.claims))
    c.report.claims = ()  # No claims: the earlier report goes, rather than contradict config.json.
    scan_snap.run_experiment(c, workdir)
    self.assertFalse((workdir / 'report.md').exists() or (workdir / 'claims.json').exists())


if __name__ == '__main__':
  absltest.main()
