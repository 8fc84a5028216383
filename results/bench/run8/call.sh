#!/usr/bin/env bash
# Run 8 (issue 15): FlashAttention-4 for the RULER prefills, and the protocol's check from two cold counts.
# Calls to one warm machine (it keeps /tmp for 30 s after each call), from the repository root there, in order:
#   A  carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh cudnn   # the 64K/128K unit, 1 sample, cuDNN
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run8/call.sh part    # FlashAttention-4 arrives in parts
#   B  carry .fa4/part4                 bash results/bench/run8/call.sh yarn    # the 64K/128K unit at 1 and 2, cold
#   C                                   bash results/bench/run8/call.sh native  # the baseline's other units, 1 and 2
#   D                                   bash results/bench/run8/call.sh gated   # the gated 64K/128K units, 1 sample
# Then, on a second machine, with FlashAttention-4's decode options (FLEX_DECODE_OPTIONS) in the engine:
#   S  carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh sweep   # the decode step, where time goes
#   P  carry .fa4/partK, K = 1, 2, 3    bash results/bench/run8/call.sh part
#   F  carry .fa4/part4                 bash results/bench/run8/call.sh final   # the baseline's units at 1 sample
# For the next session (not run here): the trained trio's tokens with the batched step's halves compiled (mode
# compiled) beside fast, exact and stock, the evidence a change of the default generation mode needs:
#      carry .whl .carry/bundle.tar.xz  bash results/bench/run8/call.sh agreement
# B, C and D run at the CUDA defaults (attention auto: FlashAttention-4 where it passed its check, else cuDNN);
# kernels.txt says which ran and why. Each record is copied to $OUT every 4 s (a cut call keeps it); at most 8
# files come back, so the logs travel as one archive per run.
set -uo pipefail
what=${1:?"cudnn, part, yarn, native, gated, sweep, final or agreement"}
OUT=${OUT:-/tmp/run8}
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
if [ "$what" = agreement ]; then
  timeout "${T:-400}" python3 -m evalsuite.lab.bench.trained_agreement --data /tmp/carry/data --out "$OUT" \
    --compiled; echo "agreement: rc $?"; exit 0
fi
if [ "$what" = sweep ]; then  # 4K, 32K, 128K: the steps (uncompiled, compiled halves), the attention, the variants
  timeout "${T:-140}" python3 -m evalsuite.lab.bench.decode_sweep --out "$OUT" --compile off,halves \
    --shapes 22x4224@4096 11x32896@32768 3x131200@131072 --deadline "${T_DEADLINE:-125}"; echo "sweep: rc $?"; exit 0
fi
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv
  echo "cpus $(nproc); PYTHONPATH=$PYTHONPATH"
  python3 - <<'PY'
import torch, transformers, lm_eval
from evalsuite.engine import kernels
print("torch", torch.__version__, "transformers", transformers.__version__, "lm_eval", lm_eval.__version__,
      "cudnn", torch.backends.cudnn.version())
try:
    from flash_attn.cute import flash_attn_func  # noqa: F401
    import flash_attn
    print("flash_attn.cute imports:", getattr(flash_attn, "__version__", "?"))
except Exception as exc:  # noqa: BLE001
    print("flash_attn.cute does not import:", type(exc).__name__, str(exc)[:400])
dev = torch.device("cuda", 0)
print("checks: fa4", kernels.fa4_attention_ok(0), "cudnn", kernels.cudnn_attention_ok(0),
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
  cudnn) run cudnn "${T:-300}" --models 1B_baseline-yarn4 --samples 1 --engine attention=cudnn ;;
  yarn) run yarn "${T:-570}" --models 1B_baseline-yarn4 --samples 1 --validate 2 ;;
  native) run native "${T:-330}" --models 1B_baseline --samples 1 --validate 2 ;;
  gated) run gated "${T:-570}" --models 1B_gate_headwise-yarn4,1B_gate_elementwise-yarn4 --samples 1 ;;
  final) run native1 "${T_N:-150}" --models 1B_baseline --samples 1
         run yarn1 "${T_Y:-240}" --models 1B_baseline-yarn4 --samples 1 ;;
  *) echo "call.sh: $what is not one of cudnn, part, yarn, native, gated, sweep, final, agreement" >&2; exit 2 ;;
esac
