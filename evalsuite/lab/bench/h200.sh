#!/usr/bin/env bash
# The H200 benchmark on the offline device machine, from the repository root there.
# Carried: .whl/ (evalsuite/tools/build_wheelhouse.sh) and .carry/ holding bundle.tar.xz (data/: hellaswag,
# mmlu dev+test, wikitext-2-raw, pg_essays; tokenizer/: SmolLM2's) and alt/ (datasets 3.6, used only if
# datasets 5.2 does not import against the image's pyarrow). Extra arguments go to `python -m evalsuite.lab bench`.
# A warm machine keeps /tmp between calls: a later call may leave out .whl/ and .carry/ (installed and unpacked
# already). FlashAttention-4 (optional; evalsuite/tools/build_fa4_parts.sh) travels in parts, one per call
# (.fa4/partK/; evalsuite/lab/bench/fa4_parts.sh; NO_FA4=1: leave it off the path for this run).
set -uo pipefail
OUT=${OUT:-/tmp/bench-out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
elif [ ! -d /tmp/site/lm_eval ]; then
  echo "h200.sh: no .whl/ carried and no /tmp/site from an earlier call on this machine" >&2; exit 1
fi
source evalsuite/lab/bench/fa4_parts.sh  # sets FA4
export PYTHONPATH=/tmp/site:$FA4$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
if ! python3 -c "import pyarrow, datasets, lm_eval; print('pyarrow', pyarrow.__version__, 'datasets', datasets.__version__)"; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/alt/*.whl
  python3 -c "import pyarrow, datasets, lm_eval; print('fallback datasets', datasets.__version__)" || exit 1
fi
if [ -f .carry/bundle.tar.xz ]; then
  mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
elif [ ! -d /tmp/carry/data ]; then
  echo "h200.sh: no .carry/bundle.tar.xz carried and none unpacked by an earlier call" >&2; exit 1
fi
[ "${BENCH_SKIP:-}" = 1 ] && { echo "BENCH_SKIP=1: set up only"; exit 0; }
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm,clocks.mem --format=csv
python3 -m evalsuite.lab bench --preset h200 --data /tmp/carry/data --tokenizer /tmp/carry/tokenizer \
  --out "$OUT" "$@" 2>&1 | tee "$OUT/log"
