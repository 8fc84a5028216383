#!/usr/bin/env bash
# Run 6, call 3 (issue 15): the gated models' 64K/128K units (run 5 took them from the baseline's), with call 2's
# engine keys; then, as far as the call's time goes, the baseline's native units at 1 and 2 samples with them.
set -uo pipefail
source results/bench/run5/setup.sh
ENGINE=$(python3 results/bench/run6/engine.py); echo "engine: ${ENGINE:-defaults}" | tee "$OUT/engine.txt"
timeout "${T_G:-330}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/gated" \
  --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 --deadline "${T_G_DEADLINE:-320}" $ENGINE \
  > "$OUT/gated.log" 2>&1; echo "protocol (gated YaRN): rc $?"
timeout "${T_N:-230}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/native" \
  --models 1B_baseline --samples 1 --validate 2 --deadline "${T_N_DEADLINE:-220}" $ENGINE \
  > "$OUT/native.log" 2>&1; echo "protocol (baseline native): rc $?"
rm -rf "$OUT/gated/runs" "$OUT/native/runs"
tail -n 4 "$OUT/gated.log" "$OUT/native.log"
tar -czf "$OUT/records.tgz" -C "$OUT" gated native && rm -rf "$OUT/gated" "$OUT/native"  # at most 8 files come back
