"""Where a batched decode step's time goes: the engine's captured step beside its attention and its floors.

    python -m evalsuite.lab.bench.decode_sweep --out DIR [--tiny] [--deadline 95] [--shapes 22x4224@4096 ...]
        [--parts step,attention,variants] [--compile off,on,halves|both] [--repeats 20] [--warmup 3]

The batched RULER generator (:mod:`evalsuite.engine.batch_decode`) decodes R rows over one static cache with one
captured step; on an H100 those steps run 1.4-2.8x above the time their K/V reads need. Per shape
(``ROWSxCAPACITY@POSITION``: the engine's cache of R rows, every row at POSITION; ``:LIVE``: only the first LIVE
rows live, the others retired as the engine retires a row that is done, no steps timed) on the paper-shaped random
1.72B, in this order (the engine's default first, the costly compilations last):

* ``step_<attention>_<uncompiled|compiled|halves>``: the engine's own step, built as :class:`BatchDecodeCache`
  builds it (:class:`StaticKV` + :func:`build_step`) for each of :data:`DECODE_ATTENTION_CHOICES` (CUDA's default
  first), uncompiled (generation mode ``fast``, the RULER default), compiled (mode ``compiled``) or with only the
  layer's pure halves compiled (:data:`COMPILE_MODES`); the cache holds
  random K/V; every replay starts from the same state (token 0, every row at POSITION, the warm-up's writes
  undone), CUDA events around each, the median; the steps' logits at that state compared;
* ``attention``: the attention alone, every layer's call over its own layer's cache (what a step runs, no
  L2 reuse), captured as one CUDA graph: :func:`flex_decode_attention` with the engine's :class:`FlexDecodeMask`
  and :func:`attend_cache`'s ``split`` path, each with the K/V bytes it reads per second, and the two outputs
  compared (a sweep that timed the wrong call would not agree); ``breakdown``: each step minus its attention;
* ``variants``: FlexAttention's decoding kernel with other ``kernel_options`` (:func:`flex_variants`), each
  checked against the default kernel's output; the defaults the kernel picked beside them (``flex_defaults``);
* ``floors``: the K/V bytes a step needs (every row's ``POSITION + 1`` cached positions in every layer, from the
  model's dims) and the weight bytes it reads, each at the device-to-device copy bandwidth measured in this
  process (read + written bytes, the convention of :data:`evalsuite.engine.cost.PEAK_BYTES_PER_S`).

The record (``DIR/<name>.json``, :class:`~evalsuite.lab.bench.harness.Recorder`) is rewritten after every
measurement, so a killed process keeps what finished. ``--deadline`` (seconds since the process started, imports
and model construction included) stops starting parts whose last duration (or :data:`PRIOR_S`) no longer fits.
Compilation dominates: each shape costs FlexAttention's kernel (seconds), each compiled step a decoder layer
(~10-40 s, the first in a process the most), each kernel variant one more kernel; ``--parts`` and ``--shapes``
split a sweep over several calls. ``--tiny``: the tiny model on the CPU in fp32 (steps uncompiled unless
``--compile``, perf_counter timing, no kernel variants), for tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evalsuite.engine import kernels
from evalsuite.engine.batch_decode import CAPACITY_ALIGN, MEMORY_FRACTION, row_bytes
from evalsuite.engine.decode import GraphDecoder, build_step, compiled_decode_layer
from evalsuite.engine.forward import LeanDecoder
from evalsuite.engine.static_cache import (DECODE_ATTENTION_CHOICES, FLEX_BLOCK, FLEX_DECODE_OPTIONS, FlexDecodeMask,
                                          StaticKV, attend_cache, bmm_out_dtype_ok, flex_decode_attention,
                                          flex_decode_options, torch_split)
from evalsuite.lab.bench.flops import ModelShape
from evalsuite.lab.bench.harness import Recorder
from evalsuite.lab.bench.timing import GIB, captured, copy_bandwidth, process_age_s, replay_ms
from evalsuite.spec import EngineConfig

DEFAULT_SHAPES = ((22, 4224, 4096), (22, 8320, 8192), (22, 16512, 16384), (11, 32896, 32768), (6, 65664, 65536),
                  (3, 131200, 131072))  # (rows, capacity, position): the caches the engine picks for RULER 4K-128K
TINY_SHAPES = ((3, 256, 200), (2, 512, 400))
PARTS = ("step", "attention", "variants")
# How a step is built: "off" (build_step(compile=False): generation mode "fast", the RULER default), "on"
# (compile=True: mode "compiled"; since run 8 the layer's pure halves for several rows, the whole layer for one)
# and "halves" (the halves built directly, whatever the engine would try first: run 8's S2 timed "on" when it
# compiled the whole layer for every row count, 2.3-3.8x the uncompiled step). The record key's suffix for each.
COMPILE_MODES = {"off": "uncompiled", "on": "compiled", "halves": "halves"}
# A part's expected seconds before one has run (H100, cold caches: the first compiled step pays inductor's start).
PRIOR_S = {"step": 30.0, "step_eager": 5.0, "attention": 5.0, "variant": 5.0}
WARMUP_SLOTS = 4  # cache positions build_step's warm-up steps write (positions 0-1), restored before timing
AGREE_REL = 0.02  # a kernel variant "agrees" within 2 % of the output's largest value (bf16 rounds at 0.4 %)


@dataclass(frozen=True)
class DecodeShape:
    """One batched cache: ``rows`` rows of ``capacity`` positions, every row's query at ``position``; ``live``
    (``ROWSxCAPACITY@POSITION:LIVE``) of them live and the rest retired, as the engine retires a row that is done
    (flex attention reads one block of it; 0: every row live)."""

    rows: int
    capacity: int
    position: int
    live: int = 0

    @property
    def label(self) -> str:
        return f"{self.rows}x{self.capacity}@{self.position}" + (f":{self.live}" if self.live else "")

    @property
    def live_rows(self) -> int:
        return self.live or self.rows

    def ends(self, device: torch.device) -> torch.Tensor:
        """Each row's end position for :class:`FlexDecodeMask`: the capacity (never reached) for a live row, 0 for a
        retired one."""
        return torch.tensor([self.capacity] * self.live_rows + [0] * (self.rows - self.live_rows), device=device)

    @classmethod
    def parse(cls, text: str) -> DecodeShape:
        m = re.fullmatch(r"(\d+)x(\d+)@(\d+)(?::(\d+))?", text.strip())
        if m is None:
            raise argparse.ArgumentTypeError(f"shape {text!r}: write ROWSxCAPACITY@POSITION[:LIVE], e.g. 22x4224@4096")
        shape = cls(*(int(g) for g in m.groups() if g is not None))
        if shape.capacity % FLEX_BLOCK or shape.rows < 1 or shape.position >= shape.capacity:
            raise argparse.ArgumentTypeError(
                f"shape {text!r}: needs rows >= 1, a capacity of whole {FLEX_BLOCK}-position blocks (the engine "
                f"rounds to {CAPACITY_ALIGN}) and position < capacity")
        if m.group(4) is not None and not 1 <= shape.live <= shape.rows:
            raise argparse.ArgumentTypeError(f"shape {text!r}: LIVE must be 1 to ROWS")
        return shape


@dataclass(frozen=True)
class SweepConfig:
    """What one sweep measures, parsed once from the command line."""

    shapes: tuple[DecodeShape, ...]
    parts: tuple[str, ...]
    compile_modes: tuple[str, ...]  # of COMPILE_MODES, in this order
    warmup: int
    repeats: int
    deadline_s: float
    seed: int = 0


@dataclass
class Budget:
    """The wall-clock deadline: a part starts only when what the last one of its kind took (or :data:`PRIOR_S`)
    still fits before it."""

    deadline_s: float
    t0: float  # perf_counter() at the process's start
    last_s: dict[str, float] = field(default_factory=dict)
    cut: bool = False  # whether something was left out for the deadline

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def fits(self, kind: str) -> bool:
        return self.elapsed() + self.last_s.get(kind, PRIOR_S[kind]) <= self.deadline_s

    def skip(self) -> str:
        """The reason recorded for what is left out for the deadline."""
        self.cut = True
        return "deadline"

    def say(self, text: str) -> None:
        print(f"[decode_sweep {self.elapsed():6.1f}s] {text}", flush=True)


def flex_defaults(rows: int, kv_heads: int, capacity: int, head_dim: int, dtype: torch.dtype) -> dict[str, Any]:
    """What the decoding kernel uses without ``kernel_options``, from torch's private heuristics
    (``torch/_inductor/kernel/flex/flex_decoding.py``: ``get_split_k``; ``V.choices.get_flex_decode_configs``,
    whose last entry is the kernel when max-autotune is off), so the variants have something to be read against."""
    try:
        from torch._inductor.choices import InductorChoices
        from torch._inductor.kernel.flex.flex_decoding import get_split_k

        configs = InductorChoices().get_flex_decode_configs(head_dim, dtype, "cuda")
        return {"SPLIT_KV": int(get_split_k(rows, kv_heads, capacity)),
                "configs": [dataclasses.asdict(c) for c in configs]}
    except Exception as exc:  # noqa: BLE001 - private API of the installed torch: record what happened
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def flex_variants(rows: int, kv_heads: int, sms: int, capacity: int = 0) -> dict[str, dict[str, Any]]:
    """``kernel_options`` for FlexAttention's decoding template (names from ``flex_decoding.py`` and
    ``templates/flex_decode.py.jinja``), beside the engine's own (:data:`FLEX_DECODE_OPTIONS`). Torch's default
    grid is (1, rows * KV heads, SPLIT_KV) with SPLIT_KV = SMs // (rows * KV heads) * 2, at least 1
    (``get_split_k``): 22 rows x 8 heads get 176 programs of one split on 132 SMs, each walking a row's whole
    cache with BLOCK_N 64 and torch's warps and stages (2 and 1 on torch 2.11's sm_90; ``flex_defaults`` records
    them). ``torch_defaults`` (no options) is what the engine ran before run 8; ``wide`` is the engine's
    ``decode_split="wide"`` for a cache of ``capacity`` positions
    (:func:`~evalsuite.engine.static_cache.decode_split`; torch's split where it gives none); the others widen the
    split to ~4 programs per SM, or take more warps or a wider block."""
    wide = max(1, -(-4 * sms // (rows * kv_heads)))
    return {"torch_defaults": {},
            "wide": flex_decode_options("cuda", rows=rows, kv_heads=kv_heads, capacity=capacity, split="wide",
                                        sms=sms),
            "split_4_per_sm": {"SPLIT_KV": wide, **FLEX_DECODE_OPTIONS},
            # a one-row cache's split whatever the rows: is a lone live row among retired ones then as fast as alone?
            "split_of_one_row": {"SPLIT_KV": torch_split(1, kv_heads, sms), **FLEX_DECODE_OPTIONS},
            "split_4_per_sm_torch_warps": {"SPLIT_KV": wide},
            "warps8_stages3": {"num_warps": 8, "num_stages": 3},
            "block128_warps8_stages2": {"BLOCK_N": 128, "num_warps": 8, "num_stages": 2}}


@dataclass
class ShapeInputs:
    """One shape's cache (random K/V) and one layer's query; each row at the shape's position."""

    kv: StaticKV
    q: torch.Tensor  # (B, H, 1, D)
    mask: FlexDecodeMask  # the engine's block mask over those positions
    valid: torch.Tensor  # (B, T): keys <= position, split's mask
    head: list[torch.Tensor]  # the first WARMUP_SLOTS positions of every K and V buffer, as filled

    @classmethod
    def random(cls, lean: LeanDecoder, s: DecodeShape, seed: int) -> ShapeInputs:
        dev = lean.device
        gen = torch.Generator(device=dev).manual_seed(seed)
        kv = StaticKV(lean, s.capacity, s.rows)
        for t in kv.k + kv.v:
            t.normal_(generator=gen)
        q = torch.randn((s.rows, lean.n_heads, 1, lean.head_dim), generator=gen, device=dev, dtype=lean.dtype)
        position = torch.full((s.rows,), s.position, dtype=torch.long, device=dev)
        mask = FlexDecodeMask(position, s.capacity, s.ends(dev), kv_heads=lean.n_kv_heads)
        mask.update()
        valid = torch.arange(s.capacity, device=dev)[None, :] <= position[:, None]
        return cls(kv, q, mask, valid, [t[:, :, :WARMUP_SLOTS].clone() for t in kv.k + kv.v])

    def restore(self) -> None:
        """Undo the warm-up steps' writes: every step is then timed (and its logits compared) on the same cache."""
        for t, saved in zip(self.kv.k + self.kv.v, self.head, strict=True):
            t[:, :, :WARMUP_SLOTS].copy_(saved)


class Sweep:
    """The measurements of each shape on one model, written into the record as they finish."""

    def __init__(self, cfg: SweepConfig, lean: LeanDecoder, shape: ModelShape, rec: Recorder, budget: Budget,
                 bytes_per_s: float) -> None:
        self.cfg, self.lean, self.shape, self.rec, self.budget, self.bw = cfg, lean, shape, rec, budget, bytes_per_s
        self.device = lean.device
        on_cuda = self.device.type == "cuda"
        default = EngineConfig().resolved(on_cuda=on_cuda).decode_attention  # the engine's own first
        self.attentions = tuple(sorted(DECODE_ATTENTION_CHOICES, key=lambda a: a != default))
        self._outputs: dict[str, torch.Tensor] = {}  # per shape: layer 0's flex/split output, each step's logits

    def floors(self, s: DecodeShape) -> dict[str, Any]:
        """Bytes a step must read, and at the measured bandwidth, ms. The weights once per step (tied embeddings
        counted once: the head reads the matrix, the embedding one row per token); the K/V of ``position + 1``
        positions per row (the new token's own included, as :func:`evalsuite.lab.bench.flops.generation_cost`)."""
        per_position = self.shape.kv_bytes_per_position()
        kv = s.live_rows * (s.position + 1) * per_position  # a retired row's step is not wanted
        weights = self.shape.total_params * self.shape.bytes_per_param
        blocks = s.live_rows * (s.position // FLEX_BLOCK + 1) + s.rows - s.live_rows  # a retired row: one block
        return {"kv_bytes": kv, "weight_bytes": weights, "kv_bytes_per_position": per_position,
                "kv_bytes_read_flex": blocks * FLEX_BLOCK * per_position,  # whole blocks, masked inside
                "kv_bytes_read_split": s.rows * s.capacity * per_position,  # every position, masked
                "bytes_per_s": self.bw, "kv_ms": 1e3 * kv / self.bw, "weight_ms": 1e3 * weights / self.bw,
                "step_ms": 1e3 * (kv + weights) / self.bw}

    def _plan(self, live_only: bool = False) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
        """(record key, budget kind, measurement) in order: the engine's default step, the attention, the rest.
        ``live_only`` (a shape with retired rows): no steps, which start every row live."""
        steps = [(f"step_{a}_{COMPILE_MODES[c]}", "step" if c != "off" else "step_eager",
                  lambda inp, s, f, a=a, c=c: self.step(inp, s, f, a, c))
                 for c in self.cfg.compile_modes for a in self.attentions]
        plan = steps[:1] if "step" in self.cfg.parts and not live_only else []
        plan += [("attention", "attention", self.attention)] if "attention" in self.cfg.parts else []
        plan += steps[1:] if "step" in self.cfg.parts and not live_only else []
        return plan + ([("variants", "variant", self.variants)] if "variants" in self.cfg.parts else [])

    def run_shape(self, s: DecodeShape, entry: dict[str, Any]) -> dict[str, Any]:
        f = entry["floors"] = self.floors(s)
        reason = self._memory(s, entry)
        plan = self._plan(live_only=s.live_rows < s.rows)
        if reason is None and not any(self.budget.fits(kind) for _, kind, _ in plan):
            reason = self.budget.skip()
        if reason is not None:
            entry.update(status="skipped", reason=reason)
            self.budget.say(f"{s.label} skipped: {reason}")
            return entry
        inputs = ShapeInputs.random(self.lean, s, self.cfg.seed)
        entry["memory"]["kv_cache_bytes"] = inputs.kv.nbytes
        try:
            for key, kind, measure in plan:
                if not self.budget.fits(kind):
                    entry["skipped"][key] = self.budget.skip()
                    continue
                t0 = time.perf_counter()
                try:
                    entry[key] = measure(inputs, s, f)
                except Exception as exc:  # noqa: BLE001 - recorded; the shape's other parts still run
                    entry["errors"][key] = f"{type(exc).__name__}: {str(exc)[:500]}"
                    self.budget.say(f"{s.label} {key} FAILED: {entry['errors'][key][:200]}")
                if kind != "variant":  # variants keep their own per-variant durations
                    self.budget.last_s[kind] = time.perf_counter() - t0
                self.rec.flush()
            self._compare(s, entry)
        finally:
            if self.device.type == "cuda":
                entry["memory"]["peak_gib"] = torch.cuda.max_memory_allocated(self.device) / GIB
                self.budget.say(f"{s.label} peak {entry['memory']['peak_gib']:.1f} GiB allocated "
                                f"(K/V cache {inputs.kv.nbytes / GIB:.1f} GiB)")
            del inputs
            self._outputs.clear()
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        entry["status"] = "partial" if entry["skipped"] or entry["errors"] else "done"
        return entry

    def _memory(self, s: DecodeShape, entry: dict[str, Any]) -> str | None:
        """Why the shape cannot fit (None: it can), judged as the engine sizes its rows (:func:`row_bytes`,
        :data:`MEMORY_FRACTION` of the free memory); the figures go into ``entry``."""
        need = s.rows * row_bytes(self.lean, s.capacity)
        entry["memory"] = {"need_bytes": need}
        if self.device.type != "cuda":
            return None
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)
        free = torch.cuda.mem_get_info(self.device)[0]
        entry["memory"]["free_bytes"] = free
        if need > MEMORY_FRACTION * free:
            return (f"needs {need / GIB:.1f} GiB (K/V and step buffers); {MEMORY_FRACTION:.0%} of the "
                    f"{free / GIB:.1f} GiB free is less")
        return None

    def step(self, inputs: ShapeInputs, s: DecodeShape, f: dict[str, Any], attention: str,
             mode: str) -> dict[str, Any]:
        """The engine's step over ``inputs.kv`` (as :meth:`BatchDecodeCache.get` builds it after allocating the
        cache), built as ``mode`` says (:data:`COMPILE_MODES`), every replay from token 0 at ``s.position`` in every
        row."""
        notes: list[str] = []
        t0 = time.perf_counter()
        if mode == "halves":
            graph = self._halves_step(inputs.kv, attention)
        else:
            graph = build_step(self.lean, inputs.kv, compile=mode == "on", decode_attention=attention, notes=notes)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        build_s = time.perf_counter() - t0  # compilation and capture
        inputs.restore()
        ms = replay_ms(graph.advance, device=self.device, warmup=self.cfg.warmup, repeats=self.cfg.repeats,
                       reset=lambda: graph.start(0, s.position))
        self._outputs[f"logits_{attention}_{mode}"] = graph.logits.clone()  # the state every replay ran from
        out = _stats(ms) | {"engine": graph.engine, "attention_ran": "flex" if graph.flex is not None else "split",
                            "captured": graph.graph is not None, "notes": notes, "build_s": build_s,
                            "floor_ms": f["step_ms"], "x_floor": statistics.median(ms) / f["step_ms"]}
        self.budget.say(f"{s.label} step {attention:5s} {COMPILE_MODES[mode]:10s} {out['ms']:8.3f} ms"
                        f"  floor {f['step_ms']:.3f} (K/V {f['kv_ms']:.3f} + weights {f['weight_ms']:.3f})"
                        f"  x{out['x_floor']:.2f}  build {build_s:.1f}s  [{graph.engine}]")
        return out

    def _halves_step(self, kv: StaticKV, attention: str) -> GraphDecoder:
        """The step with the decoder layer's pure halves compiled and its cache write and attention eager, built
        directly (a probe of :meth:`GraphDecoder.compile_step`'s private seam), whatever the engine tries first
        for the shape's row count."""
        graph = GraphDecoder(self.lean, kv, compile=False, decode_attention=attention)
        graph._layer_fn = compiled_decode_layer(split=True)
        for _ in range(2):  # compilation, then a compiled run (cache slots 0-1: restored before timing)
            graph.advance()
        graph.position.zero_()
        graph.step_engine = "torch.compile'd step (attention eager)"
        if self.device.type == "cuda":
            graph.capture()
        return graph

    def _layer_calls(self, inputs: ShapeInputs, attention: str,
                     kernel_options: dict[str, Any] | None = None) -> Callable[[], list[torch.Tensor]]:
        """Every layer's attention call of a step, each over its own layer's cache: (B, H, 1, D) each."""
        lean, kv, q = self.lean, inputs.kv, inputs.q
        if attention == "split":
            f32 = bmm_out_dtype_ok(self.device.type)
            return lambda: [attend_cache(q, kv.k[i], kv.v[i], inputs.valid, lean.scaling, f32)
                            for i in range(lean.n_layers)]
        return lambda: [flex_decode_attention(q, kv.k[i], kv.v[i], inputs.mask, lean.scaling,
                                              kernel_options=kernel_options) for i in range(lean.n_layers)]

    def _time_calls(self, calls: Callable[[], list[torch.Tensor]], read_bytes: int,
                    f: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
        """Timing of a step's attention calls (captured), and layer 0's output from a first, eager call."""
        t0 = time.perf_counter()
        first = calls()[0]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        setup_s = time.perf_counter() - t0
        run = captured(calls, self.device)
        ms = replay_ms(run, device=self.device, warmup=self.cfg.warmup, repeats=self.cfg.repeats)
        med = statistics.median(ms)
        return _stats(ms) | {"setup_s": setup_s, "per_layer_ms": med / self.lean.n_layers, "kv_bytes_read": read_bytes,
                             "gb_per_s": read_bytes / med / 1e6, "x_kv_floor": med / f["kv_ms"]}, first

    def attention(self, inputs: ShapeInputs, s: DecodeShape, f: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.attentions:
            out[name], self._outputs[name] = self._time_calls(self._layer_calls(inputs, name),
                                                              f[f"kv_bytes_read_{name}"], f)
            self.budget.say(f"{s.label} attn {name:5s} {out[name]['ms']:8.3f} ms/step"
                            f" ({out[name]['per_layer_ms']:.4f}/layer)  {out[name]['gb_per_s']:7.1f} GB/s of"
                            f" {f[f'kv_bytes_read_{name}'] / 1e6:.1f} MB  x{out[name]['x_kv_floor']:.2f} of K/V floor")
        live = s.live_rows  # a retired row's flex output attends one block, split's its whole prefix
        flex, split = self._outputs["flex"][:live].float(), self._outputs["split"][:live].float()
        out["flex_vs_split"] = {"max_abs_diff": float((flex - split).abs().max()),
                                "output_max_abs": float(split.abs().max())}
        return out

    def variants(self, inputs: ShapeInputs, s: DecodeShape, f: dict[str, Any]) -> dict[str, Any]:
        if self.device.type != "cuda":
            return {"skipped": "no GPU: FlexAttention runs its unfused reference here, no decoding kernel to tune"}
        lean, props = self.lean, torch.cuda.get_device_properties(self.device)
        out: dict[str, Any] = {"defaults": flex_defaults(s.rows, lean.n_kv_heads, s.capacity, lean.head_dim,
                                                         lean.dtype), "engine": inputs.mask.kernel_options}
        # The engine's output now, not the attention part's: the steps timed since then wrote each row's new K/V
        # at the query's position, each step's own rounding of it (run 8's second sweep compared against the
        # earlier output and read those writes as the options' differences: 2.4e-4 for bit-identical kernels).
        ref = self._layer_calls(inputs, "flex")()[0]
        for name, options in flex_variants(s.rows, lean.n_kv_heads, props.multi_processor_count, s.capacity).items():
            if not self.budget.fits("variant"):
                out[name] = {"kernel_options": options, "skipped": self.budget.skip()}
                continue
            t0 = time.perf_counter()
            try:
                timing, first = self._time_calls(self._layer_calls(inputs, "flex", options), f["kv_bytes_read_flex"], f)
                diff = float((first.float() - ref.float()).abs().max())
                scale = float(ref.float().abs().max())
                out[name] = {"kernel_options": options, **timing, "max_abs_diff_vs_default": diff,
                             "agrees": diff <= AGREE_REL * scale}
                self.budget.say(f"{s.label} flex[{name}] {timing['ms']:8.3f} ms/step  {timing['gb_per_s']:7.1f} GB/s"
                                f"  diff {diff:.1e}  {options}")
            except Exception as exc:  # noqa: BLE001 - an option the kernel refuses: its error is the result
                out[name] = {"kernel_options": options, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
                self.budget.say(f"{s.label} flex[{name}] FAILED: {out[name]['error'][:160]}")
            self.budget.last_s["variant"] = time.perf_counter() - t0
            self.rec.flush()
        return out

    def _compare(self, s: DecodeShape, entry: dict[str, Any]) -> None:
        """Each step against its own attention (the rest of the step: projections, MLP, head), and the steps'
        logits against each other (the same state: they must agree up to rounding). ``same_code``: whether the
        attention timed alone is the code the step runs (the compiled step inlines split into its own kernels,
        and on the CPU flex alone is torch's unfused reference, which the compiled step replaces)."""
        breakdown = {}
        for key, value in entry.items():
            name = key.split("_")[1] if key.startswith("step_") else None
            if name and "ms" in value and "ms" in entry.get("attention", {}).get(name, {}):
                attn, compiled = entry["attention"][name]["ms"], key.endswith("_compiled")
                same = not compiled or (name == "flex" and self.device.type == "cuda")
                breakdown[key] = {"step_ms": value["ms"], "attention_ms": attn, "rest_ms": value["ms"] - attn,
                                  "attention_share": attn / value["ms"], "same_code": same}
                self.budget.say(f"{s.label} {key}: attention {attn:.3f} of {value['ms']:.3f} ms, the rest "
                                f"{value['ms'] - attn:.3f} ms (weights floor {entry['floors']['weight_ms']:.3f})"
                                + ("" if same else "  [attention timed in other code]"))
        entry["breakdown"] = breakdown
        logits = [v.float() for k, v in self._outputs.items() if k.startswith("logits_")]
        if len(logits) > 1:
            entry["logits_max_abs_diff_between_steps"] = max(float((v - logits[0]).abs().max()) for v in logits[1:])


def _stats(ms: Sequence[float]) -> dict[str, Any]:
    return {"ms": statistics.median(ms), "ms_min": min(ms), "ms_max": max(ms), "replays": len(ms),
            "ms_all": [round(x, 4) for x in ms]}


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, SweepConfig]:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.decode_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (fp32), small shapes: a test")
    p.add_argument("--deadline", type=float, default=95.0, help="seconds since the process started")
    p.add_argument("--shapes", nargs="+", type=DecodeShape.parse,
                   help="ROWSxCAPACITY@POSITION[:LIVE] ... (LIVE: rows not retired; the rest read one block)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--compile", help="comma-separated step builds of off (compile=False: the RULER generator's "
                                     "default mode 'fast'), on (compile=True) and halves (the layer's pure halves "
                                     "compiled, attention eager); 'both' = off,on (the default on a GPU; off with "
                                     "--tiny)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--name", default="decode_sweep")
    a = p.parse_args(argv)
    parts = tuple(x for x in a.parts.split(",") if x)
    if not parts or set(parts) - set(PARTS):
        p.error(f"--parts {a.parts!r}: choose from {', '.join(PARTS)}")
    if a.repeats < 1 or a.warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    if not a.tiny and not torch.cuda.is_available():
        p.error("no CUDA device here: the sweep measures the GPU's decode step (--tiny runs the CPU smoke test)")
    compile_mode = a.compile or ("off" if a.tiny else "both")
    modes = tuple(x for x in ("off,on" if compile_mode == "both" else compile_mode).split(",") if x)
    if not modes or set(modes) - set(COMPILE_MODES):
        p.error(f"--compile {compile_mode!r}: comma-separated of {', '.join(COMPILE_MODES)}, or both")
    shapes = tuple(a.shapes or (DecodeShape(*x) for x in (TINY_SHAPES if a.tiny else DEFAULT_SHAPES)))
    return a, SweepConfig(shapes=shapes, parts=parts, warmup=a.warmup, repeats=a.repeats, deadline_s=a.deadline,
                          compile_modes=modes)


def main(argv: Sequence[str] | None = None) -> int:
    from evalsuite.lab.bench.cli import environment
    from evalsuite.lab.bench.config import h200, tiny
    from evalsuite.lab.bench.harness import build_model
    from evalsuite.run.provenance import git_commit

    budget = Budget(0.0, time.perf_counter() - process_age_s())
    args, cfg = parse_args(argv)
    budget.deadline_s = cfg.deadline_s
    header = {"schema_version": 1, "command": "python -m evalsuite.lab.bench.decode_sweep " + " ".join(argv or []),
              "git_commit": git_commit() or "unknown", "environment": environment(),
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "status": "running",
              "config": dataclasses.asdict(cfg) | {"recompile_limit": kernels.allow_recompiles()}}
    rec = Recorder(args.out / f"{args.name}.json", header, None)
    rec.t0 = budget.t0  # elapsed_s from the process's start, as the deadline
    t0 = time.perf_counter()
    model = build_model(tiny() if args.tiny else h200(), "none")  # random, built on the device in its dtype
    lean = LeanDecoder.wrap(model)
    assert lean is not None, "the paper-shaped model is one the lean decoder runs"
    shape = ModelShape.of(model)
    rec.data["model"] = shape.to_dict() | {"dtype": str(lean.dtype), "device": str(lean.device),
                                           "build_s": time.perf_counter() - t0}
    with torch.inference_mode():  # as the engine decodes
        bw = rec.data["bandwidth"] = copy_bandwidth(lean.device, int(GIB) if lean.device.type == "cuda" else 2 ** 26)
        budget.say(f"model built in {rec.data['model']['build_s']:.1f}s; copy bandwidth "
                   f"{bw['bytes_per_s'] / 1e12:.3f} TB/s (read + write)")
        sweep = Sweep(cfg, lean, shape, rec, budget, bw["bytes_per_s"])
        for s in cfg.shapes:
            entry = rec.data["workloads"][s.label] = {"rows": s.rows, "capacity": s.capacity, "position": s.position,
                                                      "live_rows": s.live_rows, "status": "running", "skipped": {},
                                                      "errors": {}}
            rec.step(s.label, lambda s=s, entry=entry: sweep.run_shape(s, entry))
            if entry["status"] == "running":  # run_shape raised: the error is in rec.data["errors"]
                entry["status"] = "error"
    rec.data["status"] = "deadline" if budget.cut else "finished"
    rec.data["finished"] = True
    rec.flush()
    return 0 if not rec.data["errors"] else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
