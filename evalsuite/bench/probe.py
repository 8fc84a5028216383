"""Profiles and A/B probes behind the benchmark's numbers (one short device call).

    python -m evalsuite.bench.probe --data DATA --tokenizer TOK --out OUT

* ``scoring_profile``: kernel-time breakdown (torch.profiler) of evalsuite's scorer on
  HellaSwag and MMLU-style requests, and the share of wall time the GPU was busy;
* ``wikitext_attention``: the same WikiText windows with cuDNN vs FlashAttention-2;
* ``decode``: CUDA-graph decode step at 32K: kernels per step, ms per step, capture
  errors, and the same with a fused ``F.rms_norm`` in place of the models' 7-kernel RMSNorm;
* ``attention_128k``: cuDNN vs FlashAttention-2 at 131,072 tokens (time, agreement
  with an fp32 reference on the last 1,024 queries);
* ``first_token_128k``: top-5 logits of the first generated token with the fast
  (cuDNN) and exact (FlashAttention-2) prefills on the RULER 128K prompt.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - t0


def _kernel_table(fn: Callable[[], Any], top: int = 12) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        _, wall = _timed(fn)
    rows = []
    for e in prof.key_averages():
        t = getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
        if t > 0:
            rows.append((t, e.count, e.key))
    rows.sort(reverse=True)
    busy = sum(r[0] for r in rows) / 1e6
    return {"wall_s_profiled": wall, "kernel_s": busy, "kernels": sum(r[1] for r in rows),
            "top": [{"ms": round(t / 1e3, 2), "count": c, "name": k[:90]} for t, c, k in rows[:top]]}


def _hellaswag_pairs(data: Path, n: int) -> list[tuple[str, str]]:
    import re

    from evalsuite.data import read_hellaswag

    def pre(text: str) -> str:  # tasks/hellaswag_es/utils.preprocess
        text = text.strip().replace(" [title]", ". ")
        return re.sub("\\[.*?\\]", "", text).replace("  ", " ")

    pairs = []
    for d in read_hellaswag(data / "hellaswag" / "hellaswag_val.jsonl")[:n]:
        q = pre(d["activity_label"] + ": " + d["ctx_a"] + " " + d["ctx_b"].capitalize())
        pairs += [(q, " " + pre(e)) for e in d["endings"]]
    return pairs


def _mmlu_pairs(data: Path, subjects: list[str]) -> list[tuple[str, str]]:
    from evalsuite.data import read_mmlu

    def fmt(r: dict) -> str:
        c = r["choices"]
        return f"{r['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:"

    pairs = []
    for s in subjects:
        shots = "".join(fmt(r) + " " + "ABCD"[int(r["answer"])] + "\n\n" for r in read_mmlu(data, s, "dev")[:5])
        head = f"The following are multiple choice questions (with answers) about {s.replace('_', ' ')}.\n\n"
        for r in read_mmlu(data, s, "test"):
            pairs += [(head + shots + fmt(r), " " + x) for x in "ABCD"]
    return pairs


def scoring_profile(model, tok, data: Path) -> dict[str, Any]:
    from evalsuite.fast.encode import PairEncoder
    from evalsuite.scoring import ScoringConfig, score_requests

    enc = PairEncoder(tok, add_bos_token=None, prefix_token_id=tok.bos_token_id)
    out = {}
    for name, pairs, row in (("hellaswag_2500", _hellaswag_pairs(data, 2500), 512),
                             ("mmlu_3_subjects", _mmlu_pairs(data, ["high_school_biology", "professional_law",
                                                                   "anatomy"]), 4096)):
        reqs = enc.encode_pairs(pairs)
        cfg = ScoringConfig(batch_tokens=32768, row_tokens=row)
        stats: list = []
        score_requests(model, reqs[:400], max_length=4096, pad_id=0, config=cfg)  # warm-up
        _, wall = _timed(lambda: score_requests(model, reqs, max_length=4096, pad_id=0, config=cfg, stats_out=stats))
        out[name] = {"requests": len(reqs), "wall_s": wall, "plan_s": stats[0].plan_seconds,
                     "padded_tokens": stats[0].tree.padded_tokens, "unique_tokens": stats[0].tree.unique_tokens,
                     "scored_positions": stats[0].tree.scored_positions,
                     "profile": _kernel_table(lambda: score_requests(model, reqs, max_length=4096, pad_id=0,
                                                                     config=cfg))}
    return out


def wikitext_attention(model, tok, data: Path) -> dict[str, Any]:
    from lm_eval import utils as lu

    from evalsuite.data import read_wikitext_documents, resolve_data_dir
    from evalsuite.scoring import ScoringConfig, score_requests

    docs = read_wikitext_documents(resolve_data_dir(data, "wikitext", "wikitext-2-raw", "wiki.test.raw"))
    reqs = []
    for d in docs[:30]:
        for c, x in map(lu.make_disjoint_window, lu.get_rolling_token_windows(
                token_list=tok.encode(d["page"]), prefix_token=tok.bos_token_id, max_seq_len=4096, context_len=1)):
            reqs.append((c, x))
    out: dict[str, Any] = {"windows": len(reqs)}
    for cudnn in (True, False, True):
        cfg = ScoringConfig(batch_tokens=32768, row_tokens=4096, prefer_cudnn=cudnn)
        _, wall = _timed(lambda: score_requests(model, reqs, max_length=4096, pad_id=0, config=cfg))
        out.setdefault(f"cudnn_{cudnn}_s", []).append(wall)
    out["profile_flash"] = _kernel_table(lambda: score_requests(
        model, reqs, max_length=4096, pad_id=0, config=ScoringConfig(batch_tokens=32768, row_tokens=4096,
                                                                     prefer_cudnn=False)), top=8)
    return out


def _fuse_rms_norms(model) -> Callable[[], None]:
    """Swap every RMSNorm's forward for F.rms_norm (one kernel); returns the undo."""
    undo = []
    for m in model.modules():
        if type(m).__name__.endswith("RMSNorm") and hasattr(m, "variance_epsilon"):
            undo.append((m, m.forward))
            m.forward = (lambda x, m=m: F.rms_norm(x, m.weight.shape, m.weight, m.variance_epsilon))
    return lambda: [setattr(m, "forward", f) for m, f in undo]


def decode(model, length: int = 32768, steps: int = 64) -> dict[str, Any]:
    from evalsuite.fast.decode import DecodeCache, capacity_for, prefill
    from evalsuite.fast.lean import LeanDecoder

    lean = LeanDecoder.wrap(model)
    out: dict[str, Any] = {}
    prompt = torch.randint(0, 49152, (1, length - 128), device="cuda")
    for variant in ("modules", "fused_rms_norm"):
        undo = _fuse_rms_norms(model) if variant == "fused_rms_norm" else (lambda: None)
        try:
            with torch.inference_mode():
                cache = DecodeCache(lean)
                (kv, graph), setup = _timed(lambda: cache.get(capacity_for(length), graph=True))
                logits, t_prefill = _timed(lambda: prefill(lean, kv, prompt, fast=True))
                graph.start(int(logits.argmax()), prompt.shape[1])
                _, t = _timed(lambda: [graph.step() for _ in range(steps)])
                graph.start(int(logits.argmax()), prompt.shape[1])
                prof = _kernel_table(lambda: graph._step(), top=6)  # one eager step: kernels per step
                out[variant] = {"setup_s": setup, "prefill_s": t_prefill, "ms_per_step": 1e3 * t / steps,
                                "captured": graph.graph is not None, "notes": cache.notes,
                                "kernels_per_step": prof["kernels"], "eager_step_profile": prof}
                cache.release()
        finally:
            undo()
    return out


def attention_128k() -> dict[str, Any]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    T = 131072
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 16, T, 128, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
    out: dict[str, Any] = {}
    res = {}
    for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        with sdpa_kernel([backend]):
            F.scaled_dot_product_attention(q[:, :, :4096], k[:, :, :4096], v[:, :, :4096], is_causal=True)
            res[name], t = _timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
        out[f"{name}_s"] = t
        out[f"{name}_tflops"] = 4 * 16 * 128 * T * (T + 1) / 2 / t / 1e12
    ql = q[:, :, -1024:].float()
    s = (ql @ k.float().transpose(-1, -2)) / 128 ** 0.5  # (1,16,1024,T) fp32; the last rows see every key
    s[..., -1024:] += torch.triu(torch.full((1024, 1024), float("-inf"), device="cuda"), 1)
    ref = torch.softmax(s, -1) @ v.float()
    for name, o in res.items():
        out[f"{name}_rel_err_last1024"] = float((o[:, :, -1024:].float() - ref).norm() / ref.norm())
    out["cudnn_vs_flash_rel"] = float((res["cudnn"].float() - res["flash"].float()).norm() / res["flash"].float().norm())
    return out


def first_token_128k(tok, data: Path) -> dict[str, Any]:
    from evalsuite.bench.config import h200
    from evalsuite.bench.run import build_model, ruler_prompt
    from evalsuite.fast.decode import StaticKV, prefill
    from evalsuite.fast.lean import LeanDecoder

    model = build_model(h200(), "none", yarn_factor=4.0)
    text, _ = ruler_prompt(tok, None, 131072, 1234, data)
    ids = torch.tensor([tok.encode(text)], device="cuda")
    lean = LeanDecoder.wrap(model)
    out = {"prompt_tokens": ids.shape[1]}
    with torch.inference_mode():
        kv = StaticKV(lean, ids.shape[1] + 8)
        for mode in ("fast", "exact"):
            logits, t = _timed(lambda: prefill(lean, kv, ids, fast=mode == "fast"))
            top = torch.topk(logits.float()[0], 5)
            out[mode] = {"seconds": t, "top_ids": top.indices.tolist(), "top_logits": top.values.tolist(),
                         "margin": float(top.values[0] - top.values[1])}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.bench.probe", description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--only", help="comma-separated probe names")
    a = p.parse_args(argv)
    from transformers import AutoTokenizer

    from evalsuite.bench.config import h200
    from evalsuite.bench.run import build_model

    data, tok = Path(a.data), AutoTokenizer.from_pretrained(a.tokenizer)
    results: dict[str, Any] = {}
    path = Path(a.out) / "probe.json"
    model = build_model(h200(), "none")
    probes = {"attention_128k": attention_128k, "decode": lambda: decode(model),
              "wikitext_attention": lambda: wikitext_attention(model, tok, data),
              "scoring_profile": lambda: scoring_profile(model, tok, data),
              "first_token_128k": lambda: first_token_128k(tok, data)}
    for name, fn in probes.items():
        if a.only and name not in a.only.split(","):
            continue
        if name == "first_token_128k":
            del model
            torch.cuda.empty_cache()
        t0 = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as exc:  # noqa: BLE001 - keep the other probes
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=6)}
        results[name + "_probe_s"] = time.perf_counter() - t0
        print(f"[probe] {name}: {time.perf_counter() - t0:.1f}s", flush=True)
        path.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
