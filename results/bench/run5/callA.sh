#!/usr/bin/env bash
# Run 5, call A (issue 15): the paper suite's baseline entries (native and YaRN x4) on a paper-shaped 1.7B written in
# the released on-disk format, through `evalsuite run`, at 1 and then 2 RULER samples per task and length (QA
# limits scaled alike): the protocol's baseline, and the check of its extrapolation. Then 100 RULER samples at 4K
# batched vs one at a time and 128K batched. From the repository root on the device machine, carrying .whl/
# (`make wheelhouse`) and .carry/bundle.tar.xz (data + SmolLM2's tokenizer). Each part capped (T_* seconds).
set -uo pipefail
source results/bench/run5/setup.sh
mkdir -p "$OUT/batched"
timeout "${T_A:-400}" python3 -m evalsuite.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/protocol" \
  --models 1B_baseline,1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_DEADLINE:-390}" \
  > "$OUT/protocol.log" 2>&1; echo "protocol: rc $?"
timeout "${T_BATCHED:-150}" python3 -m evalsuite.bench.batched "${D[@]}" --out "$OUT/batched" \
  --parts ruler4k,ruler128k --samples 100 --samples-128k 2 > "$OUT/batched/log" 2>&1; echo "batched: rc $?"
tail -n 8 "$OUT/protocol.log" "$OUT/batched/log"
