#!/usr/bin/env bash
# Run 6, call 1 (issue 15): the decode step's attention, `split` (every committed run) against `flex`
# (FlexAttention's decoding kernel, each row reading only the blocks it has filled), and `flex` with the compiled
# prefill: 100 RULER samples at 4K batched, then one 128K sample with YaRN x4, each with its bf16 token agreement
# against `split`. From the repository root on the device, carrying .whl/ and .carry/bundle.tar.xz (run 5's setup).
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_FLEX:-330}" python3 -m evalsuite.lab.bench.batched "${D[@]}" --out "$OUT" --name flex --parts flex \
  --samples 100 > "$OUT/flex.log" 2>&1; echo "flex: rc $?"
cp "$OUT/flex.json" /tmp/run6-flex.json 2>/dev/null  # call 2 reads it on the warm machine
tail -n 3 "$OUT/flex.log"
