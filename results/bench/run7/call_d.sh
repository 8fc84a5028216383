#!/usr/bin/env bash
# For the next GPU session (issue 15): the baseline's whole suite (QA, RULER 4K-32K, the 64K/128K YaRN unit) at 1 and
# 2 samples in one command, each count compiling from empty caches (909718e), so the check compares two cold runs as
# the full protocol's one process is cold; the records tarred (at most 8 files come back from $OUT).
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_B:-570}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out /tmp/base \
  --models 1B_baseline,1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_B_DEADLINE:-555}" \
  > "$OUT/base.log" 2>&1; echo "protocol (baseline, cold caches): rc $?"
cp /tmp/base/protocol.json "$OUT/protocol.json"
tar -czf "$OUT/logs.tgz" -C /tmp/base --exclude runs . ; tail -n 4 "$OUT/base.log"
