"""A sweep killed with SIGKILL resumes from its checkpoints and ends as if never interrupted."""

import pathlib
import signal
import subprocess
import sys
import time

from absl.testing import absltest
import numpy as np

from scan_snap import checkpoints
from scan_snap import experiment
from tests.conftest import ROOT, load_config

_FLAGS = ('--config=configs/syn_medium.py:smoke', '--compilation_cache=',
          '--config.sweep.num_seeds=6', '--config.train.steps=400', '--config.train.log_every=20')


def _main(workdir, *extra):
  return [sys.executable, '-m', 'scan_snap.main', f'--workdir={workdir}', *_FLAGS, *extra]


class ResumeTest(absltest.TestCase):

  def test_killed_sweep_resumes_to_identical_results(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    reference = subprocess.run(_main(tmp / 'reference'), cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    self.assertEqual(reference.returncode, 0, reference.stderr[-2000:])

    workdir = tmp / 'killed'
    store = checkpoints.ChunkStore(workdir / 'checkpoints')
    proc = subprocess.Popen(_main(workdir), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while store.num_saved() < 2 and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    self.assertEqual(proc.returncode, -signal.SIGKILL, 'the run ended before it could be killed')
    self.assertBetween(store.num_saved(), 2, 5)  # Killed with part of the 6 chunks done.

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

  def test_finished_workdir_trains_nothing(self):
    c = load_config('syn_small', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    first = experiment.run(c, workdir)
    self.assertGreater(first['train_s'], 0)
    again = experiment.run(c, workdir)
    self.assertEqual((again['compile_s'], again['train_s']), (0.0, 0.0))
    self.assertEqual(again['summary'], first['summary'])

  def test_another_config_needs_overwrite(self):
    c = load_config('syn_small', 'smoke')
    workdir = pathlib.Path(self.create_tempdir().full_path)
    experiment.run(c, workdir)
    c.optimizer.lr_z = (2.0,)
    with self.assertRaisesRegex(experiment.WorkdirError, 'holds a run of another config'):
      experiment.run(c, workdir)
    result = experiment.run(c, workdir, overwrite=True)
    self.assertGreater(result['train_s'], 0)  # Trained anew, not restored.
    self.assertIn('2.0', (workdir / 'results.csv').read_text())


if __name__ == '__main__':
  absltest.main()
