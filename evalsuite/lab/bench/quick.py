"""Issue 3: throughput and peak memory of each gate variant on the quick tasks, plus the paper's diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from evalsuite.lab.bench.config import BenchConfig
from evalsuite.lab.bench.flops import ModelShape
from evalsuite.lab.bench.timing import measure
from evalsuite.lab.bench.workloads import run_ours


def quick_tasks(cfg: BenchConfig, gate: str, tok: Any, tokenizer_dir: Path, data_dir: Path,
                device: torch.device) -> dict[str, Any]:
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.lab.bench.harness import build_model, task_manager

    model = build_model(cfg, gate)
    shape = ModelShape.of(model)
    lm = EvalsuiteLM(model, tok, max_length=cfg.quick_max_length)
    out: dict[str, Any] = {"gate": gate, "parameters": shape.total_params, "tasks": {}}
    for qt in cfg.quick_tasks:
        meta = dict(qt.metadata)
        if "max_seq_lengths" in meta:  # RULER: sized with the model's tokenizer
            meta |= {"tokenizer": str(tokenizer_dir), "seed": cfg.seed}
        n_gen = len(lm.generated_tokens)
        fig, outcome = run_ours(lm, task=qt.task, shots=qt.shots, limit=qt.limit,
                                tm=task_manager(data_dir, **meta), seed=cfg.seed, shape=shape, device=device)
        fig["metrics"] = {f"{m.task}/{m.name}": m.value for m in outcome.metrics if m.value is not None}
        gen = lm.generation_timings[n_gen:]
        if gen:
            fig["generations"] = len(gen)
            fig["generated_tokens"] = sum(len(t) for t in lm.generated_tokens[n_gen:])
            fig["prompt_tokens"] = sum(int(g["prompt_tokens"]) for g in gen)
        out["tasks"][qt.task] = fig
    out["diagnostics"] = _diagnostics(cfg, model, tok, data_dir, device)
    del lm, model
    return out


def _diagnostics(cfg: BenchConfig, model: Any, tok: Any, data_dir: Path, device: torch.device) -> dict[str, Any]:
    from evalsuite.families.wikitext import read_wikitext_documents
    from evalsuite.paths import resolve_data_dir
    from evalsuite.diagnostics import diagnose

    docs = read_wikitext_documents(resolve_data_dir(data_dir, "wikitext", "wikitext-2-raw", "wiki.test.raw"))
    texts = [d["page"] for d in docs[:8]]
    with measure(device) as m:
        res = diagnose(model, tok, texts, window=cfg.diagnostics_window, max_windows=cfg.diagnostics_windows)
    gates = res.gates
    return {"seconds": m.seconds, "peak_gib": m.peak_gib, "tokens": res.n_tokens,
            "tokens_per_s": res.n_tokens / m.seconds, "first_token_share_mean": res.first_token_share_mean,
            "max_abs_hidden_mean": res.max_abs_hidden_mean, "gate_mean": gates.mean if gates else None}
