#!/usr/bin/env bash
# Run 7, call A (issue 15): the baseline's 64K/128K unit (YaRN x4), 80 % of the protocol's time, at 1 and 2 RULER
# samples per task and length, at the CUDA defaults since run 6 (flex step, compiled prefill) and with the rows of
# a group sized against the cache it replaces (d5dff0b): the extrapolation's check run 6 could not finish.
# From the repository root on the device, carrying .whl/ and .carry/bundle.tar.xz (run 5's setup).
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_YARN:-565}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/yarn" \
  --models 1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_YARN_DEADLINE:-550}" \
  > "$OUT/yarn.log" 2>&1; echo "protocol (baseline YaRN): rc $?"
rm -rf "$OUT/yarn/runs"  # the records are in protocol.json; the run folders are too deep to come back
tail -n 4 "$OUT/yarn.log"
