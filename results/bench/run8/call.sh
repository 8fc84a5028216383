#!/usr/bin/env bash
# Run 8 (issue 15): FlashAttention-4 for the RULER prefills, and the protocol's check from two cold counts.
# Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh cudnn   # the 64K/128K unit, 1 sample, cuDNN
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run8/call.sh part    # FlashAttention-4 arrives in parts
#   B  carry .fa4/part4                 bash results/bench/run8/call.sh yarn    # the 64K/128K unit at 1 and 2, cold
#   C                                   bash results/bench/run8/call.sh native  # the baseline's other units, 1 and 2
#   D                                   bash results/bench/run8/call.sh gated   # the gated 64K/128K units, 1 sample
# Then, on a second machine, with FlashAttention-4's decode options (FLEX_DECODE_OPTIONS) in the engine:
#   S  carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh sweep   # the decode step, where time goes
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run8/call.sh part
#   F  carry .fa4/part4                 bash results/bench/run8/call.sh final   # the baseline's units at 1 sample
# For the next session (not run here): the trained trio's tokens with the batched step's halves compiled (mode
# compiled) beside fast, exact and stock, the evidence a change of the default generation mode needs:
#      carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh agreement
# B, C and D run at the CUDA defaults (attention auto: FlashAttention-4 where it passed its check, else cuDNN);
# kernels.txt says which ran and why. Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8
# files come back, so the logs travel as one archive per run.
set -uo pipefail
what=${1:?"cudnn, part, yarn, native, gated, sweep, final or agreement"}
OUT=${OUT:-/tmp/run8}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
if [ "$what" = agreement ]; then
  timeout "${T:-400}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out "$OUT" \
    --compiled; echo "agreement: rc $?"; exit 0
fi
if [ "$what" = sweep ]; then  # 4K, 32K, 128K: the steps (uncompiled, compiled halves), the attention, the variants
  timeout "${T:-140}" python3 -m evalsuite.lab.bench.decode_sweep --out "$OUT" --compile off,halves \
    --shapes 22x4224@4096 11x32896@32768 3x131200@131072 --deadline "${T_DEADLINE:-125}"; echo "sweep: rc $?"; exit 0
fi
kernels_report
case $what in
  cudnn) protocol_unit cudnn "${T:-300}" --models 1B_baseline-yarn4 --samples 1 --engine attention=cudnn ;;
  yarn) protocol_unit yarn "${T:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2 ;;
  native) protocol_unit native "${T:-330}" --models 1B_baseline --samples 1 --validate 2 ;;
  gated) protocol_unit gated "${T:-570}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  final) protocol_unit native1 "${T_N:-150}" --models 1B_baseline --samples 1
         protocol_unit yarn1 "${T_Y:-240}" --models 1B_baseline-yarn4 --samples 1 ;;
  *) echo "call.sh: $what is not one of cudnn, part, yarn, native, gated, sweep, final, agreement" >&2; exit 2 ;;
esac
