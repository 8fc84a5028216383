"""One (model, task) unit through lm-eval, converted at once into typed records."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import lm_eval
from lm_eval.tasks import TaskManager

from evalsuite.records import MetricRecord, SampleRecord

# Paired counts carried by lm-eval's perplexity-style metrics: (loglik, count).
_COUNT_NAMES = {"word_perplexity": "n_words", "byte_perplexity": "n_bytes", "bits_per_byte": "n_bytes"}


@dataclass(frozen=True)
class LmEvalOutcome:
    metrics: list[MetricRecord]
    samples: list[SampleRecord]
    task_info: dict[str, Any]


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _metrics(results: dict[str, Any]) -> list[MetricRecord]:
    out: list[MetricRecord] = []
    hib = results.get("higher_is_better", {})
    nsamp = results.get("n-samples", {})
    for task, vals in results["results"].items():
        for key, value in vals.items():
            if "," not in key or "_stderr," in key:
                continue
            name, flt = key.split(",", 1)
            stderr = _num(vals.get(f"{name}_stderr,{flt}"))
            n = nsamp.get(task, {}).get("effective")
            out.append(MetricRecord(task=task, name=name, filter=flt, value=_num(value), stderr=stderr,
                                    higher_is_better=hib.get(task, {}).get(name), n=n))
    return out


def _resps(row: dict[str, Any]) -> list[Any]:
    out = []
    for r in row.get("filtered_resps", []):
        out.append(r[0] if isinstance(r, (list, tuple)) and r and isinstance(r[0], (int, float)) else r)
    return out


def _samples(results: dict[str, Any], token_counts: dict[str, int]) -> list[SampleRecord]:
    out: list[SampleRecord] = []
    for task, rows in results.get("samples", {}).items():
        for row in rows:
            scores: dict[str, float] = {}
            for m in row.get("metrics", []):
                v = row.get(m)
                if isinstance(v, (list, tuple)) and len(v) == 2:  # (loglik, count)
                    scores["loglik"] = float(v[0])
                    scores[_COUNT_NAMES.get(m, f"n_{m}")] = float(v[1])
                elif m.isdigit() and _num(v) is not None and float(v) < 0:
                    continue  # RULER: a placeholder for lengths this item is not
                elif _num(v) is not None:
                    scores[m] = float(v)
            args = row.get("arguments") or []
            first = args[0][0] if args and isinstance(args[0], (list, tuple)) and args[0] else None
            if "loglik" in scores and isinstance(first, str) and first in token_counts:
                scores["n_tokens"] = float(token_counts[first])
            target = row.get("target")
            out.append(SampleRecord(task=task, doc_id=int(row["doc_id"]), doc_hash=row["doc_hash"],
                                    prompt_hash=row["prompt_hash"], target_hash=row["target_hash"], scores=scores,
                                    target=target if isinstance(target, str) and len(target) < 512 else str(target)[:512],
                                    resps=_resps(row)))
    return out


def token_perplexity(samples: list[SampleRecord]) -> MetricRecord | None:
    """exp(-sum loglik / sum predicted tokens) over documents; stock lm-eval has no token-level number."""
    rows = [s for s in samples if "loglik" in s.scores and "n_tokens" in s.scores]
    if not rows:
        return None
    ll = sum(s.scores["loglik"] for s in rows)
    n = sum(s.scores["n_tokens"] for s in rows)
    return MetricRecord(task=rows[0].task, name="token_perplexity", value=math.exp(-ll / n),
                        higher_is_better=False, n=len(rows))


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def quiet_lm_eval() -> None:
    """lm-eval logs a warning per subtask (57 for MMLU) about custom kwargs and shot counts; keep errors only."""
    for name in ("lm_eval", "lm-eval", "lm_eval.api.task", "lm_eval.evaluator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_lm_eval(lm: Any, *, task: str, task_manager: TaskManager, shots: int | None, limit: int | None,
                seed: int) -> LmEvalOutcome:
    quiet_lm_eval()
    results = lm_eval.simple_evaluate(
        model=lm, tasks=[task], task_manager=task_manager, num_fewshot=shots, limit=limit, log_samples=True,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
        bootstrap_iters=1000, verbosity="ERROR")
    token_counts = getattr(lm, "rolling_token_counts", {})
    samples = _samples(results, token_counts)
    metrics = _metrics(results)
    tp = token_perplexity(samples)
    if tp is not None:
        metrics.append(tp)
    task_info = {"versions": results.get("versions", {}), "num_fewshot": results.get("n-shot", {}),
                 "config_hashes": {t: config_hash(c) for t, c in results.get("configs", {}).items()},
                 "n_samples": results.get("n-samples", {})}
    return LmEvalOutcome(metrics=metrics, samples=samples, task_info=task_info)
