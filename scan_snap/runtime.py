"""Process-wide jax set-up, done once by the entry points before any computation, and the XLA
options of the compiled programs."""

import logging as python_logging
import os

from absl import logging
import jax


def enable_compilation_cache(directory: str) -> None:
  """Turns on jax's persistent compilation cache in `directory` ('' leaves it off)."""
  if directory:
    jax.config.update('jax_compilation_cache_dir', os.path.expanduser(directory))
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)


def compiler_options() -> dict[str, str]:
  """XLA options for the sequence-class sweep's programs on the default backend.

  On CPUs, matrix products stay with XLA's own kernels rather than YNNPACK fusions, which run
  the sweep's small batched products (32 × 128×210 by 210×240) about 2× slower on the 2-core
  CPU. The WikiText programs keep XLA's defaults: their large products run faster with
  YNNPACK (13.0 against 12.2 run-steps/s). See the README's Performance section.
  """
  return {'xla_cpu_experimental_ynn_fusion_type': ''} if jax.default_backend() == 'cpu' else {}


def initialize_distributed() -> None:
  """Joins a multi-process job: jax.distributed.initialize() reads the cluster (SLURM, Cloud
  TPU, or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID) from the environment."""
  jax.distributed.initialize()
  logging.info('process %d of %d; %d local and %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def quiet_library_logs(libraries: tuple[str, ...] = ('orbax', 'tensorflow_datasets')) -> None:
  """Drops the INFO lines that these libraries write through absl logging on every checkpoint
  or prepared dataset; their warnings and errors still show."""
  markers = tuple(f'{os.sep}{name}{os.sep}' for name in libraries)
  logging.get_absl_handler().addFilter(
      lambda record: record.levelno >= python_logging.WARNING or not any(
          m in record.pathname for m in markers))
