#!/usr/bin/env bash
# Run 14 (issue 15): the paper protocol's units of the three models at the code's defaults (torch's split of the
# decode kernel's keys, finished rows retired, shared prefixes, packed prefills, FlashAttention-4), asked of either
# card (the issue's limits are the H200's); an H100 came, and calls A1-E ran on it at 435810f (README.md: the
# limits each call ran under). Calls to one warm machine (it keeps /tmp for 30 s after each call), from the
# repository root there, in order:
#   A1 carry .whl                       bash results/bench/run14/call.sh part      # the wheelhouse
#   A2 carry .carry/bundle.tar.xz       bash results/bench/run14/call.sh part      # the data (the tracked tree
#                                       leaves no room under the 64 MiB carry limit for both in one call)
#   P  carry .fa4/partK, K = 1 … 4      bash results/bench/run14/call.sh part      # FlashAttention-4 in 5 parts
#   C  carry .fa4/part5                 bash results/bench/run14/call.sh count2    # baseline 64K/128K, 1 and 2 samples
#                                       (or yarn1: at 1 sample only, where device time is short)
#   D                                   bash results/bench/run14/call.sh gyarn     # the gated models' 64K/128K units
#   E                                   bash results/bench/run14/call.sh native    # every model's other units
#   F                                   bash results/bench/run14/call.sh agreement # trained trio, wide split, 32K
#   G                                   bash results/bench/run14/call.sh parts     # where a 128K prefill's time goes
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back.
set -uo pipefail
what=${1:?"part, count2, yarn1, gyarn, native, agreement or parts"}
export OUT=${OUT:-/tmp/run14}
case $what in  # the protocol's calls are run 13's, at the code's defaults (torch's split since f90ae19)
  part | count2 | yarn1 | gyarn | native | agreement) exec bash results/bench/run13/call.sh "$what" ;;
  parts) ;;
  *) echo "call.sh: $what is not one of part, count2, yarn1, gyarn, native, agreement, parts" >&2; exit 2 ;;
esac
source evalsuite/lab/bench/device_call.sh  # installs, unpacks, FlashAttention-4 parts, env; its helpers
kernels_report
# the engine's prefill part by part (evalsuite.lab.bench.prefill_parts), the three models, 128K first
watched /tmp/parts/prefill_parts.json "$OUT/prefill_parts.json" "${T:-300}" /tmp/parts.log \
  python3 -m evalsuite.lab.bench.prefill_parts --out /tmp/parts --lengths 131072,65536,4096 \
  --gates none,headwise,elementwise --profile --deadline "$((${T:-300} - 60))"
echo "parts: rc $?"
cp /tmp/parts.log "$OUT/"
tail -n 9 /tmp/parts.log
