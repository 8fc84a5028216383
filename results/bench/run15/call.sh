#!/usr/bin/env bash
# Run 15 (issue 15): the gated models' 128K rows after e86bd7b (a gated q_proj's rows query first), asked of either
# card. Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A1 carry .whl                       bash results/bench/run15/call.sh part      # the wheelhouse
#   A2 carry .carry/bundle.tar.xz       bash results/bench/run15/call.sh part      # the data
#   P  carry .fa4/partK, K = 1 … 4      bash results/bench/run15/call.sh part      # FlashAttention-4 in 5 parts
#   G  carry .fa4/part5                 bash results/bench/run15/call.sh parts     # a prefill part by part, 3 models
#   D                                   EVALSUITE_COMMIT=<commit> bash results/bench/run15/call.sh gyarn
#                                       # the gated models' 64K/128K protocol units (run 13's call)
# Each record is copied to $OUT every 4 s (a cut call keeps it).
set -uo pipefail
what=${1:?"part, parts or gyarn"}
export OUT=${OUT:-/tmp/run15}
case $what in
  part | gyarn) exec bash results/bench/run13/call.sh "$what" ;;
  parts) ;;
  *) echo "call.sh: $what is not one of part, parts, gyarn" >&2; exit 2 ;;
esac
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
kernels_report
# the engine's prefill part by part (evalsuite.lab.bench.prefill_parts), the three models, 128K first
watched /tmp/parts/prefill_parts.json "$OUT/prefill_parts.json" "${T:-240}" /tmp/parts.log \
  python3 -m evalsuite.lab.bench.prefill_parts --out /tmp/parts --lengths "${LENGTHS:-131072,65536}" \
  --gates none,headwise,elementwise --profile --deadline "$((${T:-240} - 60))"
echo "parts: rc $?"
cp /tmp/parts.log "$OUT/"
tail -n 9 /tmp/parts.log
