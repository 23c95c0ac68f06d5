#!/usr/bin/env bash
# Runs every experiment and copies its figures into docs/gallery/, the README's gallery (about
# 65 minutes on a 2-core CPU: 1.5 for the paper's sequence-class experiments, 5 for the phase
# diagram, 1 for finite data, 0.5 for the token prior and for the residual, 11 for the
# hierarchical classes, 12 for their varied variant and 2.5 for the Y/Z model on them, 15 each for
# the WikiText sample and its Fig. 7 variant).
#
#   WIKITEXT_DIR=<folder> bash launch/gallery.sh [RUNS_DIR]   # default RUNS_DIR: runs/gallery
#   WIKITEXT_DIR=<folder> DRY_RUN=1 bash launch/gallery.sh    # print the commands
# WIKITEXT_DIR is a folder with WikiText-2's wiki.valid.tokens and wiki.test.tokens.
set -euo pipefail
if [[ -z "${WIKITEXT_DIR:-}" ]]; then
  echo "usage: WIKITEXT_DIR=<folder with WikiText-2's wiki.valid.tokens and wiki.test.tokens> $0 [RUNS_DIR]" >&2
  exit 2
fi
runs=${1:-runs/gallery}
wikitext_dir=${WIKITEXT_DIR}
gallery="$(cd "$(dirname "$0")/.." && pwd)/docs/gallery"
for spec in syn_small syn_small_adam syn_medium phase_transition finite_t recall phase_diagram \
    finite_data token_prior residual hierarchical hierarchical:varied \
    hierarchical:yz wikitext2:sample wikitext2:sample+fig7 wikitext2_yz; do
  name=${spec//[:+]/_}
  cmd=(python -m scan_snap.main "--config=configs/${spec%%:*}.py${spec#"${spec%%:*}"}"
       "--workdir=${runs}/${name}")
  if [[ "${spec}" == wikitext* ]]; then
    cmd+=("--config.data.dir=${wikitext_dir}")
  fi
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    echo "${cmd[*]}"
    continue
  fi
  "${cmd[@]}"
  mkdir -p "${gallery}"
  for png in "${runs}/${name}"/figures/*.png; do
    cp "${png}" "${gallery}/${name}__$(basename "${png}")"
  done
done
