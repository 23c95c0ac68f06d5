"""Set-up of every test: strict rank promotion and parsed absl flags."""

from absl import flags
import jax

jax.config.update('jax_numpy_rank_promotion', 'raise')
flags.FLAGS.mark_as_parsed()  # absltest helpers (create_tempdir) read flags, also under pytest.
