#!/usr/bin/env bash
# Session 4's one GPU call (from the repository root on the device machine, carrying .whl/ from `make wheelhouse`
# and .carry/bundle.tar.xz as in run 3): the non-finite check's cost (#18), the hybrid Qwen3.5-style model vs
# stock (#19) and batched RULER generation (#15), each capped so that a cut-off call still returns the others.
set -uo pipefail
OUT=${OUT:-/tmp/run4}
mkdir -p "$OUT"/finite "$OUT"/hybrid "$OUT"/batched
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv
  python3 -c "import torch, transformers, lm_eval; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
D=(--data /tmp/carry/data)
timeout "${T_FINITE:-140}" python3 -m evalsuite.lab bench --preset h200 "${D[@]}" --tokenizer /tmp/carry/tokenizer \
  --out "$OUT/finite" --parts scoring --only hellaswag --no-stock --no-quick --variants nocheck,check \
  --name h200-finite-check > "$OUT/finite/log" 2>&1; echo "finite: rc $?"
timeout "${T_HYBRID:-130}" python3 -m evalsuite.lab.bench.hybrid "${D[@]}" --out "$OUT/hybrid" --hellaswag 500 \
  --ruler-length 32768 > "$OUT/hybrid/log" 2>&1; echo "hybrid: rc $?"
timeout "${T_BATCHED:-260}" python3 -m evalsuite.lab.bench.batched "${D[@]}" --tokenizer /tmp/carry/tokenizer \
  --out "$OUT/batched" --parts ruler4k,ruler128k,hellaswag --samples 100 --samples-128k 2 \
  > "$OUT/batched/log" 2>&1; echo "batched: rc $?"
tail -n 4 "$OUT"/*/log
