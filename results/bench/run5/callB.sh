#!/usr/bin/env bash
# Run 5, call B (issue 15): the gated entries of the paper suite at 1 RULER sample per task and length (as call A's
# baseline), then the compiled-mode leftover-buffer probe. Same carry as call A; each part capped (T_* seconds).
set -uo pipefail
source results/bench/run5/setup.sh
mkdir -p "$OUT/leftover"
timeout "${T_B:-400}" python3 -m evalsuite.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/protocol" \
  --models 1B_gate_headwise,1B_gate_elementwise,1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 \
  --deadline "${T_DEADLINE:-390}" > "$OUT/protocol.log" 2>&1; echo "protocol: rc $?"
timeout "${T_LEFTOVER:-80}" python3 -m evalsuite.bench.leftover "${D[@]}" --out "$OUT/leftover" \
  > "$OUT/leftover/log" 2>&1; echo "leftover: rc $?"
tail -n 6 "$OUT"/protocol.log "$OUT"/leftover/log
