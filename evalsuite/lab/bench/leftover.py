"""Find the KV-cache-sized buffer that run 2 saw left on the GPU after a ``compiled`` generation request.

    python -m evalsuite.lab.bench.leftover --data DATA --tokenizer TOKENIZER_DIR --out OUT [--length 32768]

One RULER sample at ``--length`` tokens through ``EvalsuiteLM.generate_until``, on the paper-shaped random
1.72B (bf16): first in ``fast`` mode, then in ``compiled`` mode (one-at-a-time and batched), each followed by
``gc.collect()`` and ``torch.cuda.empty_cache()``. After each, the bytes still allocated beyond the model's
own are recorded; with the allocator's history on (``torch.cuda.memory._record_memory_history``), every block
still live after the compiled requests that was allocated during them is listed with the Python frames that
allocated it, so the holder is named rather than guessed. Then ``torch._dynamo.reset()`` and another
collection: if the bytes come back, the compiled code's caches held them. Each step is written to
``OUT/leftover.json`` as it finishes.
"""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch

from evalsuite import strict_json
from evalsuite.lab.bench.batched import ruler_samples
from evalsuite.lab.bench.workloads import greedy_instance
from evalsuite.lab.bench.harness import Recorder, build_model

GIB = 2.0 ** 30


def _settle() -> float:
    """GiB allocated once garbage is collected and the allocator's free blocks returned."""
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    return torch.cuda.memory_allocated() / GIB


def _active(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The allocator snapshot's blocks in use (allocated and not freed)."""
    return [b for seg in snapshot["segments"] for b in seg["blocks"] if b["state"] == "active_allocated"]


def live_blocks_since(snapshot: dict[str, Any], before: set[int], *, top: int = 6) -> list[dict[str, Any]]:
    """The largest live blocks of ``snapshot`` whose address is not in ``before``, with their allocating frames."""
    blocks = [b for b in _active(snapshot) if b["address"] not in before]
    blocks.sort(key=lambda b: -b["size"])
    out = []
    for b in blocks[:top]:
        frames = [f"{f.get('filename', '?')}:{f.get('line', '?')}:{f.get('name', '?')}"
                  for f in b.get("frames", []) if "python" not in str(f.get("filename", "")).split("/")[-1]]
        out.append({"gib": b["size"] / GIB, "frames": [x for x in frames if ".py:" in x][:14]})
    return out


def _live_addresses() -> set[int]:
    return {b["address"] for b in _active(torch.cuda.memory._snapshot())}


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoTokenizer

    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.lab.bench.cli import environment
    from evalsuite.lab.bench.config import h200

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.leftover", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--length", type=int, default=32768)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("python -m evalsuite.lab.bench.leftover: needs a CUDA device (the buffer is CUDA-specific)", file=sys.stderr)
        return 2
    tok = AutoTokenizer.from_pretrained(str(args.tokenizer))
    rec = Recorder(args.out / "leftover.json", {"environment": environment(), "argv": list(argv or [])}, None)
    model = build_model(h200(), "none")
    base = _settle()
    rec.data["model_gib"] = base
    samples = ruler_samples(tok, args.data, args.length, 2, ("niah_single_1",))
    lm = EvalsuiteLM(model, tok, max_length=args.length)
    kv_gib = 2 * model.config.num_hidden_layers * model.config.num_key_value_heads * model.config.head_dim * 2 \
        * (args.length + 128) / GIB
    rec.data["one_kv_cache_gib"] = kv_gib

    def request(mode: str, rows: int | None, n: int) -> dict[str, Any]:
        lm.engine = replace(lm.engine, generation=mode, generation_rows=rows)
        lm.generate_until([greedy_instance(p_, g) for p_, g, _ in samples[:n]], disable_tqdm=True)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / GIB
        torch.cuda.reset_peak_memory_stats()
        return {"peak_gib": peak, "left_gib_beyond_model": _settle() - base}

    rec.step("fast_one", lambda: request("fast", 1, 1))
    rec.step("fast_one_again", lambda: request("fast", 1, 1))
    before = _live_addresses()
    torch.cuda.memory._record_memory_history(max_entries=200_000)
    rec.step("compiled_one", lambda: request("compiled", 1, 1))
    rec.step("compiled_batched", lambda: request("compiled", None, 2))
    rec.step("live_blocks_from_compiled", lambda: live_blocks_since(torch.cuda.memory._snapshot(), before))
    torch.cuda.memory._record_memory_history(enabled=None)
    rec.step("fast_after_compiled", lambda: request("fast", 1, 1))

    def reset() -> dict[str, Any]:
        torch._dynamo.reset()
        return {"left_gib_beyond_model": _settle() - base}

    rec.step("after_dynamo_reset", reset)
    rec.flush()
    print(strict_json.dumps({k: v for k, v in rec.data["workloads"].items()}, where="leftover", default=str)[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
