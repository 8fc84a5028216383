#!/usr/bin/env bash
# Run 5, call A (issue 15): the paper suite on paper-shaped 1.7B models written in the released on-disk format,
# through `evalsuite run` as a user runs it. First the baseline entries (native and YaRN x4) at 1 and then 2 RULER
# samples per task and length (QA limits scaled alike): the protocol's baseline and the check of its
# extrapolation. Then the gated entries at 1 sample, as far as the call's time goes. From the repository root on
# the device machine, carrying .whl/ (`make wheelhouse`) and .carry/bundle.tar.xz (data + SmolLM2's tokenizer).
set -uo pipefail
source results/bench/run5/setup.sh
timeout "${T_A:-335}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/protocol" \
  --models 1B_baseline,1B_baseline-yarn4 --samples 1 --validate 2 --deadline "${T_A_DEADLINE:-325}" \
  > "$OUT/protocol.log" 2>&1; echo "protocol (baseline): rc $?"
timeout "${T_G:-225}" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --work /tmp/ckpt --out "$OUT/gated" \
  --models 1B_gate_headwise,1B_gate_elementwise,1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 \
  --deadline "${T_G_DEADLINE:-215}" > "$OUT/gated.log" 2>&1; echo "protocol (gated): rc $?"
tail -n 6 "$OUT/protocol.log" "$OUT/gated.log"
