#!/usr/bin/env bash
# Run 12's call F (issue 15): the flex decode kernel at 3 x 128K with one live row and two retired (as retirement
# leaves a batch), beside all three live: torch's split of the keys (10 ways for 3 rows on 132 SMs), the engine's
# options, and a one-row cache's split (32). A fresh machine, from the repository root, carrying .whl:
#   bash results/bench/run12/sweep.sh
set -uo pipefail
OUT=${OUT:-/tmp/run12-sweep}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl 2> /dev/null
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout "${T:-170}" python3 -m evalsuite.lab.bench.decode_sweep --out "$OUT" --name sweep --deadline "${D:-160}" \
  --shapes 3x131200@131072:1 3x131200@131072 --parts attention,variants --repeats 10 --warmup 2
echo "decode_sweep: rc $?"
