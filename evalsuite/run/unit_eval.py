"""One (model, task) unit through lm-eval, converted at once into typed records."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator

import lm_eval
from lm_eval.tasks import TaskManager

from evalsuite.errors import DataMissingError
from evalsuite.records import MetricRecord, SampleRecord
from evalsuite.run.quiet import silence_git

# Paired counts carried by lm-eval's perplexity-style metrics: (loglik, count).
_COUNT_NAMES = {"word_perplexity": "n_words", "byte_perplexity": "n_bytes", "bits_per_byte": "n_bytes"}


@dataclass(frozen=True)
class LmEvalOutcome:
    metrics: list[MetricRecord]
    samples: list[SampleRecord]
    task_info: dict[str, Any]
    not_run: dict[str, str]  # subtask -> reason, for group members whose data is missing


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


# The doc field whose value items share when they come from one source (a cluster for the resampling tests).
_CLUSTER_FIELDS = {"es_hellaswag": "activity_label"}


def _cluster(task: str, doc: Any) -> str | None:
    name = _CLUSTER_FIELDS.get(task)
    value = doc.get(name) if name is not None and isinstance(doc, dict) else None
    return None if value is None else str(value)


def _choice_chars(args: list[Any], delimiter: str) -> list[int] | None:
    """Each choice's length in characters as lm-eval's acc_norm counts it (the continuation less the target
    delimiter); None unless the row is a multiple-choice row of (context, continuation) pairs."""
    pairs = [a for a in args if isinstance(a, (list, tuple)) and len(a) == 2 and all(isinstance(x, str) for x in a)]
    if len(pairs) < 2 or len(pairs) != len(args):
        return None
    return [len(c[len(delimiter):] if c.startswith(delimiter) else c) for _, c in pairs]


def _samples(results: dict[str, Any], token_counts: dict[str, int],
             truncated: dict[str, int] | None = None) -> list[SampleRecord]:
    out: list[SampleRecord] = []
    delimiters = {t: str((c or {}).get("target_delimiter", " ")) for t, c in results.get("configs", {}).items()}
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
            cut = max((truncated.get(a[0], 0) for a in args if isinstance(a, (list, tuple)) and a
                       and isinstance(a[0], str)), default=0) if truncated else 0
            if cut:  # `truncation: left`: the item was scored on a context cut as stock hf cuts it
                scores["truncated_tokens"] = float(cut)
            target = row.get("target")
            out.append(SampleRecord(task=task, doc_id=int(row["doc_id"]), doc_hash=row["doc_hash"],
                                    prompt_hash=row["prompt_hash"], target_hash=row["target_hash"], scores=scores,
                                    target=target if isinstance(target, str) and len(target) < 512 else str(target)[:512],
                                    resps=_resps(row), cluster=_cluster(task, row.get("doc")),
                                    choice_chars=_choice_chars(args, delimiters.get(task, " "))))
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


# Machine-specific values in lm-eval's config dump: where data and tokenizer live, where the YAML was,
# and function reprs carrying memory addresses. Data bytes are pinned by sha256 elsewhere and items by
# their prompt/target hashes, so leaving these out makes the hash mean "same task definition".
_LOCAL_METADATA = ("data_dir", "config_source", "tokenizer")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def config_hash(config: dict[str, Any]) -> str:
    config = dict(config)
    config["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items() if k not in _LOCAL_METADATA}
    text = _ADDRESS.sub("", json.dumps(config, sort_keys=True, default=str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def quiet_lm_eval() -> None:
    """lm-eval logs a warning per subtask (57 for MMLU) about custom kwargs and shot counts; keep errors only."""
    for name in ("lm_eval", "lm-eval", "lm_eval.api.task", "lm_eval.evaluator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    silence_git()  # its `git describe` prints "fatal: not a git repository" outside a checkout


def _group_members(task_manager: TaskManager, task: str) -> list[str] | None:
    entry = task_manager.task_index.get(task)
    members = entry.cfg.get("task") if entry is not None and entry.cfg.get("group") == task else None
    return [m for m in members if isinstance(m, str)] if isinstance(members, list) else None


def _evaluate(lm: Any, task: str, task_manager: TaskManager, shots: int | None, limit: int | None,
              seed: int) -> tuple[dict[str, Any], dict[str, str]]:
    """simple_evaluate on the task; if a group member reports its data missing ("<name>: not run: ..."),
    run the other members and return that member's reason, so one absent file costs one subtask only."""
    tasks, not_run = [task], {}
    while True:
        try:
            return lm_eval.simple_evaluate(
                model=lm, tasks=tasks, task_manager=task_manager, num_fewshot=shots, limit=limit,
                log_samples=True, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                fewshot_random_seed=seed, bootstrap_iters=1000, verbosity="ERROR"), not_run
        except DataMissingError as exc:
            members = _group_members(task_manager, task) if tasks == [task] else tasks
            short = str(exc).split(":", 1)[0]  # the raiser names its task first ("qa_squad: not run: ...")
            failing = [m for m in members or [] if m == short or m.endswith("_" + short)]
            if len(failing) != 1:
                raise
            not_run[failing[0]] = str(exc)
            tasks = [m for m in members if m != failing[0]]
            if not tasks:
                raise


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Inside the block, the garbage collector's full passes skip every object that existed before it.

    lm-eval keeps ~10 containers per request alive (Instances, docs, per-sample dicts), which triggers
    full collections; each one walks the whole heap, and with evalsuite, torch and transformers imported
    that is ~430,000 objects and ~0.22 s a pass on a 2-core CPU host: 3 passes were ~0.8 s of the ~1.7 s
    lm-eval spent outside the LM on 0-shot HellaSwag. ``gc.freeze`` moves the existing objects to the
    permanent generation, so full passes walk only what the evaluation made; ``gc.unfreeze`` puts them
    back afterwards. Nothing is freed differently except that cyclic garbage already present when the
    block starts waits until the next full pass after it. Left alone if the collector is off or a caller
    already froze objects (its own freeze must not be undone here).
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_lm_eval(lm: Any, *, task: str, task_manager: TaskManager, shots: int | None, limit: int | None,
                seed: int) -> LmEvalOutcome:
    quiet_lm_eval()
    getattr(lm, "truncated_tokens", {}).clear()  # per unit, like the rolling token counts
    with frozen_heap():  # the conversion below allocates ~10 objects a sample too
        results, not_run = _evaluate(lm, task, task_manager, shots, limit, seed)
        token_counts = getattr(lm, "rolling_token_counts", {})
        samples = _samples(results, token_counts, getattr(lm, "truncated_tokens", None))
    metrics = _metrics(results)
    tp = token_perplexity(samples)
    if tp is not None:
        metrics.append(tp)
    task_info = {"versions": results.get("versions", {}), "num_fewshot": results.get("n-shot", {}),
                 "config_hashes": {t: config_hash(c) for t, c in results.get("configs", {}).items()},
                 "n_samples": results.get("n-samples", {})}
    return LmEvalOutcome(metrics=metrics, samples=samples, task_info=task_info, not_run=not_run)
