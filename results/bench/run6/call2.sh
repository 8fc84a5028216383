#!/usr/bin/env bash
# Run 6, call 2 (issue 15): the baseline's 64K/128K unit (YaRN x4), 80 % of the protocol's time, at 1 and 2 RULER
# samples per task and length: the extrapolation's check on that unit (run 5's second count was cut before it).
# The engine keys are what call 1 measured faster (results/bench/run6/engine.py); same carry as call 1.
set -uo pipefail
source results/bench/run5/setup.sh
ENGINE=$(python3 results/bench/run6/engine.py); echo "engine: ${ENGINE:-defaults}" | tee "$OUT/engine.txt"
timeout "${T_YARN:-570}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/yarn" \
  --models 1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_YARN_DEADLINE:-555}" $ENGINE \
  > "$OUT/yarn.log" 2>&1; echo "protocol (baseline YaRN): rc $?"
rm -rf "$OUT/yarn/runs"  # the records are in protocol.json; the run folders are too deep to come back
tail -n 4 "$OUT/yarn.log"
