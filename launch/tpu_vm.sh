#!/usr/bin/env bash
# A Cloud TPU VM (a single host, or a pod slice of several hosts): runs the same command on every
# worker with --distributed; jax.distributed.initialize() finds the slice by itself, the seeds
# are sharded over all TPU chips, and process 0 writes the work directory. The repository must
# be installed on every worker (e.g. `pip install -e .` in ~/scan_snap), and the work directory
# must be shared for checkpoints to survive a restart (a bucket mounted on every worker).
#
#   TPU_NAME=my-tpu ZONE=us-central2-b bash launch/tpu_vm.sh configs/syn_medium.py \
#       /mnt/bucket/runs/syn_medium --config.sweep.seeds_per_device=10
#   DRY_RUN=1 TPU_NAME=my-tpu ZONE=us-central2-b bash launch/tpu_vm.sh ...   # print it
set -euo pipefail
if [[ $# -lt 2 || -z "${TPU_NAME:-}" || -z "${ZONE:-}" ]]; then
  echo "usage: TPU_NAME=NAME ZONE=ZONE $0 CONFIG WORKDIR [--config.key=value ...]" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
remote="cd ~/scan_snap && python -m scan_snap.main --distributed --config=${config} --workdir=${workdir}"
for arg in "$@"; do
  remote+=" $(printf '%q' "${arg}")"
done
cmd=(gcloud compute tpus tpu-vm ssh "${TPU_NAME}" "--zone=${ZONE}" --worker=all "--command=${remote}")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "${cmd[*]}"
else
  exec "${cmd[@]}"
fi
