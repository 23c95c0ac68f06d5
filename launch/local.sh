#!/usr/bin/env bash
# One machine with all its devices (CPU, GPUs or TPU chips): the sweep shards its seeds over
# every local device by itself.
#
#   bash launch/local.sh configs/syn_medium.py runs/syn_medium [--config.key=value ...]
#   DRY_RUN=1 bash launch/local.sh ...      # print the command instead of running it
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG WORKDIR [--config.key=value ...]" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
cmd=(python -m scan_snap.main "--config=${config}" "--workdir=${workdir}" "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "${cmd[*]}"
else
  exec "${cmd[@]}"
fi
