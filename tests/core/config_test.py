"""Config variants: one by name, several joined by '+', applied left to right."""

from absl.testing import absltest
import ml_collections

from scan_snap.core import config


def _apply(variant: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict({'steps': 1, 'seeds': 1})
  return config.apply_variant(c, variant, long=lambda c: c.update(steps=10),
                              many=lambda c: c.update(seeds=5, steps=2))


class VariantTest(absltest.TestCase):

  def test_joined_variants_apply_left_to_right(self):
    self.assertEqual(_apply('').to_dict(), {'steps': 1, 'seeds': 1})
    self.assertEqual(_apply('long').to_dict(), {'steps': 10, 'seeds': 1})
    self.assertEqual(_apply('long+many').to_dict(), {'steps': 2, 'seeds': 5})
    self.assertEqual(_apply('many+long').to_dict(), {'steps': 10, 'seeds': 5})

  def test_an_unknown_or_repeated_part_is_refused_before_any_applies(self):
    with self.assertRaisesRegex(config.ConfigError, "unknown config variant 'big'; expected one "
                                r"of \['long', 'many'\], several joined by '\+'"):
      _apply('long+big')
    with self.assertRaisesRegex(config.ConfigError, "'long\\+long' names one variant twice"):
      _apply('long+long')


if __name__ == '__main__':
  absltest.main()
