#!/usr/bin/env bash
# Run 9 (issue 15): shared haystack prefixes (share_prefix, the batched engine's default since this run) and mode
# compiled's halves, each against the path before it on the same samples, then the baseline's protocol units.
# Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run9/call.sh part       # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run9/call.sh part       # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run9/call.sh agreement  # the trained trio's bf16 tokens
#   C                                   bash results/bench/run9/call.sh main       # sharing at 64K/128K, the units
#   D                                   bash results/bench/run9/call.sh compiled   # the 64K/128K unit, mode compiled
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back, so the logs travel as
# one archive per run.
set -uo pipefail
what=${1:?"agreement, part, main or compiled"}
OUT=${OUT:-/tmp/run9}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
if [ "$what" = agreement ]; then  # batched (shared prefixes), unshared, compiled, one at a time, exact, stock
  ( while sleep 4; do cp /tmp/agree/trained.json "$OUT/" 2> /dev/null; done ) &
  copier=$!
  timeout "${T:-420}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out /tmp/agree \
    --compiled --unshared > /tmp/agree.log 2>&1; echo "agreement: rc $?"
  kill "$copier"; cp /tmp/agree/trained.json /tmp/agree.log "$OUT/"; tail -n 3 /tmp/agree.log; exit 0
fi
kernels_report
case $what in
  main)
    batched_part share "${T_S:-200}" --parts share
    protocol_unit native1 "${T_N:-150}" --models 1B_baseline --samples 1
    protocol_unit yarn1 "${T_Y:-230}" --models 1B_baseline-yarn4 --samples 1 ;;
  compiled) protocol_unit yarn1c "${T_Y:-230}" --models 1B_baseline-yarn4 --samples 1 --engine generation=compiled ;;
  *) echo "call.sh: $what is not one of agreement, part, main, compiled" >&2; exit 2 ;;
esac
