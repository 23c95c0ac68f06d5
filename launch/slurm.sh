#!/usr/bin/env bash
# Several machines under SLURM, one process per GPU (jax's layout under SLURM): srun starts the
# same command with --distributed in every task, and jax.distributed.initialize() reads srun's
# variables (SLURM_STEP_NODELIST: the coordinator is the step's first node, on a port derived
# from SLURM_JOB_ID unless JAX_COORDINATOR_PORT is set; SLURM_NTASKS, SLURM_PROCID; each process
# takes GPU number SLURM_LOCALID of its node). The seeds of the sequence-class sweep are sharded
# over all GPUs of all nodes, WikiText's run groups are shared out among the processes, and
# process 0 writes the work directory, which must be on a file system that every node sees.
#
#   sbatch --nodes=2 --ntasks-per-node=8 --gpus-per-node=8 launch/slurm.sh configs/syn_medium.py \
#       runs/syn_medium --config.sweep.num_seeds=1000 --config.sweep.seeds_per_device=16
#   DRY_RUN=1 bash launch/slurm.sh configs/syn_medium.py runs/x   # print the command
#
# Give every task all the GPUs of its node (no --gpus-per-task, no per-task GPU binding); where
# the cluster binds one GPU to each task anyway, export JAX_LOCAL_DEVICE_IDS=0 before sbatch.
# On CPU nodes, one task per node (the default) uses all of its cores.
#
#SBATCH --job-name=scan_snap
#SBATCH --time=01:00:00
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG WORKDIR [--config.key=value ...]" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
if (( ${SLURM_GPUS_ON_NODE:-0} > ${SLURM_NTASKS_PER_NODE:-1} )); then
  echo "warning: ${SLURM_GPUS_ON_NODE} GPUs but ${SLURM_NTASKS_PER_NODE:-1} task(s) per node;" \
       "each process uses one GPU: sbatch --ntasks-per-node=${SLURM_GPUS_ON_NODE}" >&2
fi
cmd=(srun python -m scan_snap.main --distributed "--config=${config}" "--workdir=${workdir}" "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "${cmd[*]}"
else
  exec "${cmd[@]}"
fi
