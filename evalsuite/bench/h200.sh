#!/usr/bin/env bash
# The H200 benchmark on the offline device machine, from the repository root there.
# Carried: .whl/ (evalsuite/tools/build_wheelhouse.sh) and .carry/ holding bundle.tar.xz (data/: hellaswag,
# mmlu dev+test, wikitext-2-raw, pg_essays; tokenizer/: SmolLM2's) and alt/ (datasets 3.6, used only if
# datasets 5.2 does not import against the image's pyarrow). Extra arguments go to `evalsuite bench`.
set -uo pipefail
OUT=${OUT:-/tmp/bench-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
if ! python3 -c "import pyarrow, datasets, lm_eval; print('pyarrow', pyarrow.__version__, 'datasets', datasets.__version__)"; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/alt/*.whl
  python3 -c "import pyarrow, datasets, lm_eval; print('fallback datasets', datasets.__version__)" || exit 1
fi
mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm,clocks.mem --format=csv
python3 -m evalsuite.cli bench --preset h200 --data /tmp/carry/data --tokenizer /tmp/carry/tokenizer \
  --out "$OUT" "$@" 2>&1 | tee "$OUT/log"
