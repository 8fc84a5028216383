#!/usr/bin/env bash
# Run 7, call C (issue 15): the gated models' 64K/128K units at 1 sample (runs 5 and 6 priced them with the
# baseline's), at the CUDA defaults.
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_G:-560}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/gated" \
  --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 --deadline "${T_G_DEADLINE:-545}" \
  > "$OUT/gated.log" 2>&1; echo "protocol (gated YaRN): rc $?"
rm -rf "$OUT/gated/runs"
tail -n 4 "$OUT/gated.log"
