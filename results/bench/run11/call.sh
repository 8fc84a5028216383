#!/usr/bin/env bash
# Run 11 (issue 15): run 10's changes (batched tokenisation, packed prefills, sharing only on FlashAttention-4 or
# SDPA) measured on FlashAttention-4: the 4K batch, the three models' protocol units at the CUDA defaults, and the
# trained trio's bf16 tokens packed against one prompt a forward and stock lm-eval. Calls to one warm machine (it
# keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run11/call.sh part       # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run11/call.sh part       # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run11/call.sh main       # 4K batch, the baseline's units
#   C                                   bash results/bench/run11/call.sh gyarn      # the gated models' 64K/128K units
#   D                                   bash results/bench/run11/call.sh agreement  # the trained trio's bf16 tokens
#   E                                   bash results/bench/run11/call.sh gnative    # the gated models' other units
# Not run (no second machine came): on an H200, the card of the rates, A and P again, then with
# .fa4/part4 `UNITS="yarn1 native1" bash results/bench/run11/call.sh main`; on an H100, `call.sh count2` and
# `UNITS=native call.sh count2` (the baseline's units at 1 and 2 samples: the extrapolation's check at this code).
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, main, gyarn, agreement, gnative or count2"}
OUT=${OUT:-/tmp/run11}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
kernels_report
case $what in
  main)  # UNITS (default all three) picks what runs, in this order
    units=" ${UNITS:-ruler4k yarn1 native1} "
    [[ $units == *" ruler4k "* ]] && batched_part ruler4k "${T_4:-110}" --parts prefill4k --samples 100
    [[ $units == *" yarn1 "* ]] && protocol_unit yarn1 "${T_Y:-210}" --models 1B_baseline-yarn4 --samples 1
    [[ $units == *" native1 "* ]] && protocol_unit native1 "${T_N:-170}" --models 1B_baseline --samples 1 ;;
  gyarn) protocol_unit gyarn1 "${T_G:-380}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  gnative) protocol_unit gnative1 "${T_G:-300}" --models 1B_gate_headwise,1B_gate_elementwise --samples 1 ;;
  count2)  # the extrapolation's check, as run 8's: 1 and 2 samples, each count from empty compile caches
    units=" ${UNITS:-yarn} "
    [[ $units == *" yarn "* ]] && \
      protocol_unit yarn12 "${T_Y:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2
    [[ $units == *" native "* ]] && \
      protocol_unit native12 "${T_N:-330}" --models 1B_baseline --samples 1 --validate 2 ;;
  agreement)  # packed (the CUDA default), one prompt a forward, one at a time, exact, stock
    ( while sleep 4; do cp /tmp/agree/trained.json "$OUT/" 2> /dev/null; done ) &
    copier=$!
    timeout "${T:-400}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out /tmp/agree \
      --unpacked > /tmp/agree.log 2>&1; echo "agreement: rc $?"
    kill "$copier"; cp /tmp/agree/trained.json /tmp/agree.log "$OUT/"; tail -n 3 /tmp/agree.log ;;
  *) echo "call.sh: $what is not one of part, main, gyarn, agreement, gnative, count2" >&2; exit 2 ;;
esac
