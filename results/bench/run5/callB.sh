#!/usr/bin/env bash
# Run 5, call B (issue 15): 100 RULER samples at 4K batched vs one at a time, 128K batched; HellaSwag's 10,042 items
# with stock lm-eval `hf`, our default scorer and the FlexAttention (`flex`) variant; then the compiled-mode
# leftover-buffer probe. Same carry as call A; each part capped (T_* seconds) so a cut-off call keeps the others.
set -uo pipefail
source results/bench/run5/setup.sh
mkdir -p "$OUT/batched" "$OUT/hellaswag" "$OUT/leftover"
timeout "${T_BATCHED:-200}" python3 -m evalsuite.lab.bench.batched "${D[@]}" --out "$OUT/batched" \
  --parts ruler4k,ruler128k --samples 100 --samples-128k 2 > "$OUT/batched/log" 2>&1; echo "batched: rc $?"
OUT="$OUT/hellaswag" timeout "${T_HS:-230}" bash evalsuite/lab/bench/h200.sh --parts scoring --only hellaswag \
  --variants flex --name h200-r5-hellaswag > /dev/null 2>&1; echo "hellaswag: rc $?"
timeout "${T_LEFTOVER:-90}" python3 -m evalsuite.lab.bench.leftover "${D[@]}" --out "$OUT/leftover" \
  > "$OUT/leftover/log" 2>&1; echo "leftover: rc $?"
tail -n 4 "$OUT"/*/log
