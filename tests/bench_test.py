"""The benchmark runs in each mode and writes bench.json (its timings are not checked here)."""

import json
import pathlib
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized

from tests.testing import ROOT, WIKITEXT_DIR


class BenchTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('sweep', ['--config=configs/syn_small.py:smoke'],
       ['num_runs', 'compile_s', 'train_s', 'run_steps_per_s', 'wall_s_since_process_start']),
      ('wikitext', ['--mode=wikitext', '--config=configs/wikitext2.py:smoke',
                    f'--config.data.dir={WIKITEXT_DIR}'],
       ['num_runs', 'vocab_size', 'compile_s', 'interval_s', 'eval_s', 'run_steps_per_s',
        'projected_train_s']))
  def test_writes_its_measurements(self, flags, keys):
    if '--mode=wikitext' in flags and not (WIKITEXT_DIR / 'wiki.valid.tokens').exists():
      self.skipTest(f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
    out = pathlib.Path(self.create_tempdir().full_path) / 'bench.json'
    proc = subprocess.run([sys.executable, '-m', 'scan_snap.bench', *flags, f'--out={out}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    report = json.loads(out.read_text())
    for key in ('mode', 'device', 'jax', 'peak_host_rss_mb', *keys):
      self.assertIn(key, report)
    self.assertGreater(report['run_steps_per_s'], 0)

  def test_a_depth_axis_is_timed_depth_by_depth(self):
    if not (WIKITEXT_DIR / 'wiki.valid.tokens').exists():
      self.skipTest(f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
    out = pathlib.Path(self.create_tempdir().full_path) / 'bench.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'scan_snap.bench', '--mode=wikitext',
         '--config=configs/wikitext2.py:smoke', f'--config.data.dir={WIKITEXT_DIR}',
         '--config.model.num_layers=1', "--config.model.depths=(1,2)", f'--out={out}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    by_depth = json.loads(out.read_text())['by_depth']
    self.assertEqual(sorted(by_depth), ['1', '2'])
    self.assertEqual([by_depth[n]['num_runs'] for n in ('1', '2')], [2, 2])
    self.assertTrue(all(by_depth[n]['run_steps_per_s'] > 0 for n in by_depth))


if __name__ == '__main__':
  absltest.main()
