"""The one pipeline of both experiments: the plan checks a config once and resolves the names
it gives; config modules are leaves."""

import importlib
import subprocess
import sys
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized

from scan_snap.core import config as core_config
from scan_snap.core import config_files
from scan_snap.core import errors
from scan_snap.core import pipeline
from tests.testing import ROOT, load_config


class PlanTest(parameterized.TestCase):

  @parameterized.parameters('scan_snap.sequence_classes.config', 'scan_snap.wikitext.config')
  def test_config_modules_import_no_claims_figures_or_matplotlib(self, module):
    loaded = subprocess.run(
        [sys.executable, '-c', f'import sys, {module}; print(sorted(m for m in sys.modules if '
         "m.startswith(('matplotlib', 'scan_snap')) and m.endswith(('matplotlib', '.claims', "
         "'.figures', '.results'))))"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    self.assertEqual(loaded.stdout.strip(), '[]')

  def test_one_error_names_bad_values_and_unknown_names(self):
    c = load_config('syn_small')
    c.train.steps = 0
    c.figures.names = ('entropy_grid', 'fig99')
    c.report.claims = ('scanning', 'no_such_claim')
    with self.assertRaises(core_config.ConfigError) as raised:
      pipeline.plan(c)
    message = str(raised.exception)
    for key in ('train.steps', 'figures.names', 'report.claims'):
      self.assertIn(f'config.{key} = ', message)
    self.assertIn('fig99', message)

  def test_the_plan_resolves_what_its_figures_and_claims_need(self):
    c = load_config('finite_t')
    p = pipeline.plan(c)
    self.assertEqual(tuple(p.figures), tuple(c.figures.names))
    self.assertEqual(tuple(p.claims), tuple(c.report.claims))
    self.assertIn('population', p.references)
    self.assertIn('long_sequence_limit', p.tables)
    self.assertLen(p.grid.runs, len(c.data.seq_len))
    self.assertEqual(pipeline.plan(load_config('phase_diagram')).columns, ('t0',))

  def test_the_plan_keeps_the_config_it_checked(self):
    c = load_config('syn_small', 'smoke')
    p = pipeline.plan(c)
    c.train.steps = 0  # After the plan: it holds the config it checked.
    self.assertEqual(p.config.train.steps, 10)
    with self.assertRaises(AttributeError):
      p.config.new_key = 1  # Locked.

  def test_wikitext_names_every_figure_and_claim_of_its_registries_by_default(self):
    c, yz = load_config('wikitext2'), load_config('wikitext2_yz')
    module = pipeline.experiment_module(c)
    self.assertEqual(c.figures.names, tuple(module.FIGURES))
    # The factor's claim reads a grid axis of a group's factor: the Y/Z config's η_Y/η_Z.
    self.assertEqual(c.report.claims, tuple(k for k in module.CLAIMS
                                            if k != 'entropy_rises_with_lr_factor'))
    self.assertIn('entropy_rises_with_lr_factor', yz.report.claims)

  @parameterized.parameters('sequence_classes', 'wikitext', 'hierarchical')
  def test_the_keys_named_for_a_job_too_large_or_growing_are_its_keys(self, name):
    module = importlib.import_module(pipeline.EXPERIMENTS[name])
    keys = config_files.all_keys(module.declared_config())
    self.assertContainsSubset(module.SIZE_KEYS, keys)
    self.assertContainsSubset(module.GROWING_AXES, keys)

  def test_an_unknown_experiment_is_one_line(self):
    c = load_config('syn_small')
    with c.unlocked():
      c.experiment = 'vision'
    with self.assertRaisesRegex(errors.InputError, "config.experiment = 'vision': expected one "
                                                   r"of \('sequence_classes', 'wikitext', "
                                                   r"'hierarchical'\)"):
      pipeline.plan(c)


class RunTest(absltest.TestCase):

  def test_tensorboard_without_tensorboardx_fails_before_anything_is_loaded(self):
    p = pipeline.plan(load_config('syn_small', 'smoke'))
    workdir = self.create_tempdir().full_path
    with mock.patch.dict(sys.modules, {'tensorboardX': None}), \
        mock.patch.object(p.experiment, 'load', side_effect=AssertionError('loaded')), \
        self.assertRaisesRegex(errors.InputError, '--tensorboard needs tensorboardX'):
      pipeline.run(p, workdir, tensorboard=True)


if __name__ == '__main__':
  absltest.main()
