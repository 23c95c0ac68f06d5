"""The Colab notebooks: stored with the outputs of today's code, opened from a Colab badge, set up
from one REPO_URL with no clone, and run top to bottom (a copy: the stored file is left as it is):
in full and compared with what is stored, or on tiny settings."""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import jax
import nbclient
import nbformat

from tests.testing import ROOT, WIKITEXT_DIR

NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
NAMES = [path.name for path in NOTEBOOKS]
REPO_URL_LINE = re.compile(r"^REPO_URL = '(https://github\.com/([^/']+/[^/']+))'", re.MULTILINE)


def code_cells(notebook):
  return [cell for cell in notebook.cells if cell.cell_type == 'code']


def outputs_of(notebook, output_type=None):
  return [o for cell in code_cells(notebook) for o in cell.outputs
          if output_type is None or o.output_type == output_type]


def images(notebook):
  return [o for o in outputs_of(notebook) if 'image/png' in o.get('data', {})]


def needs_wikitext(name):
  return name.startswith('wikitext') and not (WIKITEXT_DIR / 'wiki.valid.tokens').exists()


class StoredNotebooksTest(parameterized.TestCase):

  def test_there_are_the_three_notebooks(self):
    self.assertEqual(NAMES, ['quickstart.ipynb', 'sweep_explorer.ipynb',
                             'wikitext_sample.ipynb'])

  @parameterized.named_parameters(*((name, name) for name in NAMES))
  def test_stored_with_the_outputs_of_one_run(self, name):
    notebook = nbformat.read(ROOT / 'notebooks' / name, as_version=4)
    nbformat.validate(notebook)
    counts = [cell.execution_count for cell in code_cells(notebook)]
    self.assertEqual(counts, list(range(1, len(counts) + 1)), 'run top to bottom, once')
    self.assertNotEmpty(images(notebook), 'its figures are stored as PNG')
    self.assertEmpty(outputs_of(notebook, 'error'))
    stored = json.dumps([cell.outputs for cell in code_cells(notebook)])
    for path in {ROOT, ROOT.parent, WIKITEXT_DIR, pathlib.Path(tempfile.gettempdir()),
                 pathlib.Path.home()}:
      if path.parent != path:  # not the root folder
        self.assertNotIn(str(path), stored, 'a path of the machine that ran it')

  @parameterized.named_parameters(*((name, name) for name in NAMES))
  def test_colab_badge_and_one_set_up_cell(self, name):
    notebook = nbformat.read(ROOT / 'notebooks' / name, as_version=4)
    setup = code_cells(notebook)[0].source
    found = REPO_URL_LINE.findall(setup)
    self.assertLen(found, 1, 'the set-up cell defines REPO_URL once')
    _, owner_repo = found[0]
    everything = '\n'.join(cell.source for cell in notebook.cells)
    self.assertLen(re.findall(r'^REPO_URL\s*=', everything, re.MULTILINE), 1)
    self.assertEqual(notebook.cells[0].cell_type, 'markdown')
    badge = (f'(https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/'
             f'{name})')
    self.assertIn('[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]'
                  + badge, notebook.cells[0].source)
    self.assertIn('git+{REPO_URL}', setup)  # pip installs it; nothing is cloned here
    self.assertNotIn('clone', everything)
    self.assertIn('SCAN_SNAP_SMOKE', setup)
    self.assertIn('jax.default_backend()', setup)
    self.assertNotIn('load_config_file', everything)

  def test_one_repository_address_for_all(self):
    declared = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['urls']
    cited = re.search(r'^repository-code: "(.*)"$', (ROOT / 'CITATION.cff').read_text(),
                      re.MULTILINE)
    addresses = {REPO_URL_LINE.search(code_cells(nbformat.read(path, as_version=4))[0].source)[1]
                 for path in NOTEBOOKS}
    self.assertEqual(addresses, {declared['Repository']}, "the notebooks use pyproject's address")
    self.assertEqual(cited[1], declared['Repository'])


class WikiTextFolderCellTest(absltest.TestCase):
  """wikitext_sample.ipynb's data cell: in Colab, a missing folder is written from the Hugging
  Face copy of WikiText-2 (one row per line); elsewhere it only checks the folder."""

  def _run_cell(self, data_dir, in_colab):
    notebook = nbformat.read(ROOT / 'notebooks' / 'wikitext_sample.ipynb', as_version=4)
    cell = next(c.source for c in code_cells(notebook) if 'WIKITEXT_DIR =' in c.source)
    rows = {'train': [' = A = \n', '', ' a b \n'], 'validation': [' c \n', ''],
            'test': ['', ' d e \n']}
    datasets = mock.Mock(load_dataset=mock.Mock(return_value={
        split: {'text': text} for split, text in rows.items()}))
    modules = {'datasets': datasets, **({'google.colab': mock.Mock()} if in_colab else {})}
    with mock.patch.dict(sys.modules, modules), \
        mock.patch.dict(os.environ, {'SCAN_SNAP_WIKITEXT_DIR': str(data_dir)}):
      exec(cell, {'os': os, 'pathlib': pathlib, 'sys': sys})  # pylint: disable=exec-used
    return datasets.load_dataset

  def test_in_colab_a_missing_folder_is_written_as_the_release_lays_it_out(self):
    data_dir = pathlib.Path(self.create_tempdir().full_path) / 'wikitext-2'
    load = self._run_cell(data_dir, in_colab=True)
    load.assert_called_once_with('Salesforce/wikitext', 'wikitext-2-v1')
    self.assertEqual((data_dir / 'wiki.train.tokens').read_text(), ' = A = \n \n a b \n')
    self.assertEqual((data_dir / 'wiki.valid.tokens').read_text(), ' c \n \n')
    self.assertEqual((data_dir / 'wiki.test.tokens').read_text(), ' \n d e \n')
    if (WIKITEXT_DIR / 'wiki.valid.tokens').exists():  # The release's own layout of lines.
      self.assertEqual((WIKITEXT_DIR / 'wiki.valid.tokens').read_text()[:2], ' \n')

  def test_elsewhere_a_missing_folder_is_one_clear_error(self):
    data_dir = pathlib.Path(self.create_tempdir().full_path) / 'wikitext-2'
    with self.assertRaisesRegex(FileNotFoundError, 'lacks wiki.valid.tokens, wiki.test.tokens'):
      self._run_cell(data_dir, in_colab=False)
    self.assertFalse(data_dir.exists())

  def test_a_folder_present_is_read_as_it_is(self):
    data_dir = pathlib.Path(self.create_tempdir().full_path)
    for name in ('valid', 'test'):
      (data_dir / f'wiki.{name}.tokens').write_text(' x \n')
    self._run_cell(data_dir, in_colab=True).assert_not_called()


# The notebooks compared with their stored outputs in every run of the suite; the others, which
# take minutes at their full settings, run there on smoke settings, and in full with
# SCAN_SNAP_ALL_NOTEBOOKS=1.
COMPARED = ['quickstart.ipynb', 'sweep_explorer.ipynb']
_STORED_PLATFORM = re.compile(r"^jax (\S+), backend '(\w+)'")
_SECONDS = re.compile(r'\b\d+(\.\d+)? s\b')
_PROGRESS = re.compile(r'\[[^\]]*(it|run|step)/s\]')


def text_outputs(notebook) -> list[list[str]]:
  """Per code cell, the text it showed, with timings masked: all it printed to stdout, the text
  of what it returned or displayed, and the last line of its stderr (where a progress bar
  ends)."""
  cells = []
  for cell in code_cells(notebook):
    streams = {'stdout': '', 'stderr': ''}
    shown = []
    for output in cell.outputs:
      if output.output_type == 'stream':
        streams[output.name] += output.text
      elif 'text/plain' in output.get('data', {}):
        shown.append(output['data']['text/plain'])
    last = [line for line in re.split(r'[\r\n]', streams['stderr']) if line.strip()][-1:]
    cells.append([_SECONDS.sub('… s', streams['stdout']), *shown,
                  *(_PROGRESS.sub('[…]', line) for line in last)])
  return cells


def execute(test: absltest.TestCase, name: str, smoke: bool):
  """The notebook `name` run top to bottom in a fresh kernel (a copy: the stored file is left as
  it is), in an empty folder that it must leave empty."""
  if needs_wikitext(name):
    test.skipTest(f'no WikiText-2 files at {WIKITEXT_DIR} (set SCAN_SNAP_WIKITEXT_DIR)')
  path = ROOT / 'notebooks' / name
  stored = path.read_bytes()
  cwd = test.create_tempdir().full_path
  # The kernel must find scan_snap as this process does, or the set-up cell would pip install it.
  found = subprocess.run([sys.executable, '-c', 'import scan_snap'], cwd=cwd,
                         capture_output=True, text=True, check=False)
  test.assertEqual(found.returncode, 0, 'scan_snap is not importable outside the checkout: '
                   f'install it (pip install -e .) or set PYTHONPATH\n{found.stderr}')
  notebook = nbformat.reads(stored.decode('utf-8'), as_version=4)
  env = {'SCAN_SNAP_SMOKE': '1' if smoke else '0', 'SCAN_SNAP_WIKITEXT_DIR': str(WIKITEXT_DIR)}
  with mock.patch.dict(os.environ, env):
    os.environ.pop('MPLBACKEND', None)  # the kernel's inline backend shows the figures
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name='python3',
                                     record_timing=False, resources={'metadata': {'path': cwd}})
    client.execute()  # Raises CellExecutionError, with the cell and traceback, on failure.
  test.assertEmpty(outputs_of(notebook, 'error'))
  test.assertNotEmpty(images(notebook))
  test.assertEqual(path.read_bytes(), stored, 'the stored notebook is left unchanged')
  test.assertEqual(os.listdir(cwd), [], 'the notebook writes nothing in its folder')
  return notebook


class RunNotebooksTest(parameterized.TestCase):

  @parameterized.named_parameters(*((name, name) for name in NAMES))
  def test_stored_outputs_are_those_of_todays_code(self, name):
    if name not in COMPARED and os.environ.get('SCAN_SNAP_ALL_NOTEBOOKS') != '1':
      self.skipTest('minutes at its full settings: set SCAN_SNAP_ALL_NOTEBOOKS=1 to compare it '
                    '(the suite runs it on smoke settings)')
    stored = nbformat.read(ROOT / 'notebooks' / name, as_version=4)
    platform = _STORED_PLATFORM.match(text_outputs(stored)[0][0])
    self.assertIsNotNone(platform, 'the set-up cell prints the jax version and backend first')
    if platform.groups() != (jax.__version__, jax.default_backend()):
      self.skipTest(f'stored by jax {platform[1]} on {platform[2]}: its numbers are those of '
                    'that version and backend')
    self.assertEqual(text_outputs(execute(self, name, smoke=False)), text_outputs(stored),
                     'the stored outputs are not those of today\'s code: run it again and store '
                     'it (docs/running.md, "Notebooks")')

  @parameterized.named_parameters(*((name, name) for name in NAMES if name not in COMPARED))
  def test_runs_on_smoke_settings(self, name):
    execute(self, name, smoke=True)


if __name__ == '__main__':
  absltest.main()
