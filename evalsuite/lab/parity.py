"""Per-sample parity with stock lm-eval: the same model and items through the ``hf`` backend and ours.

"Numbers are sacred": every change that can move a score is checked here.
Reports, per task, max |delta| of every per-choice / per-document
log-likelihood and whether every accuracy decision is identical.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from lm_eval.tasks import TaskManager

from evalsuite import strict_json
from evalsuite.records import SampleRecord
from evalsuite.run.runner import TASKS_DIR

MAX_ULPS = 2.0


def fp32_ulp(x: float) -> float:
    """The spacing of fp32 numbers at |x|: the resolution of a value stock computed in fp32."""
    return float(np.spacing(np.float32(abs(x))))


def within(ours: float, stock: float, tolerance: float) -> bool:
    """Equal up to ``tolerance``, or up to :data:`MAX_ULPS` fp32 ulps where stock's fp32 cannot resolve it."""
    return abs(ours - stock) <= max(tolerance, MAX_ULPS * fp32_ulp(stock))


@dataclass(frozen=True)
class TaskParity:
    task: str
    n_items: int
    n_logliks: int
    max_abs_delta: float
    max_rel_delta: float
    decisions_identical: bool
    n_decision_mismatches: int
    seconds_ours: float
    seconds_stock: float
    max_ulp_delta: float = 0.0  # max |delta| in fp32 ulps at stock's value
    n_outside_tolerance: int = 0  # log-likelihoods failing :func:`within`

    @property
    def ok(self) -> bool:
        return self.decisions_identical and self.n_outside_tolerance == 0


def _decisions(s: SampleRecord) -> dict[str, float]:
    return {k: v for k, v in s.scores.items() if k in ("acc", "acc_norm", "exact_match")}


def _logliks(s: SampleRecord) -> list[float]:
    if "loglik" in s.scores:
        return [s.scores["loglik"]]
    return [float(r) for r in s.resps if isinstance(r, (int, float))]


def compare_samples(task: str, ours: list[SampleRecord], stock: list[SampleRecord], t_ours: float,
                    t_stock: float, *, tolerance: float = 1e-4) -> TaskParity:
    by_key = {(s.task, s.doc_id): s for s in stock}
    max_abs = max_rel = max_ulps = 0.0
    n_ll = mismatches = outside = 0
    for s in ours:
        ref = by_key[(s.task, s.doc_id)]
        assert s.doc_hash == ref.doc_hash and s.prompt_hash == ref.prompt_hash, f"{task}: items differ"
        for a, b in zip(_logliks(s), _logliks(ref), strict=True):
            max_abs = max(max_abs, abs(a - b))
            max_rel = max(max_rel, abs(a - b) / max(abs(b), 1e-12))
            max_ulps = max(max_ulps, abs(a - b) / fp32_ulp(b))
            outside += not within(a, b, tolerance)
            n_ll += 1
        mismatches += _decisions(s) != _decisions(ref)
    return TaskParity(task, len(ours), n_ll, max_abs, max_rel, mismatches == 0, mismatches, t_ours, t_stock,
                      max_ulp_delta=max_ulps, n_outside_tolerance=outside)


def run_parity(model: Any, tokenizer: Any, *, tasks: dict[str, tuple[int | None, int]], data_dir: Path,
               max_length: int | None = None, stock_batch_size: int | str = 8, seed: int = 1234,
               tolerance: float = 1e-4, on_task: Callable[[TaskParity], None] | None = None,
               truncation: str = "refuse") -> list[TaskParity]:
    """``tasks`` maps task -> (limit, shots). Both backends share the model object, so only the code differs.
    ``truncation="left"`` lets ours cut over-long contexts as stock does (stock always cuts them)."""
    from lm_eval.models.huggingface import HFLM

    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.spec import EngineConfig
    from evalsuite.run.unit_eval import run_lm_eval

    max_length = max_length or int(model.config.max_position_embeddings)
    tm = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"data_dir": str(data_dir)})
    ours = EvalsuiteLM(model, tokenizer, EngineConfig(truncation=truncation), max_length=max_length)
    stock = HFLM(pretrained=model, tokenizer=tokenizer, max_length=max_length, batch_size=stock_batch_size)
    # Stock rolling windows materialise [batch, max_length, vocab] fp32 logits twice: at 8 x 8192 x 49K that is
    # ~26 GB, so perplexity tasks run the stock side one window at a time (its numbers do not depend on it).
    stock_rolling = HFLM(pretrained=model, tokenizer=tokenizer, max_length=max_length, batch_size=1)
    out = []
    for task, (limit, shots) in tasks.items():
        t0 = time.perf_counter()
        a = run_lm_eval(ours, task=task, task_manager=tm, shots=shots, limit=limit, seed=seed)
        t1 = time.perf_counter()
        ref_lm = stock_rolling if any("loglik" in s.scores for s in a.samples) else stock
        b = run_lm_eval(ref_lm, task=task, task_manager=tm, shots=shots, limit=limit, seed=seed)
        t2 = time.perf_counter()
        out.append(compare_samples(task, a.samples, b.samples, t1 - t0, t2 - t1, tolerance=tolerance))
        if on_task is not None:
            on_task(out[-1])
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab parity", description=__doc__)
    p.add_argument("--model", default="smollm2", help="'smollm2' (the PyPI GGUF) or a model path")
    p.add_argument("--data", help="data folder (default: $EVALSUITE_DATA)")
    p.add_argument("--mmlu", type=int, default=200, help="MMLU items (spread over the 57 subjects), 5-shot")
    p.add_argument("--hellaswag", type=int, default=200, help="HellaSwag items, 0-shot")
    p.add_argument("--wikitext", type=int, default=10, help="WikiText-2 documents")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--out", help="write the figures as JSON here")
    a = p.parse_args(argv)
    from evalsuite.paths import data_dir_from
    from evalsuite.errors import SpecError
    from evalsuite.models.loader import load, smollm2_gguf
    from evalsuite.spec import SourceSpec

    data_dir = data_dir_from(a.data)
    if data_dir is None:
        raise SpecError("parity needs real data: pass --data DIR or set EVALSUITE_DATA")
    src = SourceSpec(path=str(smollm2_gguf())) if a.model == "smollm2" else SourceSpec(path=a.model)
    loaded = load(src, dtype=a.dtype, device="cpu", hash_weights=False)
    tasks: dict[str, tuple[int | None, int]] = {}
    if a.hellaswag:
        tasks["es_hellaswag"] = (a.hellaswag, 0)
    if a.wikitext:
        tasks["es_wikitext"] = (a.wikitext, 0)
    if a.mmlu:
        tasks["es_mmlu"] = (math.ceil(a.mmlu / 57), 5)
    header = (f"{'task':<14}{'items':>7}{'logliks':>9}{'max|d|':>12}{'max rel':>10}{'ulps':>7}{'outside':>8}"
              f"  decisions   ours(s) stock(s)")
    done: list[TaskParity] = []

    def report(r: TaskParity) -> None:  # each task's row as soon as it is known, and the JSON so far
        done.append(r)
        if len(done) == 1:
            print(header)
        print(f"{r.task:<14}{r.n_items:>7}{r.n_logliks:>9}{r.max_abs_delta:>12.2e}{r.max_rel_delta:>10.1e}"
              f"{r.max_ulp_delta:>7.2f}{r.n_outside_tolerance:>8}  "
              f"{'identical' if r.decisions_identical else f'{r.n_decision_mismatches} differ':<11}"
              f"{r.seconds_ours:>8.1f}{r.seconds_stock:>9.1f}", flush=True)
        if a.out:
            Path(a.out).write_text(strict_json.dumps({"model": a.model, "dtype": a.dtype, "tolerance": a.tolerance,
                                               "tolerance_rule": f"|d| <= max({a.tolerance}, {MAX_ULPS:g} fp32 ulps "
                                                                 "of stock's value)",
                                               "tasks": [asdict(x) for x in done]}, where=a.out, indent=2))

    rows = run_parity(loaded.model, loaded.tokenizer, tasks=tasks, data_dir=data_dir, tolerance=a.tolerance,
                      on_task=report)
    ok = all(r.ok for r in rows)
    print("PARITY OK" if ok else f"PARITY FAILED (tolerance {a.tolerance}, or {MAX_ULPS:g} fp32 ulps where larger)")
    return 0 if ok else 1
