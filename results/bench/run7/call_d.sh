#!/usr/bin/env bash
# For the next GPU session (issue 15): the baseline's units at 1 and 2 samples, each count compiling from empty
# caches (909718e), so that the check compares two cold runs, as the full protocol's one process is cold. Two calls:
#   bash results/bench/run7/call_d.sh                        # the 64K/128K YaRN unit (about 450 s)
#   MODELS=1B_baseline bash results/bench/run7/call_d.sh     # QA, RULER 4K-32K, diagnostics (about 200 s)
# The records are copied out and the logs tarred: at most 8 files come back from $OUT.
set -uo pipefail
source results/bench/run5/setup.sh
MODELS=${MODELS:-1B_baseline-yarn4}
timeout "${T_B:-570}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out /tmp/base \
  --models "$MODELS" --samples 1 --validate 2 --deadline "${T_B_DEADLINE:-555}" \
  > "$OUT/base.log" 2>&1; echo "protocol ($MODELS, cold caches): rc $?"
cp /tmp/base/protocol.json "$OUT/protocol.json"
tar -czf "$OUT/logs.tgz" -C /tmp/base --exclude runs . ; tail -n 4 "$OUT/base.log"
