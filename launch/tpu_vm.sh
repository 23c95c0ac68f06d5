#!/usr/bin/env bash
# A Cloud TPU VM (a single host, or a pod slice of several hosts): runs the same command on every
# worker with --distributed; jax.distributed.initialize() finds the slice by itself (from the
# TPU metadata), the seeds are sharded over all TPU chips, WikiText's run groups are shared out
# among the workers, and process 0 writes the work directory. The package must be installed on
# every worker (`pip install -e .` in a checkout, or `pip install` of the repository): the
# shipped configs are then found from any directory. Relative paths are taken from each worker's
# home directory; the work directory must be shared by the workers (a bucket mounted on each)
# for the checkpoints of every process to be found on a restart.
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
remote="python -m scan_snap.main --distributed"
for arg in "--config=${config}" "--workdir=${workdir}" "$@"; do
  remote+=" $(printf '%q' "${arg}")"
done
cmd=(gcloud compute tpus tpu-vm ssh "${TPU_NAME}" "--zone=${ZONE}" --worker=all "--command=${remote}")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "${cmd[*]}"
else
  exec "${cmd[@]}"
fi
