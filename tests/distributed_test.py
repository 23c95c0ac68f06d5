"""Multi-process jobs for real: two processes on this machine, one CPU device each, joined by
jax.distributed, write the same files as one process, byte for byte.

Each job process is a `python -m scan_snap.main --distributed` subprocess, started the three ways
that the README names: by flags, by JAX_* variables, and by the variables that srun sets (jax's
SLURM detection). Every subprocess has a time limit and is killed when its job fails.
"""

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

from absl.testing import absltest
import numpy as np

from tests.testing import ROOT, WIKITEXT_DIR

_TIMEOUT_S = 240
# Variables of the parent's environment that would change how the subprocesses join a job or how
# many devices they see.
_DROPPED = ('XLA_FLAGS', 'JAX_PLATFORMS', 'JAX_COORDINATOR_ADDRESS', 'JAX_COORDINATOR_PORT',
            'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID', 'JAX_LOCAL_DEVICE_IDS', 'CUDA_VISIBLE_DEVICES')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _env(**variables: str) -> dict[str, str]:
  """This checkout's code, on one CPU device, with no cluster around."""
  env = {k: v for k, v in os.environ.items()
         if k not in _DROPPED and not k.startswith(('SLURM_', 'OMPI_'))}
  env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), env.get('PYTHONPATH')]))
  return {**env, 'JAX_PLATFORMS': 'cpu', **variables}


def _main(*flags: str) -> list[str]:
  return [sys.executable, '-m', 'scan_snap.main', '--compilation_cache=', *flags]


def _run_together(test: absltest.TestCase, commands: dict[str, tuple[list[str], dict]],
                  logs: pathlib.Path) -> dict[str, str]:
  """Starts every command at once; fails the test (killing those still running) when one fails
  or when they are not all done within _TIMEOUT_S. Returns each one's stderr."""
  logs.mkdir(parents=True, exist_ok=True)
  procs = {}
  try:
    for name, (command, env) in commands.items():
      with open(logs / f'{name}.log', 'w') as log:
        procs[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
    deadline = time.monotonic() + _TIMEOUT_S
    while any(p.poll() is None for p in procs.values()):
      failed = [n for n, p in procs.items() if p.returncode not in (None, 0)]
      if failed or time.monotonic() > deadline:
        break
      time.sleep(0.2)
  finally:
    for p in procs.values():
      if p.poll() is None:
        p.kill()
      p.wait()
  output = {name: (logs / f'{name}.log').read_text() for name in commands}
  for name, p in procs.items():
    test.assertEqual(p.returncode, 0, f'{name} failed (or was killed after {_TIMEOUT_S} s or '
                     f'after another process failed):\n{output[name][-3000:]}')
  return output


def _assert_same_npz(test: absltest.TestCase, want: pathlib.Path, got: pathlib.Path) -> None:
  with np.load(want) as w, np.load(got) as g:
    test.assertEqual(sorted(w.files), sorted(g.files))
    for key in w.files:
      np.testing.assert_array_equal(g[key], w[key], err_msg=f'{got.name}: {key}')
      test.assertEqual(g[key].dtype, w[key].dtype)


def _forty_seeds(tmp: pathlib.Path) -> tuple[tuple[str, ...], pathlib.Path, pathlib.Path,
                                            subprocess.Popen]:
  """Syn-Medium's smoke variant with 40 seeds (20 calls of one chunk per process for each of
  its 2 data specs), its work directories tmp/one and tmp/two, and its one-process run on
  tmp/one, started."""
  config = (f'--config={ROOT / "configs" / "syn_medium.py"}:smoke', '--config.sweep.num_seeds=40')
  reference = subprocess.Popen(_main(*config, f'--workdir={tmp / "one"}'), cwd=ROOT, env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
  return config, tmp / 'one', tmp / 'two', reference


def _finished_chunks(workdir: pathlib.Path) -> int:
  return sum(1 for p in (workdir / 'checkpoints').glob('*/*') if p.name.isdigit())


@contextlib.contextmanager
def _job_until(test: absltest.TestCase, config: tuple[str, ...], workdir: pathlib.Path,
               logs: list[pathlib.Path], after_chunks: int) -> Iterator[list[subprocess.Popen]]:
  """The 2-process job of `config` on `workdir` (each process's output in logs[i]), started and
  run until it has `after_chunks` finished chunks; its processes are killed when the block
  leaves them running."""
  address = f'127.0.0.1:{_free_port()}'
  procs = []
  try:
    for i in range(2):
      with open(logs[i], 'w') as log:
        procs.append(subprocess.Popen(
            _main('--distributed', *config, f'--workdir={workdir}', '--peer_timeout=10',
                  f'--coordinator_address={address}', '--num_processes=2', f'--process_id={i}'),
            cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + _TIMEOUT_S
    while (_finished_chunks(workdir) < after_chunks and time.monotonic() < deadline
           and all(p.poll() is None for p in procs)):
      time.sleep(0.1)
    test.assertTrue(all(p.poll() is None for p in procs),
                    f'the job ended before the test could act: {logs[0].read_text()[-3000:]}')
    yield procs
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
      p.wait()


def _resumed_as_one(test: absltest.TestCase, config: tuple[str, ...], two: pathlib.Path,
                    one: pathlib.Path, reference: subprocess.Popen, logs: pathlib.Path) -> str:
  """Runs the 2-process job of `config` on `two` again, to the end, and checks that it wrote the
  files of the one-process run `reference` on `one`; returns process 0's output."""
  address = f'127.0.0.1:{_free_port()}'
  flags = ('--distributed', *config, f'--workdir={two}', f'--coordinator_address={address}',
           '--num_processes=2')
  out = _run_together(test, {f'p{i}': (_main(*flags, f'--process_id={i}'), _env())
                             for i in range(2)}, logs)
  test.assertEqual(reference.wait(timeout=_TIMEOUT_S), 0)
  for name in ('results.csv', 'summary.csv', 'metrics.jsonl'):
    test.assertEqual((two / name).read_bytes(), (one / name).read_bytes(), name)
  return out['p0']


class TwoProcessTest(absltest.TestCase):

  def test_sequence_classes_by_flags_and_by_variables_and_resumed_across(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    # 3 seeds in chunks of 2: two chunks per data spec, one per device in the 2-process job.
    config = (f'--config={ROOT / "configs" / "syn_medium.py"}:smoke', '--config.sweep.num_seeds=3')
    one, two = tmp / 'one', tmp / 'two'

    def job(workdir: pathlib.Path) -> dict:
      flags = ['--distributed', *config, f'--workdir={workdir}']
      address = f'127.0.0.1:{_free_port()}'
      return {
          'flags': (_main(*flags, f'--coordinator_address={address}', '--num_processes=2',
                          '--process_id=0'), _env()),
          'variables': (_main(*flags), _env(JAX_COORDINATOR_ADDRESS=address,
                                            JAX_NUM_PROCESSES='2', JAX_PROCESS_ID='1')),
      }

    def alone(workdir: pathlib.Path) -> dict:
      return {'one': (_main(*config, f'--workdir={workdir}'), _env())}

    out = _run_together(self, {**alone(one), **job(two)}, tmp / 'logs')
    self.assertIn('process 0 of 2; 1 local and 2 global devices', out['flags'])
    self.assertIn('process 1 of 2; 1 local and 2 global devices', out['variables'])

    trajectories = sorted(p.name for p in (one / 'trajectories').glob('*.npz'))
    self.assertLen(trajectories, 2)

    def assert_same_files():
      for name in ('results.csv', 'summary.csv', 'metrics.jsonl'):
        self.assertEqual((two / name).read_bytes(), (one / name).read_bytes(), name)
      self.assertEqual(sorted(p.name for p in (two / 'trajectories').glob('*.npz')),
                       trajectories)
      for name in trajectories:
        _assert_same_npz(self, one / 'trajectories' / name, two / 'trajectories' / name)

    def lose_a_chunk(workdir: pathlib.Path, chunk: str):
      """Deletes one chunk's checkpoint of every data spec, and the outputs."""
      groups = sorted((workdir / 'checkpoints').iterdir())
      self.assertLen(groups, 2)
      for group in groups:
        self.assertEqual(sorted(p.name for p in group.iterdir()), ['0', '1'])
        shutil.rmtree(group / chunk)
      for name in ('results.csv', 'summary.csv', 'metrics.jsonl'):
        (workdir / name).unlink()
      shutil.rmtree(workdir / 'trajectories')

    assert_same_files()
    # Chunks are fixed by the config: the work directory of one process resumes in two, and the
    # one of two processes in one, each training the chunk it lost again, to the same files.
    lose_a_chunk(one, '1')
    out = _run_together(self, job(one), tmp / 'logs_one_resumed_by_two')
    self.assertIn('2 finished chunks are restored', out['flags'])
    lose_a_chunk(two, '0')
    out = _run_together(self, alone(two), tmp / 'logs_two_resumed_by_one')
    self.assertIn('2 finished chunks are restored', out['one'])
    assert_same_files()

  def test_a_lost_process_ends_the_other_in_one_line_and_the_same_command_resumes(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    # Enough chunks for a process to be killed with chunks finished and chunks to go.
    config, one, two, reference = _forty_seeds(tmp)

    def job_losing(victim: int, after_chunks: int) -> str:
      """Runs the 2-process job until it has `after_chunks` finished chunks, kills process
      `victim` and returns the other's output, checking how and when it ended."""
      logs = [tmp / f'lost{victim}_{i}.log' for i in range(2)]
      with _job_until(self, config, two, logs, after_chunks) as procs:
        procs[victim].kill()
        killed = time.monotonic()
        survivor = procs[1 - victim]
        survivor.wait(timeout=60)  # --peer_timeout=10, where jax's default waits 100 s.
        ended_after = time.monotonic() - killed
      out = logs[1 - victim].read_text()
      self.assertEqual(survivor.returncode, 3, out[-3000:])
      self.assertLess(ended_after, 40, out[-3000:])
      lines = [line for line in out.splitlines() if line.startswith('error:')]
      self.assertLen(lines, 1, out[-3000:])
      lost = 'process 1 of this job was lost' if victim else 'process 0 (the coordinator)'
      self.assertIn(lost, lines[0])
      self.assertIn('start the same command again on every process to resume', lines[0])
      for noise in ('Traceback', 'Check failure', 'Fatal Python error', 'coordination_service'):
        self.assertNotIn(noise, out)
      return out

    job_losing(victim=1, after_chunks=2)
    job_losing(victim=0, after_chunks=_finished_chunks(two) + 2)
    out = _resumed_as_one(self, config, two, one, reference, tmp / 'logs_resumed')
    self.assertRegex(out, r'\d+ finished chunks are restored')

  def test_a_ctrl_c_to_one_process_stops_both_after_the_same_chunks(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    config, one, two, reference = _forty_seeds(tmp)
    logs = [tmp / f'stopped{i}.log' for i in range(2)]
    with _job_until(self, config, two, logs, after_chunks=2) as procs:
      procs[1].send_signal(signal.SIGINT)  # Process 1 alone: the job decides together.
      for p in procs:
        p.wait(timeout=60)
    saved = _finished_chunks(two)
    self.assertLess(saved, 40, 'the job ended before it could be stopped')
    for i, log in enumerate(logs):
      out = log.read_text()
      self.assertNotEqual(procs[i].returncode, 0, out[-3000:])
      self.assertNotIn('Traceback', out)
      self.assertNotIn('lost', out)  # Neither waits for the other in a gather that never comes.
      self.assertTrue(out.rstrip().endswith(
          f'interrupted: saved {saved} of 40 chunks: the same command trains the others'),
                      out[-3000:])
    out = _resumed_as_one(self, config, two, one, reference, tmp / 'logs_resumed')
    self.assertIn(f'{saved} finished chunks are restored', out)

  @absltest.skipUnless((WIKITEXT_DIR / 'wiki.valid.tokens').exists(),
                       f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
  def test_wikitext_under_slurm_variables_shares_the_runs_and_resumes(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    # Two groups of one run: one group per process in the job.
    flags = (f'--config={ROOT / "configs" / "wikitext2.py"}:smoke',
             f'--config.data.dir={WIKITEXT_DIR}', '--config.sweep.runs_per_device=1',
             '--config.figures.names=()')
    one, two = tmp / 'one', tmp / 'two'

    def job(port: int) -> dict:
      # What srun sets for 2 tasks on one node (jax reads it; the port comes from the job id
      # unless JAX_COORDINATOR_PORT is set). The two share a data cache: process 0 fills it.
      slurm = lambda i: _env(SLURM_JOB_ID='1', SLURM_STEP_NODELIST='127.0.0.1',
                             SLURM_NTASKS='2', SLURM_PROCID=str(i), SLURM_LOCALID=str(i),
                             JAX_COORDINATOR_PORT=str(port))
      command = _main('--distributed', *flags, f'--config.data.cache_dir={tmp / "tfds_two"}',
                      f'--workdir={two}')
      return {f'slurm{i}': (command, slurm(i)) for i in range(2)}

    out = _run_together(self, {
        'one': (_main(*flags, f'--config.data.cache_dir={tmp / "tfds_one"}',
                      f'--workdir={one}'), _env()),
        **job(_free_port()),
    }, tmp / 'logs')
    for i in range(2):
      self.assertIn(f'process {i} of 2; 1 local and 2 global devices', out[f'slurm{i}'])
      self.assertIn(f'process {i} of 2 trains runs {i}–{i} of the padded grid', out[f'slurm{i}'])

    def assert_same_files():
      for name in ('results.csv', 'metrics.jsonl'):
        self.assertEqual((two / name).read_bytes(), (one / name).read_bytes(), name)
      _assert_same_npz(self, one / 'trajectories.npz', two / 'trajectories.npz')

    assert_same_files()
    # Resume the job from its checkpoint of step 10 (written by both processes; the one of
    # step 20 removed): both restore it, train steps 10–20 again and end on the same files.
    self.assertEqual(sorted(p.name for p in (two / 'checkpoints').iterdir()), ['10', '20'])
    shutil.rmtree(two / 'checkpoints' / '20')
    for name in ('results.csv', 'metrics.jsonl', 'trajectories.npz'):
      (two / name).unlink()
    out = _run_together(self, job(_free_port()), tmp / 'logs_resumed')
    self.assertIn('from step 10', out['slurm0'])
    assert_same_files()


if __name__ == '__main__':
  absltest.main()
