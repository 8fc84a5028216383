#!/usr/bin/env bash
# Run 5, call 1 (issue 15): batched RULER generation at 4K and 128K, HellaSwag 0-shot vs stock lm-eval with the
# FlexAttention tree variant and the non-finite check off/on, and the compiled-mode leftover-buffer probe.
# From the repository root on the device machine, carrying .whl/ (`make wheelhouse`) and .carry/bundle.tar.xz.
# Each part is capped (T_* seconds) so that a cut-off call still returns the others; results go to $OUT as they come.
set -uo pipefail
OUT=${OUT:-/tmp/run5}
mkdir -p "$OUT"/batched "$OUT"/hellaswag "$OUT"/leftover
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv
  python3 -c "import torch, transformers, lm_eval; print('torch', torch.__version__, 'transformers', transformers.__version__, 'lm_eval', lm_eval.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
D=(--data /tmp/carry/data --tokenizer /tmp/carry/tokenizer)
timeout "${T_BATCHED:-220}" python3 -m evalsuite.bench.batched "${D[@]}" --out "$OUT/batched" \
  --parts ruler4k,ruler128k --samples 100 --samples-128k 0 > "$OUT/batched/log" 2>&1; echo "batched: rc $?"
timeout "${T_HELLASWAG:-215}" python3 -m evalsuite.cli bench --preset h200 "${D[@]}" --out "$OUT/hellaswag" \
  --parts scoring --only hellaswag --no-quick --variants flex,nocheck,check --name h200-r5-hellaswag \
  > "$OUT/hellaswag/log" 2>&1; echo "hellaswag: rc $?"
timeout "${T_LEFTOVER:-110}" python3 -m evalsuite.bench.leftover "${D[@]}" --out "$OUT/leftover" \
  > "$OUT/leftover/log" 2>&1; echo "leftover: rc $?"
tail -n 3 "$OUT"/*/log
