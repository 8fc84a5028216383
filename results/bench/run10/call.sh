#!/usr/bin/env bash
# Run 10 (issue 15): the batched tokenisation in the protocol's units; the 4K batch with shared prefixes and packed
# prefills (several short prompts a forward), each off and on, on one machine (run 9's open question), with a
# profile of its prefills; the gated models' units at the current defaults. Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root
# there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run10/call.sh part     # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run10/call.sh part     # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run10/call.sh main     # 4K batch, the baseline's units
#                                                                                 # (64K/128K first: 84 % of the time)
#   C                                   bash results/bench/run10/call.sh gyarn    # the gated models' 64K/128K units
#   D                                   bash results/bench/run10/call.sh gnative  # the gated models' other units
# UNITS (default "yarn1 native1") picks the baseline's units that main runs, in that order.
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, main, gyarn or gnative"}
OUT=${OUT:-/tmp/run10}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
kernels_report
case $what in
  main)
    batched_part ruler4k "${T_4:-200}" --parts prefill4k --samples 100
    [[ " ${UNITS:-yarn1 native1} " == *" yarn1 "* ]] && protocol_unit yarn1 "${T_Y:-200}" --models 1B_baseline-yarn4 --samples 1
    [[ " ${UNITS:-yarn1 native1} " == *" native1 "* ]] && protocol_unit native1 "${T_N:-130}" --models 1B_baseline --samples 1
    ;;
  gyarn) protocol_unit gyarn1 "${T_G:-380}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  gnative) protocol_unit gnative1 "${T_G:-280}" --models 1B_gate_headwise,1B_gate_elementwise --samples 1 ;;
  *) echo "call.sh: $what is not one of part, main, gyarn, gnative" >&2; exit 2 ;;
esac
