#!/usr/bin/env bash
# Run 6, one call (issue 15), for a session whose device time allowed a single machine start:
# 1. the baseline's 64K/128K unit (YaRN x4; 80 % of the protocol's time) at 1 and 2 RULER samples per task and
#    length, through `evalsuite run` with the default engine: the extrapolation's check on that unit (run 5's
#    second count was cut before it);
# 2. with the time left, the decode step's attention, `split` (the default) against `flex` (FlexAttention's decoding
#    kernel, each row reading only the blocks it has filled) and `flex` with the compiled prefill: 100 RULER
#    samples at 4K batched, then one 128K sample with YaRN x4, each with its bf16 token agreement against `split`.
# From the repository root on the device, carrying .whl/ and .carry/bundle.tar.xz (run 5's setup).
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_YARN:-390}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/yarn" \
  --models 1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_YARN_DEADLINE:-380}" \
  > "$OUT/yarn.log" 2>&1; echo "protocol (baseline YaRN): rc $? at ${SECONDS}s"
rm -rf "$OUT/yarn/runs"  # the unit records are in protocol.json; the run folders are too deep to come back
tar -czf "$OUT/yarn.tgz" -C "$OUT" yarn && rm -rf "$OUT/yarn"  # at most 8 files come back
timeout $(( ${T_ALL:-585} - SECONDS )) python3 -m evalsuite.lab.bench.batched "${D[@]}" --out "$OUT" --name flex \
  --parts flex --samples 100 > "$OUT/flex.log" 2>&1; echo "flex: rc $? at ${SECONDS}s"
tail -n 3 "$OUT/yarn.log" "$OUT/flex.log"
