"""The optimizer declared once: its keys, their checks, and the same keys in both experiments."""

import dataclasses

from absl.testing import absltest
from absl.testing import parameterized

from scan_snap.core import config as core_config
from scan_snap.core import optimizer
from tests.testing import load_config


class DeclarationTest(parameterized.TestCase):

  def test_the_keys_are_the_fields_of_the_frozen_config(self):
    self.assertEqual(set(optimizer.config()),
                     {f.name for f in dataclasses.fields(optimizer.OptimizerConfig)})
    self.assertEqual(optimizer.from_config(optimizer.config()), optimizer.OptimizerConfig(
        name='sgd', momentum=0.0, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0))
    with self.assertRaisesRegex(TypeError, r"no key \['no_such_key'\]"):
      optimizer.config(no_such_key=0.9)

  @parameterized.parameters(('syn_medium', 0.9), ('wikitext2', 0.0))
  def test_both_experiments_declare_the_same_keys(self, name, momentum):
    o = load_config(name).optimizer
    self.assertContainsSubset(set(optimizer.config()), set(o))
    self.assertEqual(optimizer.from_config(o), optimizer.from_config(
        optimizer.config(momentum=momentum)))

  @parameterized.parameters(('name', 'lbfgs'), ('momentum', 1.0), ('b2', -0.1), ('eps', 0.0),
                            ('weight_decay', float('nan')))
  def test_a_bad_value_names_its_key(self, key, value):
    c = load_config('syn_medium')
    c.optimizer[key] = value
    problems = core_config.Problems(c)
    optimizer.check(problems)
    self.assertLen(problems.found, 1)
    self.assertStartsWith(problems.found[0], f'config.optimizer.{key} = ')
    problems = core_config.Problems(load_config('syn_medium'))
    optimizer.check(problems)
    self.assertEmpty(problems.found)


if __name__ == '__main__':
  absltest.main()
