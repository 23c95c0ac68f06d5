"""A grid of runs spread over the processes and devices, the same way for every experiment.

A grid is trained in units of a fixed number of runs per device (the sequence classes' chunks,
WikiText's groups), so that every device always runs the same compiled program on the same
shapes: a run's numbers then depend on its own config, seed and rates alone, never on which runs
share its unit, its device or its process. The units are padded with copies of the last, which
are trained and dropped. In a job of several processes, each process trains its own share of
the units on its own devices, and the results of every share are gathered by every process.

  pad(runs, size)                    the runs padded to a multiple of size
  shares(units, multiple)            the units in one contiguous share per process
  mesh(devices)                      a one-axis mesh ('runs') over the devices
  over_runs(f, mesh, in_axes)        jit(shard_map(f)): arguments with axis 0 split over the mesh
  gather(tree)                       host arrays of every process, concatenated in process order
  compiler_options()                 the XLA options of the sequence-class programs
"""

from typing import Callable, Sequence, TypeVar

import jax
from jax.experimental import multihost_utils
import numpy as np

_T = TypeVar('_T')
AXIS = 'runs'


def pad(runs: Sequence[_T], size: int) -> list[_T]:
  """runs padded to a multiple of `size` by repeating the last one."""
  runs = list(runs)
  return runs + runs[-1:] * (-len(runs) % size)


def shares(units: Sequence[_T], multiple: int = 1) -> list[list[_T]]:
  """The units cut into one contiguous share per process, in process order, all of one length:
  a multiple of `multiple`, the units padded with copies of the last to reach it. With one
  process, one share: the units padded to a multiple of `multiple`."""
  num_processes = jax.process_count()
  padded = pad(units, multiple * num_processes)
  size = len(padded) // num_processes
  return [padded[p * size:(p + 1) * size] for p in range(num_processes)]


def mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A one-axis mesh over `devices`; by default every device of this process (each process
  trains its own share: `shares`)."""
  return jax.sharding.Mesh(np.asarray(jax.local_devices() if devices is None else devices),
                           (AXIS,))


def over_runs(f: Callable, device_mesh: jax.sharding.Mesh, in_axes: tuple[int | None, ...],
              **jit_kwargs) -> Callable:
  """jit(shard_map(f)) over the mesh: each argument whose in_axes entry is 0 is split along its
  first axis over the devices, each whose entry is None goes whole to every device, and the
  outputs are split like the first. f is the program of one device's block (a vmap over its
  runs): every device runs the same one, whatever the number of devices."""
  per_run, shared = jax.sharding.PartitionSpec(AXIS), jax.sharding.PartitionSpec()
  return jax.jit(jax.shard_map(f, mesh=device_mesh,
                               in_specs=tuple(per_run if a == 0 else shared for a in in_axes),
                               out_specs=per_run), **jit_kwargs)


def gather(tree):
  """The arrays of a pytree (on this process's devices) as host numpy arrays: in a multi-process
  job, those of every process concatenated along their first axis in process order."""
  tree = jax.tree.map(np.asarray, tree)
  if jax.process_count() == 1:
    return tree
  return multihost_utils.process_allgather(tree, tiled=True)


def compiler_options() -> dict[str, str]:
  """XLA options of the sequence-class programs on the default backend.

  On CPUs, matrix products stay with XLA's own kernels rather than YNNPACK fusions, which run
  the grid's many small batched products more slowly; the WikiText programs keep XLA's
  defaults, since their large products are faster with YNNPACK (docs/performance.md).
  """
  return {'xla_cpu_experimental_ynn_fusion_type': ''} if jax.default_backend() == 'cpu' else {}
