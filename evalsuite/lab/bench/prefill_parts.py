"""Where a long prefill's time goes: the engine's own prefill, timed part by part inside one forward.

    python -m evalsuite.lab.bench.prefill_parts --out DIR [--tiny] [--lengths 131072,65536,4096] [--gates none]

Why: the protocol's time is mostly prefills (84 % of its limit is the 64K/128K units), and runs 11-13 put a
128K row's prefill at 3.59 s against the limit's 2.96 s (790 TFLOP/s). The attention kernel alone runs at
about 700 TFLOP/s there (run 3: FlashAttention-4, 2.81 s for 28 layers), so about half of that 0.63 s excess
is outside attention, in work that is 16 % of the FLOPs: the projections, the MLP, the norms, RoPE, the cache
writes. This probe says how much each of those takes in the engine's real prefill (not a model of it), so the
next lever is chosen from a measurement:

* ``whole``: :func:`~evalsuite.engine.decode.prefill` of a random prompt into a one-row
  :class:`~evalsuite.engine.static_cache.StaticKV`, as the batched decoder runs it (``fast``, the device's
  causal kernel, the layers' pure halves compiled on CUDA), best of ``--repeats`` after a warm-up;
* ``spans``: the same forward once more with a timestamp (a CUDA event on the stream, the host clock on CPU)
  around each layer's two halves and its attention kernel, summed by what ran between two timestamps:
  ``pre`` (input norm, Q/K/V projections, q/k norms, RoPE), ``cache_write`` (the K/V copied into the cache),
  ``attention`` (the causal kernel and its layout copies), ``post`` (output gate, ``o_proj``, residual, norm,
  MLP), ``embed`` (before the first layer) and ``tail`` (final norm and LM head);
* ``gemms``: each projection of layer 0 alone at the prompt's length with the model's own weight (``F.linear``,
  best of ``--repeats``), times the layers, with its TFLOP/s; and the fused forms a change could adopt
  (Q/K/V as one product, the MLP's gate and up as one), whose outputs are the same columns;
* ``pre_other`` / ``post_other``: a half's span less its products' standalone time: its elementwise work;
* ``profile`` (``--profile``): the kernels of one more forward by device time (torch.profiler), to name that work;
* ``attention_alone``: layer 0's causal kernel on the q, k, v that layer computed (``own_s``) and on standard
  normal ones of the same shape and layout (``normal_s``), each times the layers, with the inputs' RMS and
  largest magnitude: the attention FLOPs are the same for every gate, so a gated model whose attention span is
  longer than the baseline's either hands the kernel other values (the two differ) or another layout (both do).

Each length's record has the cost model's limit (:class:`~evalsuite.engine.cost.CostModel` at its rates), split
into the products' and attention's shares. ``--tiny`` runs the same code on CPU with the 2-layer model (tests).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from evalsuite import strict_json
from evalsuite.engine import forward, kernels
from evalsuite.engine.cost import PEAK_BF16_FLOPS, CostModel
from evalsuite.lab.bench.profiles import kernel_table
from evalsuite.lab.bench.timing import replay_ms

GEMMS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FUSED = {"qkv": ("q_proj", "k_proj", "v_proj"), "gate_up": ("gate_proj", "up_proj")}
SPANS = ("embed", "pre", "cache_write", "attention", "post", "tail")


class Marks:
    """Timestamps in stream order: CUDA events on the current stream (no sync while recording), the host's clock
    where the device computes synchronously. :meth:`intervals` gives the time between consecutive timestamps by the
    label of the later one (what ran up to it), :meth:`spans` sums them by label."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str, Any]] = []

    def mark(self, label: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((label, event))
        else:
            self.marks.append((label, time.perf_counter()))

    def intervals(self) -> list[tuple[str, float]]:
        """(the later timestamp's label, seconds) for each pair of consecutive timestamps, in order."""
        if self.cuda:
            torch.cuda.synchronize()
        return [(label, a.elapsed_time(b) / 1e3 if self.cuda else b - a)
                for (_, a), (label, b) in zip(self.marks, self.marks[1:])]

    @staticmethod
    def spans(intervals: list[tuple[str, float]]) -> dict[str, float]:
        """:meth:`intervals`' seconds summed by label."""
        out: dict[str, float] = {}
        for label, s in intervals:
            out[label] = out.get(label, 0.0) + s
        return out


@contextlib.contextmanager
def marked(marks: Marks, *, compiled: bool, capture: dict[str, Any] | None = None) -> Iterator[None]:
    """The engine's layer halves (``compiled``: their compiled forms) and its causal kernel, each between two
    timestamps, for the duration. The product looks these up at call time (``forward.compiled_halves``,
    ``LeanDecoder``'s methods, ``kernels.causal``), so its prefill runs unchanged with them wrapped. ``capture``:
    the first attention call's kernel and arguments go to ``capture["attention"]`` (``(attend, (i, q, k, v))``)."""
    from evalsuite.engine.forward import LeanDecoder

    halves, causal = forward.compiled_halves, kernels.causal
    pre, post = LeanDecoder.pre_attention, LeanDecoder.post_attention

    def timed(fn: Callable[..., Any], before: str, label: str) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            marks.mark(before)
            out = fn(*args, **kwargs)
            marks.mark(label)
            return out
        return run

    def marked_halves() -> tuple[Callable, Callable]:
        compiled_pre, compiled_post = halves()
        return timed(compiled_pre, "gap", "pre"), timed(compiled_post, "gap", "post")

    def marked_causal(*args: Any, **kwargs: Any) -> kernels.Attend:
        attend = causal(*args, **kwargs)
        if capture is None:
            return timed(attend, "cache_write", "attention")

        def kept(*call: Any) -> Any:
            capture.setdefault("attention", (attend, call))
            return attend(*call)
        return timed(kept, "cache_write", "attention")

    kernels.causal = marked_causal
    if compiled:
        forward.compiled_halves = marked_halves
    else:
        LeanDecoder.pre_attention, LeanDecoder.post_attention = timed(pre, "gap", "pre"), timed(post, "gap", "post")
    try:
        yield
    finally:
        forward.compiled_halves, kernels.causal = halves, causal
        LeanDecoder.pre_attention, LeanDecoder.post_attention = pre, post


def _best(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """The shortest of ``repeats`` runs of ``fn``, in seconds (:func:`~evalsuite.lab.bench.timing.replay_ms`)."""
    return min(replay_ms(fn, device=device, warmup=0, repeats=max(1, repeats))) / 1e3


def attention_alone(attend: kernels.Attend, call: tuple[Any, ...], n_layers: int, repeats: int) -> dict[str, Any]:
    """Layer 0's causal kernel (``attend(*call)``, ``call`` = (layer, q, k, v) as the prefill passed them) timed
    on those inputs and on standard normal ones with the same shapes and strides, each times ``n_layers``."""
    i, *qkv = call
    dev = qkv[0].device
    gen = torch.Generator(device=dev).manual_seed(0)
    normal = [torch.empty_strided(t.shape, t.stride(), device=dev, dtype=t.dtype).normal_(generator=gen) for t in qkv]
    own = _best(lambda: attend(i, *qkv), repeats, dev) * n_layers
    rand = _best(lambda: attend(i, *normal), repeats, dev) * n_layers
    stats = {name: {"rms": float(t.float().pow(2).mean().sqrt()), "max_abs": float(t.abs().max())}
             for name, t in zip("qkv", qkv)}
    return {"own_s": own, "normal_s": rand, "own_over_normal": own / rand if rand else None,
            "strides": {name: list(t.stride()) for name, t in zip("qkv", qkv)}, "inputs": stats}


def gemm_times(model: torch.nn.Module, tokens: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Each projection of layer 0 (and the fused forms) on ``tokens`` rows with the model's own weights: seconds
    for every layer, TFLOP/s, and the shape (out, in). A fused form also says whether its output equals its parts'
    outputs side by side, bit for bit (``identical``; else ``max_abs_diff``): the library may pick another kernel
    for the wider product, and whether that moves the last bits decides whether the engine could adopt it."""
    layer = model.model.layers[0]
    weights = {name: getattr(layer.self_attn if name in FUSED["qkv"] + ("o_proj",) else layer.mlp, name).weight
               for name in GEMMS}
    weights |= {fused: torch.cat([weights[n] for n in parts]) for fused, parts in FUSED.items()}
    n_layers = len(model.model.layers)
    ref = next(iter(weights.values()))
    gen = torch.Generator(device=ref.device).manual_seed(0)
    out = {}
    for name, w in weights.items():
        x = torch.randn(tokens, w.shape[1], device=ref.device, dtype=ref.dtype, generator=gen)
        y = F.linear(x, w)  # also the warm-up: the library's choice of kernel for this shape
        s = _best(lambda: F.linear(x, w), repeats, ref.device) * n_layers
        flops = 2.0 * tokens * w.shape[0] * w.shape[1] * n_layers
        out[name] = {"shape": list(w.shape), "s": s, "tflops": flops / s / 1e12 if s else None, "flops": flops}
        if name in FUSED:
            apart = torch.cat([F.linear(x, weights[n]) for n in FUSED[name]], dim=-1)
            out[name] |= {"identical": bool(torch.equal(y, apart)),
                          "max_abs_diff": float((y.float() - apart.float()).abs().max())}
            del apart
        del x, y
    return out


def length_parts(model: torch.nn.Module, tokens: int, *, repeats: int, compiled: bool,
                 profile: bool = False) -> dict[str, Any]:
    """One length's record (the module docstring's parts)."""
    from evalsuite.engine.decode import prefill
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.static_cache import StaticKV

    lean = LeanDecoder.wrap(model)
    if lean is None:
        raise ValueError(f"{type(model).__name__} does not run on the lean forward")
    dev = lean.device
    cost = CostModel.from_model(model)
    linear_limit = cost.prefill_s_per_token * tokens  # the products at the cost model's rate
    attention_limit = cost.attention_s_per_token_sq * tokens * tokens
    notes: list[str] = []
    prompt = torch.randint(0, int(model.config.vocab_size), (1, tokens), device=dev,
                           generator=torch.Generator(device=dev).manual_seed(0))
    with torch.inference_mode():
        kv = StaticKV(lean, tokens + 128)
        run = lambda: prefill(lean, kv, prompt, fast=True, attention="auto", compiled=compiled,  # noqa: E731
                              notes=notes)
        t0 = time.perf_counter()
        run()  # compiles the halves for these shapes (dynamic: once a process) and tunes the kernels
        warm = time.perf_counter() - t0
        whole = _best(run, repeats, dev)
        marks, capture = Marks(dev), {}
        with marked(marks, compiled=compiled, capture=capture):
            marks.mark("start")
            run()
            marks.mark("tail")
        intervals = marks.intervals()
        alone = attention_alone(*capture.pop("attention"), len(model.model.layers), repeats)
        kernels_by_time = kernel_table(run, top=20) if profile else None
        del kv
        gemms = gemm_times(model, tokens, repeats)
    # The first "gap" (the start to the first layer's first half) is the embedding and the RoPE table; the later
    # ones, up to a half's start, are what ran between the engine's calls (nothing, or launch gaps).
    raw, first_gap = Marks.spans(intervals), intervals[0][1]
    spans = {name: raw.get(name, 0.0) for name in SPANS} | {"embed": first_gap,
                                                             "between": raw.get("gap", 0.0) - first_gap}
    marked_total = sum(spans.values())
    pre_gemm = sum(gemms[n]["s"] for n in FUSED["qkv"])
    post_gemm = sum(gemms[n]["s"] for n in ("o_proj", "gate_proj", "up_proj", "down_proj"))
    return {"tokens": tokens, "layers": len(model.model.layers), "compiled_halves": compiled,
            "attention_kernel": kernels.causal_backend(dev, "auto"), "notes": notes,
            "limit_s": linear_limit + attention_limit, "linear_limit_s": linear_limit,
            "attention_limit_s": attention_limit, "warm_up_s": warm, "whole_s": whole,
            "x_limit": whole / (linear_limit + attention_limit), "marked_s": marked_total, "spans": spans,
            "timestamps": len(marks.marks), "gemms": gemms, "attention_alone": alone, "profile": kernels_by_time,
            "pre_other_s": spans["pre"] - pre_gemm, "post_other_s": spans["post"] - post_gemm,
            "gemm_s": pre_gemm + post_gemm,
            "gemm_tflops": sum(gemms[n]["flops"] for n in GEMMS) / (pre_gemm + post_gemm) / 1e12,
            "attention_tflops": (attention_limit * PEAK_BF16_FLOPS / spans["attention"] / 1e12
                                 if spans["attention"] else None)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.prefill_parts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--tiny", action="store_true", help="the 2-layer model on CPU in fp32 (tests)")
    p.add_argument("--lengths", default="131072,65536,4096", help="prompt tokens, comma-separated")
    p.add_argument("--gates", default="none", help="none, headwise, elementwise; comma-separated")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--deadline", type=float, default=None, help="seconds: start no length after this")
    p.add_argument("--profile", action="store_true", help="also the kernels of one forward by device time")
    a = p.parse_args(argv)
    from evalsuite.lab.bench.config import h200, tiny
    from evalsuite.lab.bench.harness import build_model

    t0 = time.perf_counter()
    cfg = tiny() if a.tiny else h200()
    lengths = [int(x) for x in a.lengths.split(",") if x]
    compiled = torch.device(cfg.device).type == "cuda"  # the engine's default: compiled halves on CUDA only
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "prefill_parts.json"
    record: dict[str, Any] = {"preset": cfg.name, "lengths": lengths, "repeats": a.repeats, "parts": {},
                              "device": torch.cuda.get_device_name(0) if cfg.device == "cuda" else "cpu"}
    for gate in a.gates.split(","):
        longest = max(lengths)
        factor = 1.0
        while cfg.original_max_position * factor < longest:  # YaRN as the protocol stretches it (x4 at 128K)
            factor *= 2
        model = build_model(cfg, gate, yarn_factor=factor)
        for tokens in lengths:
            if a.deadline is not None and time.perf_counter() - t0 > a.deadline:
                record["parts"][f"{gate}/{tokens}"] = {"skipped": "past the deadline"}
                continue
            try:
                rec = length_parts(model, tokens, repeats=a.repeats, compiled=compiled, profile=a.profile)
            except Exception as exc:  # noqa: BLE001 - record it and measure the other lengths
                rec = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
            record["parts"][f"{gate}/{tokens}"] = rec
            path.write_text(strict_json.dumps(record, where=str(path), indent=1))
            if "whole_s" in rec:
                s = rec["spans"]
                print(f"[parts] {gate} {tokens}: whole {rec['whole_s']:.3f} s = {rec['x_limit']:.2f}x limit "
                      f"{rec['limit_s']:.3f} s; attention {s['attention']:.3f} pre {s['pre']:.3f} post {s['post']:.3f}"
                      f" cache {s['cache_write']:.3f}; products {rec['gemm_s']:.3f} s at "
                      f"{rec['gemm_tflops']:.0f} TFLOP/s; layer 0's attention on its own q/k/v "
                      f"{rec['attention_alone']['own_over_normal']:.3f}x normal ones", flush=True)
        del model
        if cfg.device == "cuda":
            torch.cuda.empty_cache()
    record["elapsed_s"] = time.perf_counter() - t0
    path.write_text(strict_json.dumps(record, where=str(path), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
