"""The Colab notebooks run top to bottom on tiny settings, and are stored without outputs."""

import os
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import nbclient
import nbformat

from tests.conftest import ROOT, WIKITEXT_DIR

NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))


class NotebooksTest(parameterized.TestCase):

  @parameterized.parameters(*[path.name for path in NOTEBOOKS])
  def test_runs_and_is_stored_without_outputs(self, name):
    if name.startswith('wikitext') and not (WIKITEXT_DIR / 'wiki.valid.tokens').exists():
      self.skipTest(f'the shipped WikiText-2 files are not at {WIKITEXT_DIR}')
    notebook = nbformat.read(ROOT / 'notebooks' / name, as_version=4)
    for cell in notebook.cells:
      if cell.cell_type == 'code':
        self.assertEqual((cell.outputs, cell.execution_count), ([], None), cell.source[:60])
    env = {'SCAN_SNAP_SMOKE': '1', 'MPLBACKEND': 'Agg', 'SCAN_SNAP_WIKITEXT_DIR': str(WIKITEXT_DIR)}
    with mock.patch.dict(os.environ, env):
      client = nbclient.NotebookClient(notebook, timeout=300, kernel_name='python3',
                                       resources={'metadata': {'path': str(ROOT / 'notebooks')}})
      client.execute()  # Raises CellExecutionError, with the cell and traceback, on failure.
    errors = [o for c in notebook.cells if c.cell_type == 'code' for o in c.outputs
              if o.output_type == 'error']
    self.assertEmpty(errors)


if __name__ == '__main__':
  absltest.main()
