"""Profiles and A/B probes behind the benchmark's numbers (one short device call).

    python -m evalsuite.lab.bench.profiles --data DATA --tokenizer TOK --out OUT

* ``scoring_profile``: kernel-time breakdown (torch.profiler) of evalsuite's scorer on
  HellaSwag and MMLU-style requests, eager and compiled, and the share of wall time the GPU was busy;
* ``wikitext_attention``: the same WikiText windows with cuDNN, FlashAttention-2 and -4 (each twice);
* ``decode``: CUDA-graph decode step at 32K: kernels per step, ms per step, capture
  errors, and the same with a fused ``F.rms_norm`` in place of the models' 7-kernel RMSNorm;
* ``attention_128k``: cuDNN, FlashAttention-2 and FlashAttention-4 (if installed) at 131,072 and
  32,768 tokens and on a WikiText batch (time, TFLOP/s, agreement with an fp32 reference);
* ``eager_overhead``: host cost of an eager launch (and launch + sync) before and after FlashAttention-4
  is imported and used, with the threads alive at each point;
* ``first_token_128k``: top-5 logits of the first generated token with the fast
  (cuDNN) and exact (FlashAttention-2) prefills on the RULER 128K prompt.
"""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from evalsuite import strict_json
from evalsuite.lab.bench.timing import sync


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def kernel_table(fn: Callable[[], Any], top: int = 12) -> dict[str, Any]:
    """``fn``'s operations and kernels by their own time on the device (the host's, with no GPU), the longest
    first."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        _, wall = _timed(fn)
    rows = []
    for e in prof.key_averages():
        t = ((getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)) if cuda
             else e.self_cpu_time_total)
        if t > 0:
            rows.append((t, e.count, e.key))
    rows.sort(reverse=True)
    busy = sum(r[0] for r in rows) / 1e6
    return {"wall_s_profiled": wall, "kernel_s": busy, "kernels": sum(r[1] for r in rows),
            "top": [{"ms": round(t / 1e3, 2), "count": c, "name": k[:90]} for t, c, k in rows[:top]]}


def _hellaswag_pairs(data: Path, n: int) -> list[tuple[str, str]]:
    import re

    from evalsuite.families.hellaswag import read_hellaswag

    def pre(text: str) -> str:  # tasks/hellaswag_es/utils.preprocess
        text = text.strip().replace(" [title]", ". ")
        return re.sub("\\[.*?\\]", "", text).replace("  ", " ")

    pairs = []
    for d in read_hellaswag(data / "hellaswag" / "hellaswag_val.jsonl")[:n]:
        q = pre(d["activity_label"] + ": " + d["ctx_a"] + " " + d["ctx_b"].capitalize())
        pairs += [(q, " " + pre(e)) for e in d["endings"]]
    return pairs


def scoring_profile(model, tok, data: Path) -> dict[str, Any]:
    """Kernel-time breakdown of the scorer on 2,500 HellaSwag items, eager and with compiled layers
    (``EngineConfig.compile_scoring``), with the share of wall time the GPU was busy."""
    from evalsuite.engine.encode import PairEncoder
    from evalsuite.engine.loglikelihood import score_requests
    from evalsuite.spec import EngineConfig

    enc = PairEncoder(tok, add_bos_token=None, prefix_token_id=tok.bos_token_id)
    out = {}
    for name, pairs, row in (("hellaswag_2500", _hellaswag_pairs(data, 2500), 512),):
        reqs = enc.encode_pairs(pairs)
        for variant in ("eager", "compiled"):
            cfg = EngineConfig(batch_tokens=32768, row_tokens=row, compile_scoring=variant == "compiled")
            stats: list = []
            score_requests(model, reqs[:400], max_length=4096, pad_id=0, engine=cfg)  # warm-up (compilation)
            _, wall = _timed(lambda: score_requests(model, reqs, max_length=4096, pad_id=0, engine=cfg,
                                                    stats_out=stats))
            out[f"{name}_{variant}"] = {
                "requests": len(reqs), "wall_s": wall, "plan_s": stats[0].plan_seconds, "engine": stats[0].engine,
                "padded_tokens": stats[0].tree.padded_tokens, "unique_tokens": stats[0].tree.unique_tokens,
                "scored_positions": stats[0].tree.scored_positions,
                "profile": kernel_table(lambda: score_requests(model, reqs, max_length=4096, pad_id=0, engine=cfg),
                                        top=16)}
    return out


def wikitext_attention(model, tok, data: Path) -> dict[str, Any]:
    from lm_eval import utils as lu

    from evalsuite.engine.loglikelihood import score_requests
    from evalsuite.families.wikitext import read_wikitext_documents
    from evalsuite.paths import resolve_data_dir
    from evalsuite.spec import EngineConfig

    docs = read_wikitext_documents(resolve_data_dir(data, "wikitext", "wikitext-2-raw", "wiki.test.raw"))
    reqs = []
    for d in docs[:30]:
        for c, x in map(lu.make_disjoint_window, lu.get_rolling_token_windows(
                token_list=tok.encode(d["page"]), prefix_token=tok.bos_token_id, max_seq_len=4096, context_len=1)):
            reqs.append((c, x))
    out: dict[str, Any] = {"windows": len(reqs)}
    for attention in ("cudnn", "flash", "fa4", "cudnn", "flash", "fa4"):  # twice: the first pays per-shape setup
        cfg = EngineConfig(batch_tokens=32768, row_tokens=4096, attention=attention)
        _, wall = _timed(lambda: score_requests(model, reqs, max_length=4096, pad_id=0, engine=cfg))
        out.setdefault(f"{attention}_s", []).append(wall)
    for attention in ("cudnn", "fa4"):
        out[f"profile_{attention}"] = kernel_table(lambda: score_requests(
            model, reqs, max_length=4096, pad_id=0, engine=EngineConfig(batch_tokens=32768, row_tokens=4096,
                                                                         attention=attention)), top=10)
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
    from evalsuite.engine.decode import DecodeCache, prefill
    from evalsuite.engine.static_cache import capacity_for
    from evalsuite.engine.forward import LeanDecoder

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
                prof = kernel_table(lambda: graph._step(), top=6)  # one eager step: kernels per step
                out[variant] = {"setup_s": setup, "prefill_s": t_prefill, "ms_per_step": 1e3 * t / steps,
                                "captured": graph.graph is not None, "notes": cache.notes,
                                "kernels_per_step": prof["kernels"], "eager_step_profile": prof}
                cache.release()
        finally:
            undo()
    return out


def attention_128k() -> dict[str, Any]:
    """Causal attention kernels on the model's shapes (16 query / 8 KV heads, D=128, bf16): one 128K and one
    32K prompt, and a WikiText batch (8 rows of 4,096): seconds and TFLOP/s (useful causal FLOPs), and each
    kernel's error against an fp32 reference on the last 1,024 queries of the 128K prompt."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from evalsuite.engine import kernels
    from evalsuite.engine.forward import expand_kv

    out: dict[str, Any] = {"fa4_available": kernels.fa4_attention_ok(0)}
    impls: dict[str, Callable] = {
        "cudnn": lambda q, k, v: _sdpa(SDPBackend.CUDNN_ATTENTION, q, expand_kv(k, 2), expand_kv(v, 2)),
        "flash": lambda q, k, v: _sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, enable_gqa=True)}
    if out["fa4_available"]:
        fa4 = kernels.causal(2, 128 ** -0.5, backend="fa4")
        impls["fa4"] = lambda q, k, v: fa4(0, q, k, v)
    g = torch.Generator(device="cuda").manual_seed(0)
    for label, B, T in (("128k", 1, 131072), ("32k", 1, 32768), ("wikitext_8x4096", 8, 4096)):
        q = torch.randn(B, 16, T, 128, device="cuda", dtype=torch.bfloat16, generator=g)
        k, v = (torch.randn(B, 8, T, 128, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(2))
        flops = 4 * B * 16 * 128 * T * (T + 1) / 2
        res = {}
        for name, fn in impls.items():
            try:
                fn(q[:, :, :4096], k[:, :, :4096], v[:, :, :4096])
                res[name], t = _timed(lambda: fn(q, k, v))
                _, t2 = _timed(lambda: fn(q, k, v))
                t = min(t, t2)
                out[f"{label}_{name}_s"] = t
                out[f"{label}_{name}_tflops"] = flops / t / 1e12
            except Exception as exc:  # noqa: BLE001 - record and keep the other kernels
                out[f"{label}_{name}_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        if label == "128k":
            ql = q[:, :, -1024:].float()
            kf = expand_kv(k, 2).float()
            sc = (ql @ kf.transpose(-1, -2)) / 128 ** 0.5  # (1,16,1024,T) fp32; the last rows see every key
            sc[..., -1024:] += torch.triu(torch.full((1024, 1024), float("-inf"), device="cuda"), 1)
            ref = torch.softmax(sc, -1) @ expand_kv(v, 2).float()
            del sc, kf
            for name, o in res.items():
                out[f"{name}_rel_err_last1024"] = float((o[:, :, -1024:].float() - ref).norm() / ref.norm())
        del q, k, v, res
        torch.cuda.empty_cache()
    return out


def _sdpa(backend: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: Any) -> torch.Tensor:
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel([backend]):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, **kw)


def eager_overhead() -> dict[str, Any]:
    """Host-side cost of eager PyTorch (one tiny kernel launch; one launch + device sync) before FlashAttention-4
    is imported, after the import, and after its first kernel ran, with the process's threads at each point:
    run 3 saw eager decoding (stock lm-eval, ``exact``) 3-4x slower in a process that had used FlashAttention-4."""
    import os
    import sys
    import threading

    x = torch.zeros(16, device="cuda")

    def launches(n: int = 3000) -> None:
        for _ in range(n):
            x.add_(1)
        torch.cuda.synchronize()

    def syncs(n: int = 300) -> None:
        for _ in range(n):
            x.add_(1)
            torch.cuda.synchronize()

    out: dict[str, Any] = {"switch_interval_s": sys.getswitchinterval(), "cpus": len(os.sched_getaffinity(0))}

    def point(label: str) -> None:
        launches(300)
        _, t = _timed(launches)
        _, ts = _timed(syncs)
        out[label] = {"us_per_launch": t / 3000 * 1e6, "us_per_launch_and_sync": ts / 300 * 1e6,
                      "threads": sorted(th.name for th in threading.enumerate()),
                      "torch_threads": torch.get_num_threads(), "switch_interval_s": sys.getswitchinterval()}

    point("before_fa4")
    try:
        import flash_attn.cute  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        out["import_error"] = f"{type(exc).__name__}: {exc}"
        return out
    point("after_import")
    from evalsuite.engine import kernels

    out["fa4_ok"] = kernels.fa4_attention_ok(0)
    point("after_first_kernel")
    return out


def first_token_128k(tok, data: Path) -> dict[str, Any]:
    from evalsuite.lab.bench.config import h200
    from evalsuite.lab.bench.harness import build_model, ruler_prompt
    from evalsuite.engine.decode import prefill
    from evalsuite.engine.static_cache import StaticKV
    from evalsuite.engine.forward import LeanDecoder

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
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.profiles", description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--only", help="comma-separated probe names")
    a = p.parse_args(argv)
    from transformers import AutoTokenizer

    from evalsuite.lab.bench.config import h200
    from evalsuite.lab.bench.harness import build_model

    data, tok = Path(a.data), AutoTokenizer.from_pretrained(a.tokenizer)
    results: dict[str, Any] = {}
    path = Path(a.out) / "probe.json"
    model = build_model(h200(), "none")
    probes = {"eager_overhead": eager_overhead, "attention_128k": attention_128k, "decode": lambda: decode(model),
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
        path.write_text(strict_json.dumps(results, where=str(path), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
