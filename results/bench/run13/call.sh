#!/usr/bin/env bash
# Run 13 (issue 15): the engine's split of each row's keys in the flex decoding kernel (engine.static_cache.
# decode_split: as wide as a one-row cache's where the cache is long) against torch's own, on batches whose rows
# retire at different steps, then the protocol's units at this code: the baseline's 64K/128K unit at 1 and 2
# samples (the extrapolation's check), the gated models' 64K/128K units, and every model's other units. Calls to one
# warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run13/call.sh part      # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run13/call.sh part      # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run13/call.sh split     # the engine's split against torch's
#   C                                   bash results/bench/run13/call.sh count2    # baseline 64K/128K at 1 and 2 samples
#                                       (or yarn1: at 1 sample only, where device time is short)
#   D                                   bash results/bench/run13/call.sh gyarn     # the gated models' 64K/128K units
#   E                                   bash results/bench/run13/call.sh native    # every model's other units
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, split, count2, yarn1, gyarn or native"}
OUT=${OUT:-/tmp/run13}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
kernels_report
case $what in
  split) batched_part split "${T_S:-300}" --parts split ;;
  count2) protocol_unit yarn12 "${T_Y:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2 ;;
  yarn1) protocol_unit yarn1 "${T_Y:-260}" --models 1B_baseline-yarn4 --samples 1 ;;
  gyarn) protocol_unit gyarn1 "${T_G:-380}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  native)
    protocol_unit native1 "${T_N:-240}" --models 1B_baseline --samples 1
    protocol_unit gnative1 "${T_GN:-330}" --models 1B_gate_headwise,1B_gate_elementwise --samples 1 ;;
  *) echo "call.sh: $what is not one of part, split, count2, yarn1, gyarn, native" >&2; exit 2 ;;
esac
