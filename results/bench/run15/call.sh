#!/usr/bin/env bash
# Run 15 (issue 15): the gated models' 128K rows after e86bd7b (a gated q_proj's rows query first), asked of either
# card. Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A1 carry .whl                       bash results/bench/run15/call.sh part      # the wheelhouse
#   A2 carry .carry/bundle.tar.xz       bash results/bench/run15/call.sh part      # the data
#   P  carry .fa4/partK, K = 1 … 4      bash results/bench/run15/call.sh part      # FlashAttention-4 in 5 parts
#   G  carry .fa4/part5                 bash results/bench/run15/call.sh parts     # a prefill part by part, 3 models
#   D                                   EVALSUITE_COMMIT=<commit> bash results/bench/run15/call.sh gyarn
#                                       # the gated models' 64K/128K protocol units (run 13's call)
# Or, where device time is short, one call:
#   carry .whl                          bash results/bench/run15/call.sh lone-parts
#   # the same probe at 128K with the three models, without the data or FlashAttention-4 (cuDNN's causal kernel):
#   # the halves around attention, where the gated models' time went, do not depend on the attention kernel
# Each record is copied to $OUT every 4 s (a cut call keeps it).
set -uo pipefail
what=${1:?"part, parts, lone-parts or gyarn"}
export OUT=${OUT:-/tmp/run15}
case $what in
  part | gyarn) exec bash results/bench/run13/call.sh "$what" ;;
  parts) lengths=${LENGTHS:-131072,65536} limit=${T:-240} margin=60 ;;
  lone-parts)  # only the wheelhouse: what=part lets device_call.sh go on without the data
    compgen -G ".whl/*.whl" > /dev/null || { echo "call.sh: lone-parts needs the wheelhouse carried (.whl/)" >&2; exit 1; }
    lengths=${LENGTHS:-131072} limit=${T:-200} margin=50 what=part ;;
  *) echo "call.sh: $what is not one of part, parts, lone-parts, gyarn" >&2; exit 2 ;;
esac
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
kernels_report
# the engine's prefill part by part (evalsuite.lab.bench.prefill_parts), the three models, the longest first
watched /tmp/parts/prefill_parts.json "$OUT/prefill_parts.json" "$limit" /tmp/parts.log \
  python3 -m evalsuite.lab.bench.prefill_parts --out /tmp/parts --lengths "$lengths" \
  --gates "${GATES:-none,headwise,elementwise}" --profile --deadline "$((limit - margin))"
echo "parts: rc $?"
cp /tmp/parts.log "$OUT/"
tail -n 9 /tmp/parts.log
