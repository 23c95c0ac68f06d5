"""The command line as a user types it: from any directory, from a non-editable install, and
with one readable line for each mistake."""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

import scan_snap
from scan_snap.core import config_files
from tests.testing import ROOT


def _main(*flags, cwd, env=None):
  return subprocess.run([sys.executable, '-m', 'scan_snap.main', '--compilation_cache=', *flags],
                        cwd=cwd, capture_output=True, text=True, timeout=300,
                        env={**os.environ, **(env or {})})


class AsNamedTest(absltest.TestCase):

  def test_non_editable_install_runs_a_config_from_another_directory(self):
    site = self.create_tempdir('site').full_path
    source = pathlib.Path(self.create_tempdir('source').full_path)  # pip builds in the tree.
    for name in ('pyproject.toml', 'README.md', 'scan_snap', 'configs'):
      copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
      copy(ROOT / name, source / name)
    install = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', site,
         str(source)], capture_output=True, text=True, timeout=300)
    self.assertEqual(install.returncode, 0, install.stderr[-2000:])
    self.assertTrue((pathlib.Path(site) / 'scan_snap' / 'configs' / 'syn_medium.py').exists())
    elsewhere = pathlib.Path(self.create_tempdir('elsewhere').full_path)
    env = {'PYTHONPATH': site}
    where = subprocess.run([sys.executable, '-c', 'import scan_snap; print(scan_snap.__file__)'],
                           cwd=elsewhere, capture_output=True, text=True, env={**os.environ, **env})
    self.assertTrue(where.stdout.startswith(site), where.stdout + where.stderr)

    proc = _main('--config=configs/syn_small.py:smoke', cwd=elsewhere, env=env)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    workdir = elsewhere / 'runs' / 'syn_small_smoke'  # The default work directory.
    self.assertIn(f'work directory: {workdir}', proc.stdout)
    self.assertIn(f'results in {workdir}', proc.stdout)
    self.assertNotIn("backend 'tpu'", proc.stderr)  # A quiet terminal on a CPU machine.
    with open(workdir / 'results.csv') as f:
      self.assertLen(list(csv.DictReader(f)), 4)  # 2 seeds × 2 η_Y

  def test_workdir_flag_overrides_the_default(self):
    elsewhere = pathlib.Path(self.create_tempdir().full_path)
    proc = _main('--config=configs/syn_small.py:smoke', '--workdir=mine',
                 '--config.train.steps=5', '--config.train.log_every=5',
                 '--config.figures.snapshot_steps=(0, 5)', cwd=elsewhere)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertTrue((elsewhere / 'mine' / 'results.csv').exists())
    self.assertFalse((elsewhere / 'runs').exists())
    self.assertEqual((elsewhere / 'mine' / 'report.md').read_text().splitlines()[0],
                     '# Claims checked on syn_small.py:smoke')  # The config's name.


class ErrorsTest(parameterized.TestCase):
  """Each mistake: one or two lines on stderr naming it, a non-zero exit, no traceback."""

  @parameterized.named_parameters(
      ('typo', ('--config=configs/syn_medium.py', '--config.optimizer.lr_zz=1'),
       'config.optimizer.lr_zz is not a key of this config; did you mean config.optimizer.lr_z?'),
      ('typo_in_a_section', ('--config=configs/syn_medium.py', '--config.optimiser.lr_z=1'),
       'config.optimiser.lr_z is not a key of this config; did you mean config.optimizer.lr_z?'),
      ('unknown_variant', ('--config=configs/syn_medium.py:big',),
       "unknown config variant 'big'; expected one of ['smoke'], several joined by '+', or none "
       '(the file name alone)'),
      ('malformed_tuple', ('--config=configs/syn_medium.py', '--config.optimizer.lr_z=(1,'),
       "--config.optimizer.lr_z=(1, is not a value of this tuple; write one number "
       "(--config.optimizer.lr_z=2) or a whole tuple, quoted for the shell: "
       "--config.optimizer.lr_z='(1, 2.5)'"),
      ('names_in_one_string', ('--config=configs/syn_medium.py', '--config.figures.names=a,b'),
       'a tuple with each name quoted: --config.figures.names="(\'name1\', \'name2\')"'),
      ('missing_file', ('--config=configs/syn_mediun.py',),
       "no config file 'configs/syn_mediun.py'"),
      ('bad_literal', ('--config=configs/syn_medium.py', '--config.train.steps=many'),
       'flag --config.train.steps=many'),
      ('out_of_range', ('--config=configs/syn_medium.py', '--config.train.steps=0'),
       'config.train.steps = 0: must be a positive integer'),
      ('peer_timeout', ('--config=configs/syn_medium.py', '--distributed', '--peer_timeout=0'),
       'flag --peer_timeout=0: 0 is not a positive integer'),
      ('token_prior_not_a_bool', ('--config=configs/token_prior.py',
                                  '--config.model.token_prior=3'),
       'flag --config.model.token_prior=3'),
      ('positional', ('--config=configs/syn_medium.py', 'extra'),
       "error: unexpected arguments ['extra']: every setting is a flag"),
  )
  def test_mistake_is_one_clear_message(self, flags, message):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    proc = _main(*flags, cwd=workdir)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn(message, proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)
    self.assertLessEqual(len(proc.stderr.strip().splitlines()), 3, proc.stderr)
    self.assertEqual(list(workdir.iterdir()), [])  # Nothing was written.

  def test_workdir_naming_a_file(self):
    folder = pathlib.Path(self.create_tempdir().full_path)
    (folder / 'notes.txt').write_text('mine')
    for workdir, says in (('notes.txt', 'is a file'), ('notes.txt/run', 'lies under the file')):
      proc = _main('--config=configs/syn_small.py:smoke', f'--workdir={workdir}', cwd=folder)
      self.assertNotEqual(proc.returncode, 0)
      self.assertIn(f'error: the work directory {workdir} {says}', proc.stderr)
      self.assertIn('name a folder (new or existing)', proc.stderr)
      self.assertNotIn('cache_dir', proc.stderr)
      self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual((folder / 'notes.txt').read_text(), 'mine')

  def test_config_file_that_raises(self):
    folder = pathlib.Path(self.create_tempdir().full_path)
    (folder / 'broken.py').write_text('def get_config(variant=""):\n  return 1 / 0\n')
    proc = _main('--config=broken.py', cwd=folder)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('broken.py failed: ZeroDivisionError: division by zero (broken.py, line 2)',
                  proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)


class PythonApiTest(absltest.TestCase):

  def test_load_override_and_train_in_memory(self):
    c = scan_snap.load_config('syn_medium', 'smoke',
                              overrides={'optimizer.lr_z': 2.0, 'data.num_last': 1})
    self.assertEqual((c.optimizer.lr_z, c.data.num_last), ((2.0,), (1,)))  # One-value grids.
    result = scan_snap.run_experiment(c)
    self.assertLen(result['results'], 2 * 2)  # 2 seeds × 2 η_Y.
    self.assertEqual({r['lr_z'] for r in result['results']}, {2.0})
    self.assertLen(result['summary'], 2)
    self.assertEqual([r['num_runs'] for r in result['summary']], [2, 2])

  def test_names_and_paths_load_the_same_config(self):
    by_name = scan_snap.load_config('syn_medium:smoke')
    by_path = scan_snap.load_config(ROOT / 'configs' / 'syn_medium.py', 'smoke')
    by_flag = scan_snap.load_config('configs/syn_medium.py:smoke')
    self.assertEqual(by_name.to_dict(), by_path.to_dict())
    self.assertEqual(by_name.to_dict(), by_flag.to_dict())

  def test_override_of_an_unknown_key_names_the_nearest(self):
    c = scan_snap.load_config('syn_small')
    with self.assertRaisesRegex(config_files.ConfigFileError, 'did you mean config.train.steps'):
      scan_snap.override(c, {'train.stepz': 3})

  def test_every_shipped_config_is_in_the_repository(self):
    self.assertEqual(config_files.packaged_names(),
                     sorted(p.stem for p in (ROOT / 'configs').glob('*.py')
                            if p.stem != '__init__'))


class CurvesTest(absltest.TestCase):

  def test_one_curve_per_learning_rate_cell(self):
    c = scan_snap.load_config('syn_medium:smoke', overrides={'data.num_last': 1})
    workdir = pathlib.Path(self.create_tempdir().full_path)
    scan_snap.run_experiment(c, workdir, tensorboard=True)
    cells = {(r['lr_z'], r['lr_y']) for r in scan_snap.run_experiment(c)['results']}
    self.assertLen(cells, 4)
    self.assertEqual(sorted(p.name for p in (workdir / 'tensorboard').iterdir()),
                     sorted(f'group=num_last1_T16,lr_z={z},lr_y={y}' for z, y in cells))
    lines = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
    with np.load(workdir / 'trajectories' / 'num_last1_T16.npz') as npz:
      for line in lines:  # Each line is the seed mean of its own cell.
        runs = (npz['lr_z'] == line['lr_z']) & (npz['lr_y'] == line['lr_y'])
        step = list(npz['steps']).index(line['step'])
        self.assertEqual(line['num_runs'], runs.sum())
        self.assertAlmostEqual(line['attn/entropy'], npz['entropy'][runs, step].mean(), places=6)
        self.assertAlmostEqual(line['lr_y_over_lr_z'], line['lr_y'] / line['lr_z'])


if __name__ == '__main__':
  absltest.main()
