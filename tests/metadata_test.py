"""The project's LICENSE (Apache 2.0), its declaration in pyproject.toml, the packages it ships,
and CITATION.cff."""

import tomllib

from absl.testing import absltest

from tests.testing import ROOT

PAPER = ('Scan and Snap: Understanding Training Dynamics and Token Composition in 1-layer '
         'Transformer')


class MetadataTest(absltest.TestCase):

  def test_license_is_apache_2(self):
    text = (ROOT / 'LICENSE').read_text(encoding='utf-8')
    self.assertEqual(text.split()[:4], ['Apache', 'License', 'Version', '2.0,'])
    for phrase in ('http://www.apache.org/licenses/',
                   'TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION',
                   '9. Accepting Warranty or Additional Liability.',
                   'END OF TERMS AND CONDITIONS',
                   'http://www.apache.org/licenses/LICENSE-2.0'):
      self.assertIn(phrase, text)
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['project']
    self.assertEqual(project['license'], {'text': 'Apache-2.0'})

  def test_every_package_is_shipped(self):
    # A package left out of pyproject.toml works in a checkout and fails after `pip install .`.
    tool = tomllib.loads((ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['tool']
    found = {'.'.join(path.parent.relative_to(ROOT).parts)
             for path in (ROOT / 'scan_snap').rglob('__init__.py')}
    self.assertEqual(set(tool['setuptools']['packages']) - {'scan_snap.configs'}, found)

  def test_citation_cff(self):
    try:
      import yaml  # pylint: disable=g-import-not-at-top
    except ImportError:
      self.skipTest('PyYAML is not installed')
    cff = yaml.safe_load((ROOT / 'CITATION.cff').read_text(encoding='utf-8'))
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['project']
    self.assertEqual(cff['cff-version'], '1.2.0')
    self.assertEqual(cff['type'], 'software')
    self.assertTrue(cff['title'].startswith('scan_snap'))
    self.assertIn('please cite the paper below', cff['message'])
    self.assertEqual(cff['authors'], [{'name': 'The scan_snap Authors'}])
    self.assertEqual(cff['license'], 'Apache-2.0')
    self.assertEqual(cff['version'], project['version'])
    paper = cff['preferred-citation']
    self.assertEqual(paper['type'], 'conference-paper')
    self.assertEqual(paper['title'], PAPER)
    self.assertEqual([(a['given-names'], a['family-names']) for a in paper['authors']],
                     [('Yuandong', 'Tian'), ('Yiping', 'Wang'), ('Beidi', 'Chen'),
                      ('Simon S.', 'Du')])
    self.assertEqual(paper['collection-title'],
                     'Advances in Neural Information Processing Systems 36 (NeurIPS 2023)')
    self.assertEqual(paper['year'], 2023)
    self.assertEqual(paper['url'], 'https://arxiv.org/abs/2305.16380')


if __name__ == '__main__':
  absltest.main()
