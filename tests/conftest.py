"""Set-up of every test: strict rank promotion, parsed absl flags, and one compilation cache
for the session and the processes it starts (the tests compile the same small programs many
times; results do not depend on it)."""

import atexit
import os
import shutil
import tempfile

from absl import flags
import jax

if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='scan_snap_tests_')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
jax.config.update('jax_numpy_rank_promotion', 'raise')
flags.FLAGS.mark_as_parsed()  # absltest helpers (create_tempdir) read flags, also under pytest.
