"""The benchmark's workloads: one (model, task) through evalsuite and through stock lm-eval, side by side.

Each run times the whole ``simple_evaluate`` (task loading, prompt building,
tokenisation, forward passes, metrics), synchronised with the device, with
peak device memory reset per run. evalsuite runs first, so a stock run that
blows the time budget cannot cost the evalsuite figures. Stock runs use
lm-eval's own templates (:func:`evalsuite.engine.lmeval_templates.stock_templates`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from evalsuite.lab.bench.agreement import compare_scores, compare_tokens
from evalsuite.lab.bench.flops import ModelShape, forward_flops, generation_cost, mfu
from evalsuite.lab.bench.timing import StockProbe, measure
from evalsuite.engine import lmeval_templates as templates
from evalsuite.engine.request_tree import TreeStats
from evalsuite.run.unit_eval import run_lm_eval


@dataclass(frozen=True)
class ScoringWorkload:
    """A loglikelihood task. ``stock_limit``: items per (sub)task for stock (None: as ours; 0: no stock run)."""

    name: str
    task: str
    shots: int
    limit: int | None = None
    stock_limit: int | None = None
    max_length: int = 4096
    batch_tokens: int = 32768
    row_tokens: int = 2048


def _tree_total(stats: list[Any]) -> TreeStats:
    total = TreeStats()
    for s in stats:
        for f in fields(TreeStats):
            setattr(total, f.name, getattr(total, f.name) + getattr(s.tree, f.name))
    return total


def run_ours(lm: Any, *, task: str, shots: int, limit: int | None, tm: Any, seed: int, shape: ModelShape,
             device: torch.device) -> tuple[dict[str, Any], Any]:
    """One evalsuite run: figures (time, throughput, MFU, memory, phases, tree savings) and lm-eval's outcome."""
    n_stats, t_before = len(lm.scoring_stats), dict(lm.timings)
    enc_before = asdict(lm.encode_stats)
    with measure(device) as m:
        outcome = run_lm_eval(lm, task=task, task_manager=tm, shots=shots, limit=limit, seed=seed)
    calls = lm.scoring_stats[n_stats:]
    tree = _tree_total(calls)
    delta = {k: lm.timings.get(k, 0.0) - t_before.get(k, 0.0) for k in lm.timings}
    flops = forward_flops(shape, tokens=tree.unique_tokens, attended_keys=tree.attended_keys,
                          head_positions=tree.scored_positions)
    enc = {k: v - enc_before[k] for k, v in asdict(lm.encode_stats).items() if isinstance(v, (int, float))
           and not isinstance(v, bool)}
    phases = {"tokenize_s": delta.get("tokenize_s", 0.0),
              "plan_s": sum(c.plan_seconds for c in calls), "score_s": sum(c.forward_seconds for c in calls)}
    phases["lm_eval_outside_lm_s"] = m.seconds - delta.get("tokenize_s", 0.0) - delta.get("loglikelihood_s", 0.0)
    fig = _figures(m.seconds, tree.n_requests, len(outcome.samples), tree.unique_tokens, flops, m.peak_gib)
    fig |= {"phases": phases, "tree": asdict(tree), "encode": enc, "batches": sum(c.batches for c in calls),
            "engine": calls[0].engine if calls else None}
    return fig, outcome


def _figures(seconds: float, requests: int, items: int, tokens: int, flops: float, peak: float | None) -> dict:
    return {"seconds": seconds, "requests": requests, "items": items, "requests_per_s": requests / seconds,
            "useful_tokens": tokens, "tokens_per_s": tokens / seconds, "useful_flops": flops,
            "mfu": mfu(flops, seconds), "peak_gib": peak}


def run_stock(make_stock: Any, *, task: str, shots: int, limit: int | None, tm: Any, seed: int,
              device: torch.device, useful: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """One stock lm-eval run on a fresh HFLM; ``useful`` is evalsuite's run of the same items (for MFU)."""
    stock = make_stock()
    probe = StockProbe().attach(stock)
    with templates.stock_templates(), measure(device) as m:
        outcome = run_lm_eval(stock, task=task, task_manager=tm, shots=shots, limit=limit, seed=seed)
    fig = _figures(m.seconds, useful["requests"], len(outcome.samples), useful["useful_tokens"],
                   useful["useful_flops"], m.peak_gib)
    fig |= {"phases": probe.phases(m.seconds), "batch_sizes": [str(b) for b in probe.batch_sizes]}
    del stock
    return fig, outcome


def scoring_workload(w: ScoringWorkload, *, ours: Any, make_stock: Any, tm: Any, seed: int, shape: ModelShape,
                     device: torch.device, with_stock: bool, variants: dict[str, Any] | None = None) -> dict[str, Any]:
    """evalsuite on the workload, then stock on it (or on a per-subtask subset, with evalsuite again there);
    then each of ``variants`` (name -> an LM with other options, warmed up by the caller) once more, as
    ``evalsuite_<name>`` with ``agreement_<name>`` (against the same stock items) and ``speedup_<name>``."""
    out: dict[str, Any] = {"name": w.name, "task": w.task, "shots": w.shots, "limit": w.limit,
                           "max_length": w.max_length}
    out["evalsuite"], mine = run_ours(ours, task=w.task, shots=w.shots, limit=w.limit, tm=tm, seed=seed,
                                      shape=shape, device=device)
    if not with_stock or w.stock_limit == 0:
        for name, lm in (variants or {}).items():  # timings only: no stock items to check agreement against
            out[f"evalsuite_{name}"], _ = run_ours(lm, task=w.task, shots=w.shots, limit=w.limit, tm=tm, seed=seed,
                                                   shape=shape, device=device)
        return out
    same = w.stock_limit is None or w.stock_limit == w.limit
    ref, ref_outcome = out["evalsuite"], mine
    if not same:
        ref, ref_outcome = run_ours(ours, task=w.task, shots=w.shots, limit=w.stock_limit, tm=tm, seed=seed,
                                    shape=shape, device=device)
        out["evalsuite_on_stock_subset"] = ref
    out["stock"], theirs = run_stock(make_stock, task=w.task, shots=w.shots, limit=w.stock_limit if not same
                                     else w.limit, tm=tm, seed=seed, device=device, useful=ref)
    out["stock"]["limit"] = w.stock_limit if not same else w.limit
    out["agreement"] = compare_scores(ref_outcome.samples, theirs.samples).to_dict()
    out["speedup_measured"] = out["stock"]["seconds"] / ref["seconds"]
    stock_full = out["stock"]["seconds"]
    if not same:  # stock's fixed cost (batch-size probing) once, the rest in proportion to items
        fixed = out["stock"]["phases"].get("probe_batch_size_s", 0.0)
        per_item = (out["stock"]["seconds"] - fixed) / out["stock"]["items"]
        stock_full = fixed + per_item * out["evalsuite"]["items"]
        out["stock_full_estimate_s"] = stock_full
        out["speedup_full_estimate"] = stock_full / out["evalsuite"]["seconds"]
    stock_items = {(s.task, s.doc_id) for s in theirs.samples}
    for name, lm in (variants or {}).items():
        out[f"evalsuite_{name}"], var = run_ours(lm, task=w.task, shots=w.shots, limit=w.limit, tm=tm, seed=seed,
                                                 shape=shape, device=device)
        out[f"agreement_{name}"] = compare_scores([s for s in var.samples if (s.task, s.doc_id) in stock_items],
                                                  theirs.samples).to_dict()
        out[f"speedup_{name}"] = stock_full / out[f"evalsuite_{name}"]["seconds"]
    return out


def greedy_instance(prompt: str, max_gen_toks: int) -> Any:
    """A greedy ``generate_until`` request with no stop string: ``max_gen_toks`` or EOS ends it."""
    from lm_eval.api.instance import Instance

    kwargs = {"do_sample": False, "temperature": 0.0, "max_gen_toks": max_gen_toks, "until": []}
    return Instance(request_type="generate_until", doc={}, arguments=(prompt, kwargs), idx=0)


def ruler_ours(lm: Any, *, prompt: str, max_gen_toks: int, mode: str, shape: ModelShape,
               device: torch.device, repeat: int = 1) -> dict[str, Any]:
    """One RULER sample through evalsuite's ``generate_until`` in ``mode``.

    ``repeat`` > 1 sends the sample that many times in one call and reports the last: the steady state of a
    RULER run, where hundreds of samples of one length share the static cache and its captured (and, in
    ``compiled`` mode, compiled) decode step. The first request's time, setup included, is kept as
    ``first_request_s``.
    """
    generation, _, attention = mode.partition("@")
    # one request at a time: the per-sample figures (batches: evalsuite.lab.bench.batched)
    lm.engine = replace(lm.engine, generation=generation, generation_rows=1, attention=attention or "auto")
    n_before = len(lm.generation_timings)
    with measure(device) as m:
        lm.generate_until([greedy_instance(prompt, max_gen_toks)] * repeat, disable_tqdm=True)
    runs = lm.generation_timings[n_before:]
    phases = dict(runs[-1])
    tokens = lm.generated_tokens[-1]
    seconds = m.seconds if repeat == 1 else float(phases["request_s"])
    n = int(phases["prompt_tokens"])
    cost = generation_cost(shape, prompt_tokens=n, decode_steps=int(phases.get("decode_steps", len(tokens))))
    out = {"mode": mode, "seconds": seconds, "peak_gib": m.peak_gib, "prompt_tokens": n,
           "generated_tokens": len(tokens), "phases": phases, "useful_flops": cost.flops,
           "mfu": mfu(cost.flops, seconds), "hardware_limit_s": cost.limit_seconds(),
           "hardware_limit_with_weights_s": cost.limit_seconds(with_weights=True), "requests_in_call": repeat,
           "first_request_s": float(runs[0].get("request_s", m.seconds)),
           "tokens_identical_across_requests": all(t == tokens for t in lm.generated_tokens[-repeat:])}
    out["x_hardware_limit"] = seconds / out["hardware_limit_s"]
    if phases.get("prefill_s"):
        out["prefill_tokens_per_s"] = n / phases["prefill_s"]
        out["prefill_mfu"] = mfu(cost.prefill_flops, phases["prefill_s"])
    if phases.get("decode_steps"):
        out["decode_ms_per_token"] = 1e3 * phases["decode_s"] / phases["decode_steps"]
    out["tokens"] = tokens
    return out


def ruler_stock(make_stock: Any, *, prompt: str, max_gen_toks: int, eos_id: int | None, shape: ModelShape,
                device: torch.device) -> dict[str, Any]:
    stock = make_stock()
    probe = StockProbe().attach(stock)
    with measure(device) as m:
        stock.generate_until([greedy_instance(prompt, max_gen_toks)], disable_tqdm=True)
    tokens = probe.generated[-1]
    if eos_id is not None and eos_id in tokens:
        tokens = tokens[:tokens.index(eos_id)]
    n = len(stock.tok_encode(prompt))
    cost = generation_cost(shape, prompt_tokens=n, decode_steps=max(len(tokens) - 1, 0))
    out = {"seconds": m.seconds, "peak_gib": m.peak_gib, "prompt_tokens": n, "generated_tokens": len(tokens),
           "phases": probe.phases(m.seconds), "useful_flops": cost.flops, "mfu": mfu(cost.flops, m.seconds),
           "tokens": tokens}
    del stock
    return out


def ruler_workload(name: str, *, ours: Any, make_stock: Any | None, prompt: str, max_gen_toks: int,
                   modes: tuple[str, ...], shape: ModelShape, device: torch.device, eos_id: int | None,
                   repeat: int = 1) -> dict:
    out: dict[str, Any] = {"name": name}
    for mode in modes:
        out[f"evalsuite_{mode}"] = ruler_ours(ours, prompt=prompt, max_gen_toks=max_gen_toks, mode=mode,
                                              shape=shape, device=device,
                                              repeat=1 if mode == "exact" else repeat)  # exact: token check only
    if make_stock is not None:
        out["stock"] = ruler_stock(make_stock, prompt=prompt, max_gen_toks=max_gen_toks, eos_id=eos_id,
                                   shape=shape, device=device)
        for mode in modes:
            mine = out[f"evalsuite_{mode}"]
            mine["agreement"] = compare_tokens(mine["tokens"], out["stock"]["tokens"]).to_dict()
            mine["speedup"] = out["stock"]["seconds"] / mine["seconds"]
    return out
