"""The reference in docs/ documents every config key, results column and table; the README
stays a map."""

import csv
import pathlib
import re

from absl.testing import absltest
from absl.testing import parameterized

import scan_snap
from scan_snap.core import config_files
from scan_snap.hierarchical import config as hier_config
from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import results
from scan_snap.wikitext import config as text_config
from tests.testing import ROOT

REFERENCE = (ROOT / 'docs' / 'reference.md').read_text()


def _documented(dotted: str) -> bool:
  """Whether a line of the reference names the key: `section.leaf`, or its section's
  `section.…` with `leaf` in backticks on the same line (a row that lists several keys)."""
  section, leaf = dotted.rsplit('.', 1)
  for line in REFERENCE.splitlines():
    names = ' '.join(re.findall(r'`([^`]*)`', line))
    if f'`{dotted}`' in line or (f'`{section}.' in line and re.search(rf'\b{leaf}\b', names)):
      return True
  return False


class ReferenceTest(parameterized.TestCase):

  @parameterized.parameters(
      *[('sequence_classes', key) for key in config_files.all_keys(
          config.sequence_classes_config()) if key != 'experiment'],
      *[('wikitext', key) for key in config_files.all_keys(text_config.wikitext_config())
        if key != 'experiment'],
      *[('hierarchical', key) for key in config_files.all_keys(hier_config.hierarchical_config())
        if key != 'experiment'])
  def test_config_key_is_documented(self, experiment, key):
    self.assertTrue(_documented(key), f'{experiment} key {key} is not in docs/reference.md')

  def test_results_columns_are_documented(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    scan_snap.run_experiment(scan_snap.load_config('syn_small:smoke'), workdir)
    with open(workdir / 'results.csv') as f:
      columns = next(csv.reader(f))
    row = next(line for line in REFERENCE.splitlines() if line.startswith('| `results.csv`'))
    for column in columns:  # A claim's columns: test_per_run_columns_and_tables_are_documented.
      if column not in results.COLUMNS:
        self.assertRegex(row, rf'\b{column}\b')

  def test_per_run_columns_and_tables_are_documented(self):
    for column in results.COLUMNS:
      self.assertRegex(REFERENCE, rf'results.csv also has `{column}`')
    for table in results.TABLES:
      self.assertIn(f'`{table}.csv`', REFERENCE)

  def test_readme_is_a_map(self):
    self.assertLessEqual(len((ROOT / 'README.md').read_text().splitlines()), 200)

  def test_no_reference_to_files_outside_the_repository(self):
    user_facing = [ROOT / 'README.md', *(ROOT / 'docs').glob('*.md'),
                   *(ROOT / 'notebooks').glob('*.ipynb'), *(ROOT / 'scan_snap').rglob('*.py'),
                   *(ROOT / 'configs').glob('*.py')]
    for path in user_facing:
      self.assertNotRegex(path.read_text(), r'NOTES|\.\./shared', str(path))
    # The tests read the WikiText files from beside the checkout, but cite only the repository.
    here = pathlib.Path(__file__).resolve()
    for path in (ROOT / 'tests').rglob('*.py'):
      if path.resolve() != here:
        self.assertNotIn('NOTES', path.read_text(), str(path))


if __name__ == '__main__':
  absltest.main()
