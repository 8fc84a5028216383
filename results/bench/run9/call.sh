#!/usr/bin/env bash
# Run 9 (issue 15): shared haystack prefixes (share_prefix, the batched engine's default since this run) and mode
# compiled's halves, each against the path before it on the same samples, then the baseline's protocol units.
# Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run9/call.sh part       # the wheelhouse and the data
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run9/call.sh part       # FlashAttention-4 in parts
#   B  carry .fa4/part4                 bash results/bench/run9/call.sh agreement  # the trained trio's bf16 tokens
#   C                                   bash results/bench/run9/call.sh main       # sharing at 64K/128K, the units
#   D                                   bash results/bench/run9/call.sh compiled   # the 64K/128K unit, mode compiled
# Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8 files come back, so the logs travel as
# one archive per run.
set -uo pipefail
what=${1:?"agreement, part, main or compiled"}
OUT=${OUT:-/tmp/run9}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
elif [ ! -d /tmp/site/lm_eval ]; then
  echo "call.sh: no .whl/ carried and no /tmp/site from an earlier call on this machine" >&2; exit 1
fi
if [ -f .carry/bundle.tar.xz ]; then
  mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
elif [ ! -d /tmp/carry/data ]; then
  echo "call.sh: no .carry/bundle.tar.xz carried and none unpacked by an earlier call" >&2; exit 1
fi
source evalsuite/lab/bench/fa4_parts.sh  # sets FA4
export PYTHONPATH=/tmp/site:$FA4$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 EVALSUITE_DATA=/tmp/carry/data
[ "$what" = part ] && exit 0
if [ "$what" = agreement ]; then  # batched (shared prefixes), unshared, compiled, one at a time, exact, stock
  ( while sleep 4; do cp /tmp/agree/trained.json "$OUT/" 2> /dev/null; done ) &
  copier=$!
  timeout "${T:-420}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out /tmp/agree \
    --compiled --unshared > /tmp/agree.log 2>&1; echo "agreement: rc $?"
  kill "$copier"; cp /tmp/agree/trained.json /tmp/agree.log "$OUT/"; tail -n 3 /tmp/agree.log; exit 0
fi
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv
  echo "cpus $(nproc); PYTHONPATH=$PYTHONPATH"
  python3 - <<'PY'
import torch, transformers, lm_eval
from evalsuite.engine import kernels
print("torch", torch.__version__, "transformers", transformers.__version__, "lm_eval", lm_eval.__version__,
      "cudnn", torch.backends.cudnn.version())
dev = torch.device("cuda", 0)
print("checks (fa4: square and suffix): fa4", kernels.fa4_attention_ok(0), "cudnn", kernels.cudnn_attention_ok(0),
      "-> attention auto runs", kernels.causal_backend(dev, "auto"))
PY
} 2>&1 | tee -a "$OUT/kernels.txt"
D=(--data /tmp/carry/data --tokenizer /tmp/carry/tokenizer --work /tmp/ckpt)
run() {  # NAME LIMIT_S protocol_run-arguments...
  local name=$1 limit=$2
  shift 2
  rm -rf "/tmp/$name"
  ( while sleep 4; do cp "/tmp/$name/protocol.json" "$OUT/$name.json" 2> /dev/null; done ) &
  local copier=$!
  timeout "$limit" python3 -m evalsuite.lab.bench.protocol_run "${D[@]}" --out "/tmp/$name" \
    --deadline "$((limit - 15))" "$@" > "/tmp/$name.log" 2>&1
  echo "$name: rc $?"
  kill "$copier"
  cp "/tmp/$name/protocol.json" "$OUT/$name.json"
  tar -czf "$OUT/$name-logs.tgz" -C /tmp --exclude runs "$name" "$name.log"
  tail -n 4 "/tmp/$name.log"
}
case $what in
  main)
    ( while sleep 4; do cp /tmp/share/share.json "$OUT/" 2> /dev/null; done ) &
    copier=$!
    timeout "${T_S:-200}" python3 -m evalsuite.lab.bench.batched --data /tmp/carry/data --tokenizer /tmp/carry/tokenizer \
      --out /tmp/share --name share --parts share > /tmp/share.log 2>&1; echo "share: rc $?"
    kill "$copier"; cp /tmp/share/share.json /tmp/share.log "$OUT/"
    run native1 "${T_N:-150}" --models 1B_baseline --samples 1
    run yarn1 "${T_Y:-230}" --models 1B_baseline-yarn4 --samples 1 ;;
  compiled) run yarn1c "${T_Y:-230}" --models 1B_baseline-yarn4 --samples 1 --engine generation=compiled ;;
  *) echo "call.sh: $what is not one of agreement, part, main, compiled" >&2; exit 2 ;;
esac
