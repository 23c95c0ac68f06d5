"""Set-up of every test: strict rank promotion, parsed absl flags, one compilation cache for the
session and the processes it starts (the tests compile the same small programs many times;
results do not depend on it), and on a GPU, memory taken as needed, since two test workers
share it."""

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
os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')  # Before any backend starts.
jax.config.update('jax_numpy_rank_promotion', 'raise')
flags.FLAGS.mark_as_parsed()  # absltest helpers (create_tempdir) read flags, also under pytest.
