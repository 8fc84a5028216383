#!/usr/bin/env bash
# Run 14 (issue 15): the paper protocol's units of the three models at the code's defaults (torch's split of the
# decode kernel's keys, finished rows retired, shared prefixes, packed prefills, FlashAttention-4), for a card the
# earlier runs lacked: they ran on H100s, and the issue's limits are the H200's. Calls to one warm machine (it
# keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A1 carry .whl                       bash results/bench/run14/call.sh part      # the wheelhouse
#   A2 carry .carry/bundle.tar.xz       bash results/bench/run14/call.sh part      # the data (the tracked tree
#                                       leaves no room under the 64 MiB carry limit for both in one call)
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run14/call.sh part      # FlashAttention-4 in parts
#   C  carry .fa4/part4                 bash results/bench/run14/call.sh count2    # baseline 64K/128K, 1 and 2 samples
#                                       (or yarn1: at 1 sample only, where device time is short)
#   D                                   bash results/bench/run14/call.sh gyarn     # the gated models' 64K/128K units
#   E                                   bash results/bench/run14/call.sh native    # every model's other units
#   F                                   bash results/bench/run14/call.sh agreement # trained trio, wide split, 32K
#   G                                   bash results/bench/run14/call.sh parts     # where a 128K prefill's time goes
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, count2, yarn1, gyarn, native, agreement or parts"}
OUT=${OUT:-/tmp/run14}
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
[ "$what" = part ] && exit 0
kernels_report
case $what in
  count2) protocol_unit yarn12 "${T_Y:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2 ;;
  yarn1) protocol_unit yarn1 "${T_Y:-260}" --models 1B_baseline-yarn4 --samples 1 ;;
  gyarn) protocol_unit gyarn1 "${T_G:-380}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  native)
    protocol_unit native1 "${T_N:-240}" --models 1B_baseline --samples 1
    protocol_unit gnative1 "${T_GN:-330}" --models 1B_gate_headwise,1B_gate_elementwise --samples 1 ;;
  agreement)  # the default batched decoder, the wide split, one at a time, exact, stock (11 samples)
    ( while sleep 4; do cp /tmp/agree/trained.json "$OUT/" 2> /dev/null; done ) &
    copier=$!
    timeout "${T:-400}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out /tmp/agree \
      --length 32768 --wide > /tmp/agree.log 2>&1; echo "agreement: rc $?"
    kill "$copier"; cp /tmp/agree/trained.json /tmp/agree.log "$OUT/"; tail -n 3 /tmp/agree.log ;;
  parts)  # the engine's prefill part by part (evalsuite.lab.bench.prefill_parts), the three models, 128K first
    ( while sleep 4; do cp /tmp/parts/prefill_parts.json "$OUT/" 2> /dev/null; done ) &
    copier=$!
    timeout "${T:-300}" python3 -m evalsuite.lab.bench.prefill_parts --out /tmp/parts --lengths 131072,65536,4096 \
      --gates none,headwise,elementwise --profile --deadline "$((${T:-300} - 60))" > /tmp/parts.log 2>&1
    echo "parts: rc $?"
    kill "$copier"; cp /tmp/parts/prefill_parts.json /tmp/parts.log "$OUT/"; tail -n 9 /tmp/parts.log ;;
  *) echo "call.sh: $what is not one of part, count2, yarn1, gyarn, native, agreement, parts" >&2; exit 2 ;;
esac
