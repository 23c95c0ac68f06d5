"""The launch scripts, in their dry-run mode."""

import os
import subprocess

from absl.testing import absltest
from absl.testing import parameterized

from tests.testing import ROOT


def _launch(script, *args, dry_run=True, **env_vars):
  env = {**os.environ, 'DRY_RUN': '1' if dry_run else '0', **env_vars}
  return subprocess.run(['bash', str(ROOT / 'launch' / script), *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=60)


class LaunchTest(parameterized.TestCase):

  @parameterized.parameters(
      ('local.sh', 'python -m scan_snap.main --config=configs/syn_small.py --workdir=runs/x '
                   '--config.sweep.num_seeds=3'),
      ('slurm.sh', 'srun python -m scan_snap.main --distributed --config=configs/syn_small.py '
                   '--workdir=runs/x --config.sweep.num_seeds=3'),
  )
  def test_dry_run_prints_the_command(self, script, want):
    proc = _launch(script, 'configs/syn_small.py', 'runs/x', '--config.sweep.num_seeds=3')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertEqual(proc.stdout.strip(), want)

  def test_slurm_warns_of_gpus_left_idle(self):
    proc = _launch('slurm.sh', 'configs/syn_small.py', 'runs/x', SLURM_GPUS_ON_NODE='8',
                   SLURM_NTASKS_PER_NODE='1')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertIn('warning: 8 GPUs but 1 task(s) per node', proc.stderr)
    proc = _launch('slurm.sh', 'configs/syn_small.py', 'runs/x', SLURM_GPUS_ON_NODE='8',
                   SLURM_NTASKS_PER_NODE='8')
    self.assertEqual(proc.stderr, '')

  def test_tpu_vm_dry_run(self):
    proc = _launch('tpu_vm.sh', 'configs/syn_small.py', 'runs/x', '--config.sweep.num_seeds=3',
                   '--config.data.dir=/mnt/my data', TPU_NAME='my-tpu', ZONE='us-central2-b')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    # One remote command line, its arguments quoted for the workers' shell.
    self.assertEqual(proc.stdout.strip(),
                     'gcloud compute tpus tpu-vm ssh my-tpu --zone=us-central2-b --worker=all '
                     '--command=python -m scan_snap.main --distributed '
                     '--config=configs/syn_small.py --workdir=runs/x --config.sweep.num_seeds=3 '
                     '--config.data.dir=/mnt/my\\ data')

  def test_gallery_dry_run(self):
    proc = _launch('gallery.sh', WIKITEXT_DIR='/data/wikitext-2')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    commands = proc.stdout.strip().splitlines()
    self.assertLen(commands, 16)
    for name in ('token_prior', 'residual', 'hierarchical'):
      self.assertIn(f'python -m scan_snap.main --config=configs/{name}.py '
                    f'--workdir=runs/gallery/{name}', commands)
    self.assertIn('python -m scan_snap.main --config=configs/hierarchical.py:varied '
                  '--workdir=runs/gallery/hierarchical_varied', commands)
    self.assertEqual(commands[0], 'python -m scan_snap.main --config=configs/syn_small.py '
                                  '--workdir=runs/gallery/syn_small')
    self.assertEqual(commands[-3], 'python -m scan_snap.main --config=configs/wikitext2.py:sample '
                                   '--workdir=runs/gallery/wikitext2_sample '
                                   '--config.data.dir=/data/wikitext-2')
    self.assertEqual(commands[-2], 'python -m scan_snap.main '
                                   '--config=configs/wikitext2.py:sample+fig7 '
                                   '--workdir=runs/gallery/wikitext2_sample_fig7 '
                                   '--config.data.dir=/data/wikitext-2')
    self.assertEqual(commands[-1], 'python -m scan_snap.main --config=configs/wikitext2_yz.py '
                                   '--workdir=runs/gallery/wikitext2_yz '
                                   '--config.data.dir=/data/wikitext-2')

  def test_gallery_needs_the_wikitext_folder(self):
    proc = _launch('gallery.sh', WIKITEXT_DIR='')
    self.assertEqual(proc.returncode, 2)
    self.assertIn('usage: WIKITEXT_DIR=', proc.stderr)

  @parameterized.parameters('local.sh', 'slurm.sh', 'tpu_vm.sh')
  def test_missing_arguments(self, script):
    proc = _launch(script, 'configs/syn_small.py')
    self.assertEqual(proc.returncode, 2)
    self.assertIn('usage:', proc.stderr)

  def test_local_runs_the_smoke_config(self):
    workdir = self.create_tempdir().full_path
    proc = _launch('local.sh', 'configs/syn_small.py:smoke', workdir, '--compilation_cache=',
                   dry_run=False)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertTrue(os.path.exists(os.path.join(workdir, 'results.csv')))

  def test_ci_runs_the_readme_test_command(self):
    command = 'python -m pip install -e ".[test]" && python -m pytest -q'
    self.assertIn(f'\n{command}\n', (ROOT / 'README.md').read_text())
    self.assertEqual((ROOT / '.ci' / 'run').read_text().strip().splitlines()[-1], command)


if __name__ == '__main__':
  absltest.main()
