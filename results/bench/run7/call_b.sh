#!/usr/bin/env bash
# Run 7, call B (issue 15): the trained trio's bf16 greedy tokens (batched / one at a time / exact / stock lm-eval),
# then the baseline's native units (WikiText, MMLU, HellaSwag, RULER 4K-32K, diagnostics) at 1 and 2 samples at the
# CUDA defaults since run 6: the native units' extrapolation check and their figures under the new engine.
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_TA:-150}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out "$OUT" \
  > "$OUT/trained.log" 2>&1; echo "trained agreement: rc $?"
timeout "${T_N:-420}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/native" \
  --models 1B_baseline --samples 1 --validate 2 --deadline "${T_N_DEADLINE:-405}" \
  > "$OUT/native.log" 2>&1; echo "protocol (baseline native): rc $?"
rm -rf "$OUT/native/runs"
tail -n 4 "$OUT/trained.log" "$OUT/native.log"
