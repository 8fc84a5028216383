#!/usr/bin/env bash
# Run 12 (issue 15): finished rows retired from the batched decode (engine.batch_decode.RETIRE_ROWS) measured
# against rows that read their caches to the batch's end, then the protocol's units with it: the baseline's
# 64K/128K unit at 1 and 2 samples (the extrapolation's check at this code), the gated models' 64K/128K units and
# the baseline's other units. Calls to one warm machine (it keeps /tmp for 30 s after each call), from the
# repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run12/call.sh part      # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run12/call.sh part      # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run12/call.sh retire    # retired rows against not, 4K and 128K
#   C                                   bash results/bench/run12/call.sh count2    # baseline 64K/128K at 1 and 2 samples
#   D                                   bash results/bench/run12/call.sh gyarn     # the gated models' 64K/128K units
#   E                                   bash results/bench/run12/call.sh native1; T_G=330 bash results/bench/run11/call.sh gnative
#                                       # the baseline's other units, then the gated models' (run 11's line, as run)
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, retire, count2, gyarn or native1"}
OUT=${OUT:-/tmp/run12}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
kernels_report
case $what in
  retire) batched_part retire "${T_R:-280}" --parts retire --samples 100 ;;
  count2) protocol_unit yarn12 "${T_Y:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2 ;;
  gyarn) protocol_unit gyarn1 "${T_G:-380}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  native1) protocol_unit native1 "${T_N:-240}" --models 1B_baseline --samples 1 ;;
  *) echo "call.sh: $what is not one of part, retire, count2, gyarn, native1" >&2; exit 2 ;;
esac
