#!/usr/bin/env bash
# Runs every sequence-class experiment and copies its figures into docs/gallery/, the README's
# gallery (about 1.5 minutes on a 2-core CPU).
#
#   bash launch/gallery.sh [RUNS_DIR]      # default RUNS_DIR: runs/gallery
#   DRY_RUN=1 bash launch/gallery.sh       # print the commands
set -euo pipefail
runs=${1:-runs/gallery}
for name in syn_small syn_small_adam syn_medium phase_transition finite_t recall; do
  cmd=(python -m scan_snap.main "--config=configs/${name}.py" "--workdir=${runs}/${name}")
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    echo "${cmd[*]}"
    continue
  fi
  "${cmd[@]}"
  mkdir -p docs/gallery
  for png in "${runs}/${name}"/figures/*.png; do
    cp "${png}" "docs/gallery/${name}__$(basename "${png}")"
  done
done
