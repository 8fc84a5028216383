"""Timing helpers: device-synchronised wall clocks, peak memory, phase probes on stock lm-eval, and the
microbenchmarks' CUDA-event timings of captured graphs against the copy bandwidth (:func:`replay_ms`,
:func:`captured`, :func:`copy_bandwidth`).

The probes wrap methods of one stock ``HFLM`` *instance* (instance attributes
shadow the class's methods) and only add up the seconds spent inside them, so
stock's behaviour is unchanged: ``loglikelihood`` (tokenisation + scoring),
``_loglikelihood_tokens`` (scoring, batch-size probing included),
``_detect_batch_size`` (probing), ``generate_until`` and ``_model_generate``
(whose output tensor is kept so greedy tokens can be compared).
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from evalsuite.engine.cost import PEAK_BYTES_PER_S

GIB = 2.0 ** 30


def sync(device: torch.device | None = None) -> None:
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.synchronize()


@dataclass
class Measured:
    seconds: float = 0.0
    peak_gib: float | None = None


@contextlib.contextmanager
def measure(device: torch.device) -> Iterator[Measured]:
    """Wall seconds (device synchronised at both ends) and peak allocated GiB of the block."""
    out = Measured()
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        sync(device)
        out.seconds = time.perf_counter() - t0
        if on_cuda:
            out.peak_gib = torch.cuda.max_memory_allocated(device) / GIB


@dataclass
class StockProbe:
    """Seconds spent in stock HFLM's phases, and what ``_model_generate`` returned."""

    seconds: dict[str, float] = field(default_factory=dict)
    generated: list[list[int]] = field(default_factory=list)
    batch_sizes: list[Any] = field(default_factory=list)

    def attach(self, lm: Any) -> "StockProbe":
        for name in ("loglikelihood", "_loglikelihood_tokens", "_detect_batch_size", "loglikelihood_rolling",
                     "generate_until"):
            setattr(lm, name, self._timed(name, getattr(lm, name)))
        inner = lm._model_generate

        @functools.wraps(inner)
        def model_generate(context, max_length, stop, **kw):
            t0 = time.perf_counter()
            out = inner(context, max_length, stop, **kw)
            self.seconds["_model_generate"] = self.seconds.get("_model_generate", 0.0) + time.perf_counter() - t0
            self.generated += [row[context.shape[1]:].tolist() for row in out]
            return out

        lm._model_generate = model_generate
        return self

    def _timed(self, name: str, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            if name == "_detect_batch_size":
                self.batch_sizes.append(out)
            return out

        return run

    def phases(self, total: float) -> dict[str, float]:
        """Wall-time split: lm-eval outside the LM, tokenisation, probing, forward passes, generation."""
        s = self.seconds
        in_lm = s.get("loglikelihood", 0.0) + s.get("loglikelihood_rolling", 0.0) + s.get("generate_until", 0.0)
        scoring = s.get("_loglikelihood_tokens", 0.0)
        probe = s.get("_detect_batch_size", 0.0)
        out = {"lm_eval_outside_lm_s": total - in_lm, "probe_batch_size_s": probe}
        if s.get("loglikelihood"):  # probing runs inside _loglikelihood_tokens
            out["tokenize_s"] = s["loglikelihood"] - scoring
            out["score_s"] = scoring - probe
        if s.get("loglikelihood_rolling"):  # probing runs before the windows are scored
            out["tokenize_s"] = s["loglikelihood_rolling"] - scoring - probe
            out["score_s"] = scoring
        if s.get("generate_until"):
            out["generate_s"] = s["generate_until"]
        return out


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc; 0 elsewhere): the deadline counts the imports too."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return max(0.0, float(Path("/proc/uptime").read_text().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def replay_ms(run: Callable[[], Any], *, device: torch.device, warmup: int, repeats: int,
              reset: Callable[[], Any] | None = None) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``run`` after ``warmup`` untimed ones, ``reset`` before each
    outside the timing: CUDA events around each call on a GPU (device time; the host queues ahead), perf_counter
    on the CPU."""
    cuda, out, events = device.type == "cuda", [], []
    for _ in range(warmup + repeats):
        if reset is not None:
            reset()
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            run()
            b.record()
            events.append((a, b))
        else:
            t0 = time.perf_counter()
            run()
            out.append(1e3 * (time.perf_counter() - t0))
    if cuda:
        torch.cuda.synchronize(device)
        out = [a.elapsed_time(b) for a, b in events]
    return out[warmup:]


def captured(fn: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    """``fn`` as one CUDA graph replay, as the engine replays its step (no launch or dynamo-guard cost between
    kernels); ``fn`` itself on the CPU. Run ``fn`` once before (compilation happens outside the capture)."""
    if device.type != "cuda":
        return fn
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # allocator and cuBLAS warm-up, as GraphDecoder.capture does
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def copy_bandwidth(device: torch.device, nbytes: int) -> dict[str, Any]:
    """A device-to-device copy's bytes read + written per second: the floor every figure is set against."""
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = statistics.median(replay_ms(lambda: dst.copy_(src), device=device, warmup=2, repeats=10))
    return {"bytes_per_s": 2 * nbytes / (ms / 1e3), "copy_bytes": nbytes, "copy_ms": ms,
            "cost_model_bytes_per_s": PEAK_BYTES_PER_S}
