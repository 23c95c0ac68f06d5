#!/usr/bin/env bash
# Several machines under SLURM: one process per node, each owning its node's GPUs. Every
# process runs the same command with --distributed; jax.distributed.initialize() reads the
# SLURM environment, the seeds are sharded over all GPUs of all nodes, and process 0 writes
# the work directory (which must be on a shared file system).
#
#   sbatch --nodes=2 --gpus-per-node=8 launch/slurm.sh configs/syn_medium.py runs/syn_medium \
#       --config.sweep.num_seeds=1000 --config.sweep.seeds_per_device=16
#   DRY_RUN=1 bash launch/slurm.sh configs/syn_medium.py runs/x   # print the command
#
#SBATCH --job-name=scan_snap
#SBATCH --ntasks-per-node=1
#SBATCH --time=01:00:00
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG WORKDIR [--config.key=value ...]" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
cmd=(srun python -m scan_snap.main --distributed "--config=${config}" "--workdir=${workdir}" "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "${cmd[*]}"
else
  exec "${cmd[@]}"
fi
