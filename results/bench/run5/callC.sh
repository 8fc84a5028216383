#!/usr/bin/env bash
# Run 5, the one-call fallback (issue 15), when device time is left for only one call: the baseline entries of
# the protocol at 1 and 2 RULER samples (the extrapolation and its check; call A's first half), then 100 RULER
# samples at 4K batched vs one at a time and 128K batched (call B's first part). Same carry as calls A and B.
set -uo pipefail
source results/bench/run5/setup.sh
mkdir -p "$OUT/batched"
timeout "${T_A:-320}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/protocol" \
  --models 1B_baseline,1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_A_DEADLINE:-310}" \
  > "$OUT/protocol.log" 2>&1; echo "protocol (baseline): rc $?"
timeout "${T_BATCHED:-200}" python3 -m evalsuite.lab.bench.batched "${D[@]}" --out "$OUT/batched" \
  --parts ruler4k,ruler128k --samples 100 --samples-128k 2 > "$OUT/batched/log" 2>&1; echo "batched: rc $?"
tail -n 6 "$OUT/protocol.log" "$OUT/batched/log"
