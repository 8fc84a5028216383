# Sourced by a run's call script (results/bench/run8/call.sh, run9/call.sh) on the device machine, from the
# repository root there, after it sets OUT: what every call of a protocol run does first, and its helpers.
# Installs the carried wheelhouse (.whl/) into /tmp/site and unpacks the carried data bundle
# (.carry/bundle.tar.xz) into /tmp/carry, or finds them there from an earlier call on the same warm machine (a
# "part" call, what=part, may bring either alone: with run 13's records the tracked tree no longer leaves room
# under the carry limit for both in one call);
# gathers FlashAttention-4's carried part (fa4_parts.sh); exports the offline environment. Then:
#   kernels_report                       the card, the versions and which causal kernel passed its check -> $OUT/kernels.txt
#   protocol_unit NAME LIMIT_S ARGS...   protocol_run ARGS... into /tmp/NAME, its record copied to $OUT/NAME.json
#                                        every 4 s (a cut call keeps it), its logs as one archive (8 files come back)
#   batched_part NAME LIMIT_S ARGS...    lab.bench.batched ARGS... into /tmp/NAME/NAME.json, copied to $OUT every
#                                        4 s, with its log /tmp/NAME.log
#   watched SRC DEST LIMIT_S LOG CMD...  CMD under a time limit, its output to LOG, SRC copied to DEST every 4 s
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
elif [ ! -d /tmp/site/lm_eval ] && [ "${what:-}" != part ]; then
  echo "call.sh: no .whl/ carried and no /tmp/site from an earlier call on this machine" >&2; exit 1
fi
if [ -f .carry/bundle.tar.xz ]; then
  mkdir -p /tmp/carry && tar -xJf .carry/bundle.tar.xz -C /tmp/carry || exit 1
elif [ ! -d /tmp/carry/data ] && [ "${what:-}" != part ]; then
  echo "call.sh: no .carry/bundle.tar.xz carried and none unpacked by an earlier call" >&2; exit 1
fi
source evalsuite/lab/bench/fa4_parts.sh  # sets FA4
export PYTHONPATH=/tmp/site:$FA4$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 EVALSUITE_DATA=/tmp/carry/data

kernels_report() {
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
print("checks (fa4: square and suffix): fa4", kernels.fa4_attention_ok(0), "cudnn", kernels.cudnn_attention_ok(0),
      "-> attention auto runs", kernels.causal_backend(dev, "auto"))
PY
  } 2>&1 | tee -a "$OUT/kernels.txt"
}

watched() {  # SRC DEST LIMIT_S LOG COMMAND...: COMMAND under LIMIT_S, its output to LOG, SRC copied to DEST every
  local src=$1 dest=$2 limit=$3 log=$4  # 4 s and at the end (a cut call keeps it); returns COMMAND's status
  shift 4
  ( while sleep 4; do cp "$src" "$dest" 2> /dev/null; done ) &
  local copier=$!
  timeout "$limit" "$@" > "$log" 2>&1
  local rc=$?
  kill "$copier"
  cp "$src" "$dest" 2> /dev/null
  return $rc
}

protocol_unit() {  # NAME LIMIT_S protocol_run-arguments...
  local name=$1 limit=$2
  shift 2
  rm -rf "/tmp/$name"
  watched "/tmp/$name/protocol.json" "$OUT/$name.json" "$limit" "/tmp/$name.log" \
    python3 -m evalsuite.lab.bench.protocol_run --data /tmp/carry/data --tokenizer /tmp/carry/tokenizer \
    --work /tmp/ckpt --out "/tmp/$name" --deadline "$((limit - 15))" "$@"
  echo "$name: rc $?"
  tar -czf "$OUT/$name-logs.tgz" -C /tmp --exclude runs "$name" "$name.log"
  tail -n 4 "/tmp/$name.log"
}

batched_part() {  # NAME LIMIT_S batched-arguments...
  local name=$1 limit=$2
  shift 2
  watched "/tmp/$name/$name.json" "$OUT/$name.json" "$limit" "/tmp/$name.log" \
    python3 -m evalsuite.lab.bench.batched --data /tmp/carry/data --tokenizer /tmp/carry/tokenizer \
    --out "/tmp/$name" --name "$name" "$@"
  echo "$name: rc $?"
  cp "/tmp/$name.log" "$OUT/"
}
