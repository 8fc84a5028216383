"""Batched RULER generation on one GPU: the samples of one length decoded together vs one at a time.

    python -m evalsuite.lab.bench.batched --data DATA --tokenizer TOKENIZER_DIR --out OUT \\
        [--parts ruler4k,ruler128k,hellaswag] [--samples 100] [--samples-128k 0]

Model: the paper-shaped random 1.72B (bf16; the ``h200`` preset's, :func:`evalsuite.lab.bench.harness.build_model`).
Parts, each recorded in ``OUT/batched.json`` as soon as it finishes:

* ``ruler4k``: ``--samples`` RULER samples at 4,096 tokens, round-robin over the tasks that need no QA files
  (their own ``max_gen_toks``), through ``EvalsuiteLM.generate_until`` one at a time (``generation_rows=1``)
  and batched (rows from free memory), in the ``fast`` engine at the device's defaults (on CUDA since run 6: the
  flex step and the compiled prefill), then batched ``fast`` with the compiled prefill and batched ``compiled``;
  each beside the
  hardware limit (every prompt's prefill FLOPs at 790 TFLOP/s + each decode step's KV-cache read at
  4.3 TB/s, :class:`evalsuite.lab.bench.flops.GenerationCost`), with per-sample bf16 token agreement (a sample
  that differs is classified at its first differing token by a reference forward: exact bf16 tie or not);
* ``prefill4k``: only the batch with the compiled prefill and short prompts prefilled several to a forward
  (``PACK_CANDIDATE``), then with one prompt a forward and shared prefixes (run 9), then with neither (run 6),
  then 16 of its prompts' compiled prefills under torch.profiler, one and four to a forward;
* ``flex``: the decode step's attention (``decode_attention``): the 4K batch and one 128K sample (YaRN x4) with
  ``split`` (the reference) and ``flex``, then both with ``flex`` and the compiled prefill; each warmed up first,
  each ``flex`` run with its bf16 token agreement against ``split``'s;
* ``retire``: finished rows retired (the default) against rows reading their caches to the batch's end: the 4K
  batch, and one 128K batch (YaRN x4) of three tasks whose answers end at different lengths, with the tokens'
  agreement;
* ``split``: the flex kernel's split of each row's keys, ``wide`` (``decode_split``: as wide as a one-row cache's)
  against ``torch`` (the default), on batches whose rows retire at different steps: 6 rows at 64K and 3 at 128K
  (YaRN x4) of those three tasks, with the tokens' agreement;
* ``ruler128k``: niah_single_1 at 131,072 tokens with YaRN x4: one sample one at a time (sent twice, the
  second timed), then as many samples as one batch holds (``--samples-128k``, 0: what free memory gives);
* ``share``: shared haystack prefixes (``share_prefix``) against none, batched on the same samples of
  niah_single_1, niah_single_2 and niah_multikey_1 with YaRN x4 (``--share``: length x samples per task), with
  the prompt tokens whose K/V were copied and the tokens' agreement;
* ``hellaswag``: the 10,042 validation items 0-shot with the packed scorer's ``tree_attention`` ``sdpa``
  (the dense mask) and ``flex`` (the block mask, the CUDA default since run 5), each warmed up first, with
  per-sample agreement between them.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from evalsuite import strict_json
from evalsuite.lab.bench.flops import ModelShape, generation_cost
from evalsuite.lab.bench.harness import Recorder, build_model, task_manager
from evalsuite.lab.bench.timing import measure
from evalsuite.lab.bench.workloads import greedy_instance
from evalsuite.spec import EngineConfig
from dataclasses import replace

# Padded tokens of one packed prefill forward measured on CUDA (run 10; the engine's PACK_TOKENS since).
PACK_CANDIDATE = 16384
SYNTHETIC_TASKS = ("niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
                   "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe")


def ruler_samples(tokenizer: Any, data_dir: Path, length: int, n: int, tasks: Sequence[str] = SYNTHETIC_TASKS,
                  seed: int = 1234) -> list[tuple[str, int, str]]:
    """``n`` samples (prompt, max_gen_toks, task) at ``length`` tokens, round-robin over ``tasks``."""
    from evalsuite.families.ruler.generate import RulerDataPaths, generate

    paths = RulerDataPaths.from_dir(data_dir)
    per_task = -(-n // len(tasks))
    by_task = [generate(t, tokenizer=tokenizer, length=length, n_samples=per_task, seed=seed,
                        haystack_path=paths.essay, verify="spot") for t in tasks]
    out = [(s.prompt, s.max_gen_toks, s.task) for i in range(per_task) for samples in by_task for s in samples[i:i + 1]]
    return out[:n]


def generate_run(lm: Any, samples: Sequence[tuple[str, int, str]], *, rows: int | None, mode: str,
                 shape: ModelShape, device: torch.device, compile_prefill: bool | None = None,
                 decode_attention: str | None = None, share_prefix: bool | None = None,
                 pack_tokens: int | None = None, retire_rows: bool | None = None,
                 decode_split: str | None = None) -> dict[str, Any]:
    """One ``generate_until`` call over ``samples``; seconds, peak memory, the limit, per-sample tokens.
    ``compile_prefill`` / ``decode_attention`` / ``share_prefix`` left at None: the device's defaults
    (:meth:`EngineConfig.resolved`), whatever an earlier call of the same LM set; ``pack_tokens``,
    ``retire_rows``, ``decode_split``: the engine's knobs of those names in this call (None: their defaults, the
    device's :data:`~evalsuite.engine.batch_decode.PACK_TOKENS`, retiring, torch's split)."""
    from evalsuite.engine import batch_decode

    default = EngineConfig().resolved(on_cuda=lm.on_cuda)
    lm.engine = replace(lm.engine, generation=mode, generation_rows=rows,
                        compile_prefill=default.compile_prefill if compile_prefill is None else compile_prefill,
                        decode_attention=decode_attention or default.decode_attention,
                        share_prefix=default.share_prefix if share_prefix is None else share_prefix,
                        pack_tokens=pack_tokens,
                        retire_rows=default.retire_rows if retire_rows is None else retire_rows,
                        decode_split=decode_split or default.decode_split)
    n_tok, n_tim, n_bat = len(lm.generated_tokens), len(lm.generation_timings), len(lm.generation_batches)
    with measure(device) as m:
        lm.generate_until([greedy_instance(p, g) for p, g, _ in samples], disable_tqdm=True)
    tokens = lm.generated_tokens[n_tok:]
    prompt_tokens = [len(lm.tok_encode(p)) for p, _, _ in samples]
    costs = [generation_cost(shape, prompt_tokens=n, decode_steps=max(len(t) - 1, 0))
             for n, t in zip(prompt_tokens, tokens)]
    limit = sum(c.limit_seconds() for c in costs)
    timings, batches = lm.generation_timings[n_tim:], lm.generation_batches[n_bat:]
    out = {"mode": mode, "compile_prefill": lm.engine.compile_prefill, "decode_attention": lm.engine.decode_attention,
           "share_prefix": lm.engine.share_prefix,
           "pack_tokens": batch_decode.PACK_TOKENS.get(device.type, 0) if pack_tokens is None else pack_tokens,
           "retire_rows": lm.engine.retire_rows, "decode_split": lm.engine.decode_split,
           "rows_cap": rows, "samples": len(samples), "seconds": m.seconds, "peak_gib": m.peak_gib,
           "hardware_limit_s": limit, "x_hardware_limit": m.seconds / limit,
           "hardware_limit_with_weights_s": sum(c.limit_seconds(with_weights=True) for c in costs),
           "seconds_per_sample": m.seconds / len(samples), "prompt_tokens_total": sum(prompt_tokens),
           "generated_tokens_total": sum(len(t) for t in tokens), "tokens": tokens}
    if batches:
        out["batches"] = [{k: v for k, v in t.items() if k != "notes"} for t in batches]
        out["notes"] = batches[-1].get("notes", [])
        for key in ("setup_s", "prefill_s", "decode_s", "prompt_tokens", "shared_prefix_tokens", "prefill_forwards",
                    "decode_row_steps"):
            out[key] = sum(t.get(key, 0) for t in batches)
        steps = sum(t["decode_steps"] for t in batches)
        out["decode_ms_per_step"] = 1e3 * out["decode_s"] / max(steps, 1)
    else:
        for key in ("setup_s", "prefill_s", "decode_s"):
            out[key] = sum(t.get(key, 0.0) for t in timings)
    return out


@torch.inference_mode()
def classify_difference(model: Any, prompt_ids: list[int], a: list[int], b: list[int]) -> dict[str, Any]:
    """Where two greedy continuations of ``prompt`` first differ, the reference forward's bf16 logits of both
    choices (transformers-equivalent prefill, :func:`evalsuite.engine.decode.prefill` with ``fast=False``):
    equal = an exact bf16 tie, which either argmax may take."""
    from evalsuite.engine.decode import prefill
    from evalsuite.engine.static_cache import StaticKV
    from evalsuite.engine.forward import LeanDecoder

    i = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if i == min(len(a), len(b)):
        return {"first_difference": i, "kind": "length (one stopped earlier)"}
    lean = LeanDecoder.wrap(model)
    ids = list(prompt_ids) + a[:i]
    kv = StaticKV(lean, len(ids))
    logits = prefill(lean, kv, torch.tensor([ids], device=lean.device), fast=False)[0]
    la, lb = float(logits[a[i]]), float(logits[b[i]])
    top = float(logits.max())
    return {"first_difference": i, "logit_a": la, "logit_b": lb, "reference_max": top,
            "gap_ulps": abs(la - lb) / bf16_ulp(max(abs(la), abs(lb))),
            "kind": "exact bf16 tie" if la == lb else "not a tie"}


def bf16_ulp(x: float) -> float:
    """The spacing of bf16 numbers (8 significant bits) at ``x``: a logit gap in ulps says how near a tie was."""
    return 2.0 ** (math.frexp(abs(x))[1] - 8) if x else 2.0 ** -133


def agreement(lm: Any, samples: Sequence[tuple[str, int, str]], ours: list[list[int]], ref: list[list[int]], *,
              classify: int = 8) -> dict[str, Any]:
    """Per-sample token identity; the first ``classify`` differing samples classified."""
    differ = [i for i, (x, y) in enumerate(zip(ours, ref)) if x != y]
    out: dict[str, Any] = {"samples": len(ref), "identical": len(ref) - len(differ), "differ": differ}
    out["classified"] = {str(i): classify_difference(lm.model, lm.tok_encode(samples[i][0]), ours[i], ref[i])
                         for i in differ[:classify]}
    return out


def without_tokens(run: dict[str, Any]) -> dict[str, Any]:
    """A run's record as stored: its per-sample tokens stay in memory for the agreement steps."""
    return {k: v for k, v in run.items() if k != "tokens"}


def _setup(rec: Recorder, prefix: str, model: Any, tok: Any, data_dir: Path, n: int,
           length: int) -> tuple[Any, list[tuple[str, int, str]]] | None:
    """The samples (recorded as ``<prefix>_samples``) and the LM that generates them; None without samples."""
    from evalsuite.engine.lm import EvalsuiteLM

    samples = rec.step(f"{prefix}_samples", lambda: ruler_samples(tok, data_dir, length, n),
                       record=lambda s: {"n": len(s), "tasks": sorted({t for _, _, t in s})})
    return (EvalsuiteLM(model, tok, max_length=length), samples) if samples else None


def _variant(rec: Recorder, lm: Any, samples: Sequence[tuple[str, int, str]], shape: ModelShape,
             device: torch.device, reference: dict[str, Any] | None, *, run: str, agreement_step: str,
             mode: str = "fast", compile_prefill: bool | None = None,
             decode_attention: str | None = None, share_prefix: bool | None = None,
             pack_tokens: int | None = None) -> dict[str, Any] | None:
    """The whole batch in one engine variant: a first run (``<run>_warm``: it compiles for this batch shape), the
    timed run, and its tokens against ``reference``'s."""
    def go() -> dict[str, Any]:
        return generate_run(lm, samples, rows=None, mode=mode, compile_prefill=compile_prefill, shape=shape,
                            device=device, decode_attention=decode_attention, share_prefix=share_prefix,
                            pack_tokens=pack_tokens)

    rec.step(f"{run}_warm", lambda: without_tokens(go()))
    got = rec.step(run, go, record=without_tokens)
    if reference and got:
        rec.step(agreement_step, lambda: agreement(lm, samples, got["tokens"], reference["tokens"]))
    return got


def ruler_4k(rec: Recorder, model: Any, tok: Any, data_dir: Path, n: int, device: torch.device, *,
             length: int = 4096) -> dict[str, Any] | None:
    """One at a time, then batched, in the ``fast`` engine; returns what :func:`ruler_4k_compiled` needs."""
    shape = ModelShape.of(model)
    got = _setup(rec, "ruler4k", model, tok, data_dir, n, length)
    if got is None:
        return None
    lm, samples = got
    rec.step("ruler4k_warm", lambda: {r: without_tokens(generate_run(lm, samples[:2], rows=r, mode="fast",
                                                                     shape=shape, device=device)) for r in (1, None)})
    runs: dict[str, dict[str, Any]] = {}
    runs["one_at_a_time"] = rec.step("ruler4k_one_at_a_time", lambda: generate_run(
        lm, samples, rows=1, mode="fast", shape=shape, device=device), record=without_tokens)
    runs["batched"] = rec.step("ruler4k_batched", lambda: generate_run(
        lm, samples, rows=None, mode="fast", shape=shape, device=device), record=without_tokens)
    if runs["one_at_a_time"] and runs["batched"]:
        rec.step("ruler4k_agreement", lambda: agreement(lm, samples, runs["batched"]["tokens"],
                                                        runs["one_at_a_time"]["tokens"]))
    return {"lm": lm, "samples": samples, "shape": shape, "reference": runs["one_at_a_time"]}


@torch.inference_mode()
def ruler_4k_prefill(rec: Recorder, model: Any, tok: Any, data_dir: Path, n: int, device: torch.device, *,
                     length: int = 4096) -> None:
    """The 4K batch with the compiled prefill and short prompts prefilled several to a forward
    (:data:`PACK_CANDIDATE` padded tokens; so not sharing prefixes), then with one prompt a forward and shared
    prefixes (run 9's path), and with neither (run 6's), each against the first's tokens; then the compiled
    prefills of 16 of its prompts under torch.profiler, one and four a forward. The short form of ``ruler4k`` for
    a call with little device time (no one-at-a-time reference, no ``compiled`` mode)."""
    shape = ModelShape.of(model)
    got = _setup(rec, "prefill4k", model, tok, data_dir, n, length)
    if got is None:
        return
    lm, samples = got
    pack = PACK_CANDIDATE if device.type == "cuda" else 4 * length  # the tiny CPU run packs as CUDA would
    ref = _variant(rec, lm, samples, shape, device, None, run="prefill4k_compiled_prefill", agreement_step="",
                   compile_prefill=True, share_prefix=True, pack_tokens=pack)
    for run, share, tokens in (("prefill4k_unpacked", True, 0), ("prefill4k_unshared_unpacked", False, 0)):
        _variant(rec, lm, samples, shape, device, ref, run=run, agreement_step=f"{run}_agreement",
                 compile_prefill=True, share_prefix=share, pack_tokens=tokens)
    for rows in (1, 4):
        rec.step(f"prefill4k_profile_{rows}", lambda rows=rows: prefill_profile(lm, samples[:16], rows))


@torch.inference_mode()
def prefill_profile(lm: Any, samples: Sequence[tuple[str, int, str]], rows: int = 1) -> dict[str, Any]:
    """Where a short prompt's compiled prefill spends its time (run 9's 4K prefill took 33 ms a row where its
    FLOPs need ~18 ms): ``samples``' prompts prefilled ``rows`` to a forward
    (:func:`~evalsuite.engine.decode.prefill_rows`, right-padded) as the batched engine does, timed plainly, then
    under torch.profiler: the kernels launched and the ops' device time. torch.profiler's per-op sums count an op
    and its kernels both, so ``device_busy`` over-counts (run 10: ~2); the wall times and kernel counts are the
    figures to compare."""
    from torch.profiler import ProfilerActivity, profile

    from evalsuite.engine.decode import prefill_rows, right_padded
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.static_cache import StaticKV

    lean = LeanDecoder.wrap(lm.model)
    prompts = [lm.tok_encode(p) for p, _, _ in samples]
    padded = [right_padded([torch.tensor(p, device=lean.device) for p in prompts[i:i + rows]])
              for i in range(0, len(prompts), rows)]
    kv = StaticKV(lean, -(-max(map(len, prompts)) // 128) * 128, rows)
    sync = torch.cuda.synchronize if lean.device.type == "cuda" else (lambda: None)

    def run() -> float:
        sync()
        t0 = time.perf_counter()
        for ids, lengths in padded:
            prefill_rows(lean, kv, ids, lengths, list(range(len(lengths))), attention=lm.engine.attention,
                         compiled=True)
        sync()
        return time.perf_counter() - t0

    run()  # shapes compiled, kernels tuned
    wall = run()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if lean.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        profiled = run()
    events = prof.key_averages()
    # The kernels' time: on a GPU their device time; on CPU (a smoke run) the ops' own time.
    spent = (lambda e: e.self_device_time_total) if lean.device.type == "cuda" else (lambda e: e.self_cpu_time_total)
    device_us = sum(spent(e) for e in events)
    top = sorted(events, key=lambda e: -spent(e))[:15]
    n = len(prompts)
    return {"rows": n, "rows_a_forward": rows, "prompt_tokens": sum(map(len, prompts)),
            "padded_tokens": sum(ids.numel() for ids, _ in padded), "wall_s": wall, "ms_per_row": 1e3 * wall / n,
            "profiled_wall_s": profiled, "device_kernel_s": device_us / 1e6,
            "device_busy": device_us / 1e6 / wall if wall else None,
            "kernels": sum(e.count for e in events if spent(e) > 0),
            "top": [{"name": e.key[:120], "count": e.count, "device_ms": spent(e) / 1e3,
                     "cpu_ms": e.self_cpu_time_total / 1e3} for e in top]}


@torch.inference_mode()
def flex_decode(rec: Recorder, model: Any, cfg: Any, tok: Any, data_dir: Path, n: int, device: torch.device, *,
                short: int = 4096, long: int = 131072, yarn: float = 4.0) -> None:
    """The decode step's attention, ``split`` against ``flex``, on the ``short`` batch and on one ``long`` sample
    with YaRN (where one row's step reads the whole cache); then ``flex`` with the compiled prefill on both. In that
    order, so that a call cut short keeps the comparison of the two kernels first."""
    from evalsuite.engine.lm import EvalsuiteLM

    runs: list[tuple[str, Any, Any, ModelShape]] = []  # (prefix, lm, samples, shape)
    got = _setup(rec, "flex4k", model, tok, data_dir, n, short)
    if got is not None:
        runs.append(("flex4k", *got, ModelShape.of(model)))
    long_model = build_model(cfg, "none", yarn_factor=yarn)
    samples = rec.step("flex128k_samples", lambda: ruler_samples(tok, data_dir, long, 1, ("niah_single_1",)),
                       record=lambda s: {"n": len(s)})
    if samples:
        runs.append(("flex128k", EvalsuiteLM(long_model, tok, max_length=long), samples, ModelShape.of(long_model)))
    split: dict[str, Any] = {}
    for prefix, lm, samples, shape in runs:
        split[prefix] = _variant(rec, lm, samples, shape, device, None, run=f"{prefix}_split", agreement_step="",
                                 decode_attention="split", compile_prefill=False)
        _variant(rec, lm, samples, shape, device, split[prefix], run=f"{prefix}_flex",
                 agreement_step=f"{prefix}_flex_agreement", decode_attention="flex", compile_prefill=False)
    for prefix, lm, samples, shape in runs:
        _variant(rec, lm, samples, shape, device, split[prefix], run=f"{prefix}_flex_compiled_prefill",
                 agreement_step=f"{prefix}_flex_compiled_prefill_agreement", decode_attention="flex",
                 compile_prefill=True)


def ruler_4k_compiled(rec: Recorder, state: dict[str, Any], device: torch.device) -> None:
    """The same batch in ``fast`` with the compiled prefill (``compile_prefill``: run 5 found the compiled prefill
    1.6x faster and the compiled step 3.3x slower at 100 rows), then in the ``compiled`` engine."""
    lm, samples, shape, ref = state["lm"], state["samples"], state["shape"], state["reference"]
    _variant(rec, lm, samples, shape, device, ref, run="ruler4k_batched_compiled_prefill",
             agreement_step="ruler4k_compiled_prefill_agreement", compile_prefill=True)
    _variant(rec, lm, samples, shape, device, ref, run="ruler4k_batched_compiled",
             agreement_step="ruler4k_compiled_agreement", mode="compiled")


def ruler_128k(rec: Recorder, cfg: Any, tok: Any, data_dir: Path, n: int, device: torch.device, *,
               length: int = 131072, yarn: float = 4.0) -> None:
    """One sample one at a time (twice: the first pays allocation and capture), then ``n`` (at most what memory
    holds; 0: that) samples in one batch, the first of which is the same sample."""
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.engine.batch_decode import rows_for
    from evalsuite.engine.forward import LeanDecoder

    model = build_model(cfg, "none", yarn_factor=yarn)
    shape = ModelShape.of(model)
    lm = EvalsuiteLM(model, tok, max_length=length)
    fits = rows_for(LeanDecoder.wrap(model), length, longest_prompt=length, wanted=16)
    rows = min(n, fits) if n else fits
    rec.data["ruler128k_rows"] = {"from_memory": fits, "used": rows}
    samples = rec.step("ruler128k_samples", lambda: ruler_samples(tok, data_dir, length, rows, ("niah_single_1",)),
                       record=lambda s: {"n": len(s)})
    if not samples:
        return
    rec.step("ruler128k_one_first", lambda: generate_run(lm, samples[:1], rows=1, mode="fast", shape=shape,
                                                         device=device), record=without_tokens)
    steady = rec.step("ruler128k_one_steady", lambda: generate_run(lm, samples[:1], rows=1, mode="fast",
                                                                   shape=shape, device=device), record=without_tokens)
    batched = rec.step("ruler128k_batched", lambda: generate_run(lm, samples, rows=None, mode="fast", shape=shape,
                                                                 device=device), record=without_tokens)
    if batched and steady:
        rec.step("ruler128k_agreement", lambda: agreement(lm, samples[:1], batched["tokens"][:1], steady["tokens"]))


RETIRE_TASKS = ("niah_single_2", "vt", "fwe")  # answers of at most 128, 30 and 50 tokens: one batch, three ends


@torch.inference_mode()
def retire(rec: Recorder, model: Any, cfg: Any, tok: Any, data_dir: Path, n: int, device: torch.device, *,
           short: int = 4096, long: int = 131072, yarn: float = 4.0) -> None:
    """Finished rows retired (the engine's default, :attr:`EngineConfig.retire_rows`) against rows that read their
    caches until the batch's last row is done: the 4K batch of ``n`` samples, then one batch at 128K (YaRN x4) of
    one sample of each of :data:`RETIRE_TASKS`. Each after a warm-up run; retired, read to the end, retired again
    (the two retired runs bracket the other), in one process; the tokens of the second and third runs against the
    first's."""
    runs = (("retire4k", short, SYNTHETIC_TASKS, n, 0.0), ("retire128k", long, RETIRE_TASKS, len(RETIRE_TASKS), yarn))
    bracketed(rec, model, cfg, tok, data_dir, device, runs, names=("retired", "read_to_the_end"),
              knob={"retire_rows": True}, other={"retire_rows": False})


@torch.inference_mode()
def key_split(rec: Recorder, model: Any, cfg: Any, tok: Any, data_dir: Path, device: torch.device, *,
              lengths: Sequence[tuple[int, int]] = ((65536, 2), (131072, 1)), yarn: float = 4.0) -> None:
    """The flex kernel's split of each row's keys: ``wide`` (:attr:`EngineConfig.decode_split`) against ``torch``
    (the default), on batches of ``lengths`` (length, samples of each of :data:`RETIRE_TASKS`) with YaRN, whose
    rows retire at 30, 50 and 128 tokens: wide, torch's, wide again, in one process, each after a warm-up run;
    the tokens against the first run's."""
    runs = tuple((f"split{length // 1024}k", length, RETIRE_TASKS, per_task * len(RETIRE_TASKS), yarn)
                 for length, per_task in lengths)
    bracketed(rec, model, cfg, tok, data_dir, device, runs, names=("wide_split", "torch_split"),
              knob={"decode_split": "wide"}, other={"decode_split": "torch"})


def bracketed(rec: Recorder, model: Any, cfg: Any, tok: Any, data_dir: Path, device: torch.device,
              runs: Sequence[tuple[str, int, Sequence[str], int, float]], *, names: tuple[str, str],
              knob: dict[str, Any], other: dict[str, Any]) -> None:
    """Per run (prefix, length, tasks, samples, YaRN factor or 0), batched in the ``fast`` engine: a warm-up with
    ``knob``, then ``knob`` (``PREFIX_<names[0]>``), ``other`` (``PREFIX_<names[1]>``), ``knob`` again
    (``PREFIX_<names[0]>_again``), in one process, so that the two runs with ``knob`` bracket the other; the
    tokens of the second and third against the first's."""
    from evalsuite.engine.lm import EvalsuiteLM

    for prefix, length, tasks, count, factor in runs:
        samples = rec.step(f"{prefix}_samples", lambda: ruler_samples(tok, data_dir, length, count, tasks),
                           record=lambda s: {"n": len(s), "tasks": sorted({t for _, _, t in s})})
        if not samples:
            continue
        m = build_model(cfg, "none", yarn_factor=factor) if factor else model
        lm, shape = EvalsuiteLM(m, tok, max_length=length), ModelShape.of(m)

        def go(knobs: dict[str, Any]) -> dict[str, Any]:
            return generate_run(lm, samples, rows=None, mode="fast", shape=shape, device=device, **knobs)

        rec.step(f"{prefix}_warm", lambda: without_tokens(go(knob)))
        first = rec.step(f"{prefix}_{names[0]}", lambda: go(knob), record=without_tokens)
        for run, knobs in ((f"{prefix}_{names[1]}", other), (f"{prefix}_{names[0]}_again", knob)):
            got = rec.step(run, lambda knobs=knobs: go(knobs), record=without_tokens)
            if first and got:
                rec.step(f"{run}_agreement", lambda got=got: agreement(lm, samples, got["tokens"], first["tokens"]))
        del lm, m
        if device.type == "cuda":
            torch.cuda.empty_cache()


SHARE_TASKS = ("niah_single_1", "niah_single_2", "niah_multikey_1")  # a noise and two essay haystacks


@torch.inference_mode()
def share_prefix(rec: Recorder, cfg: Any, tok: Any, data_dir: Path, device: torch.device, *,
                 counts: Sequence[tuple[int, int]] = ((65536, 4), (131072, 3)), yarn: float = 4.0,
                 tasks: Sequence[str] = SHARE_TASKS) -> None:
    """Shared haystack prefixes against none, on the same samples: ``counts`` (length, samples per task) of
    ``tasks`` with YaRN, each batched with ``share_prefix`` off (the reference), then on; the prompt tokens whose
    K/V were copied, the prefill seconds, and the tokens' agreement. One batch first at each length, of the rows
    memory gives (it compiles and captures for that shape, so that neither timed run pays it)."""
    from evalsuite.engine.batch_decode import balanced_rows, rows_for
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.lm import EvalsuiteLM

    model = build_model(cfg, "none", yarn_factor=yarn)
    shape = ModelShape.of(model)
    for length, per_task in counts:
        name = f"share{length // 1024}k"
        samples = rec.step(f"{name}_samples", lambda length=length, per_task=per_task: ruler_samples(
            tok, data_dir, length, per_task * len(tasks), tasks), record=lambda s: {"n": len(s)})
        if not samples:
            continue
        lm = EvalsuiteLM(model, tok, max_length=length)
        rows = balanced_rows(len(samples), rows_for(LeanDecoder.wrap(model), length, longest_prompt=length,
                                                    wanted=len(samples)))
        rec.step(f"{name}_warm", lambda: without_tokens(generate_run(lm, samples[:rows], rows=None, mode="fast",
                                                                     shape=shape, device=device)))
        off = rec.step(f"{name}_unshared", lambda: generate_run(lm, samples, rows=None, mode="fast", shape=shape,
                                                               device=device, share_prefix=False),
                       record=without_tokens)
        on = rec.step(f"{name}_shared", lambda: generate_run(lm, samples, rows=None, mode="fast", shape=shape,
                                                            device=device, share_prefix=True), record=without_tokens)
        if off and on:
            rec.step(f"{name}_agreement", lambda: agreement(lm, samples, on["tokens"], off["tokens"]))
        del lm
        if device.type == "cuda":
            torch.cuda.empty_cache()


def hellaswag(rec: Recorder, model: Any, tok: Any, data_dir: Path, device: torch.device, seed: int,
              limit: int | None = None) -> None:
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.lab.bench.agreement import compare_scores
    from evalsuite.lab.bench.workloads import run_ours

    shape = ModelShape.of(model)
    tm = task_manager(data_dir)
    outcomes: dict[str, Any] = {}
    for name in ("sdpa", "flex"):
        lm = EvalsuiteLM(model, tok, EngineConfig(batch_tokens=32768, row_tokens=512, tree_attention=name),
                         max_length=4096)
        rec.step(f"hellaswag_{name}_warm", lambda lm=lm: run_ours(lm, task="es_hellaswag", shots=0, limit=64, tm=tm,
                                                                  seed=seed, shape=shape, device=device)[0])

        def full(lm=lm, name=name) -> dict[str, Any]:
            fig, outcomes[name] = run_ours(lm, task="es_hellaswag", shots=0, limit=limit, tm=tm, seed=seed,
                                           shape=shape, device=device)
            return fig

        rec.step(f"hellaswag_{name}", full)
    if len(outcomes) == 2:
        rec.step("hellaswag_flex_vs_sdpa", lambda: compare_scores(outcomes["flex"].samples,
                                                                  outcomes["sdpa"].samples).to_dict())


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoTokenizer

    from evalsuite.lab.bench.cli import environment
    from evalsuite.lab.bench.config import h200, tiny

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.batched", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--parts", default="ruler4k,ruler128k,hellaswag")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--samples-128k", type=int, default=0)
    p.add_argument("--name", default="batched")
    p.add_argument("--share", default="65536x4,131072x3",
                   help="the share part's lengths and samples per task, LENGTHxN,... (--tiny: 1024x4,2048x3)")
    p.add_argument("--hellaswag-limit", type=int, default=None, help="items (default: all 10,042)")
    p.add_argument("--tiny", action="store_true", help="the tiny preset's model on CPU at 512/1024 tokens (a smoke run)")
    args = p.parse_args(argv)
    cfg = tiny() if args.tiny else h200()
    short, long, yarn = (1024, 2048, 4.0) if args.tiny else (4096, 131072, 4.0)
    device = torch.device(cfg.device)
    tok = AutoTokenizer.from_pretrained(str(args.tokenizer))
    rec = Recorder(args.out / f"{args.name}.json", {"environment": environment(), "argv": list(argv or [])}, None)
    parts = args.parts.split(",")
    model = build_model(cfg, "none")
    rec.data["model"] = ModelShape.of(model).to_dict()
    if "flex" in parts:
        flex_decode(rec, model, cfg, tok, args.data, args.samples, device, short=short, long=long, yarn=yarn)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if "prefill4k" in parts:
        ruler_4k_prefill(rec, model, tok, args.data, args.samples, device, length=short)
    if "retire" in parts:
        retire(rec, model, cfg, tok, args.data, args.samples, device, short=short, long=long, yarn=yarn)
    if "split" in parts:
        key_split(rec, model, cfg, tok, args.data, device, yarn=yarn,
                  lengths=((1024, 2), (2048, 1)) if args.tiny else ((65536, 2), (131072, 1)))
    state = ruler_4k(rec, model, tok, args.data, args.samples, device, length=short) if "ruler4k" in parts else None
    if "ruler128k" in parts:
        ruler_128k(rec, cfg, tok, args.data, args.samples_128k, device, length=long, yarn=yarn)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if "share" in parts:
        spec = "1024x4,2048x3" if args.tiny else args.share
        counts = [tuple(int(x) for x in pair.split("x")) for pair in spec.split(",")]
        share_prefix(rec, cfg, tok, args.data, device, counts=counts, yarn=yarn)
    if "hellaswag" in parts:
        hellaswag(rec, model, tok, args.data, device, cfg.seed, args.hellaswag_limit)
    if state is not None:  # last: compiling for the batch's shape costs tens of seconds
        ruler_4k_compiled(rec, state, device)
    rec.flush()
    print(strict_json.dumps(dict(rec.data["workloads"]), where="the batched summary", default=str)[:4000])
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
