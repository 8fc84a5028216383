"""Synthetic run folders for the compare, publish and check tests (no model, no lm-eval).

``write_run(root, [ModelPlan(...), ...])`` writes ``root/<suite>/<run_id>/`` with
a manifest and one record per (model, task) through ``evalsuite.records``,
exactly as the runner does. Scores are drawn from a seeded generator: every
item has a difficulty shared by all models (so models are correlated, as real
ones are) and a model's ``skill`` moves its accuracy. Dates, versions,
hardware and hashes are fixed, so rendered pages can be compared with golden
files.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.records import (
    MetricRecord,
    RunManifest,
    SampleRecord,
    UnitRecord,
    atomic_write_json,
    read_unit,
    write_unit,
)

CREATED = "2026-01-02T03:04:05+00:00"
FINISHED = "2026-01-02T04:05:06+00:00"
PROVENANCE = {
    "evalsuite_commit": "0123456789abcdef0123456789abcdef01234567",
    "versions": {"evalsuite": "0.1.0", "lm_eval": "0.4.13", "transformers": "5.17.0", "torch": "2.11.0",
                 "numpy": "2.4.6", "scipy": "1.16.0"},
    "hardware": {"platform": "Linux-test", "python": "3.11.0", "cpu": "Test CPU", "cpu_count": 16,
                 "gpus": ["NVIDIA H200"], "cuda": "12.8"},
    "data_dir": "/data/evalsuite",
}
MMLU_SUBJECTS = ("abstract_algebra", "philosophy", "sociology", "marketing")  # one per category
RULER_TASKS = ("niah_single_1", "niah_multikey_1", "vt")
RULER_LENGTHS = (4096, 32768, 131072)
ALL_TASKS = ("es_wikitext", "es_mmlu", "es_hellaswag", "ruler_es", "diagnostics")


@dataclass(frozen=True)
class ModelPlan:
    """A synthetic model: ``skill`` shifts every accuracy, ``nll_scale`` multiplies per-token loss."""

    name: str
    role: str = "candidate"
    compare_to: str | None = None
    skill: float = 0.0
    nll_scale: float = 1.0
    gate: str | None = None  # None, "headwise" or "elementwise": diagnostics carry gate stats
    seed: int = 0
    tasks: tuple[str, ...] = ALL_TASKS
    failed: dict[str, str] = field(default_factory=dict)  # task -> error message (status "error"/"not_run")


@dataclass(frozen=True)
class Sizes:
    mmlu_per_subject: int = 40
    hellaswag: int = 120
    wikitext_docs: int = 16
    ruler_per_task: int = 8


def _h(*parts: Any) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _sample(task: str, doc_id: int, scores: dict[str, float], *, prompt_salt: str = "") -> SampleRecord:
    return SampleRecord(task=task, doc_id=doc_id, doc_hash=_h("doc", task, doc_id)[:32],
                        prompt_hash=_h("prompt", task, doc_id, prompt_salt)[:32],
                        target_hash=_h("target", task, doc_id)[:32], scores=scores)


def _correct(difficulty: np.ndarray, plan: ModelPlan, task: str, base: float) -> np.ndarray:
    """1.0 where the model gets the item right: difficulty shared, a little per-model noise."""
    noise = np.random.default_rng([plan.seed, int(_h(task)[:8], 16)]).normal(0.0, 0.15, difficulty.size)
    return (difficulty + noise < base + plan.skill).astype(float)


def _difficulty(task: str, n: int) -> np.ndarray:
    return np.random.default_rng(int(_h("difficulty", task)[:8], 16)).uniform(0.0, 1.0, n)


def _task_info(task: str, subtasks: list[str]) -> dict[str, Any]:
    files = {f"{task}/part-{i}.jsonl": _h("file", task, i) for i in range(2)}
    return {"spec": {"task": task}, "data_files": files, "versions": {t: 1.0 for t in subtasks},
            "config_hashes": {t: _h("config", t)[:16] for t in subtasks}, "num_fewshot": {t: 0 for t in subtasks}}


def _mean_metric(task: str, name: str, values: list[float], hib: bool = True) -> MetricRecord:
    return MetricRecord(task=task, name=name, value=float(np.mean(values)), stderr=None, higher_is_better=hib,
                        n=len(values))


def _mmlu(plan: ModelPlan, sizes: Sizes) -> tuple[list[SampleRecord], list[MetricRecord], list[str]]:
    samples, subtasks = [], []
    for subject in MMLU_SUBJECTS:
        task = f"es_mmlu_{subject}"
        subtasks.append(task)
        acc = _correct(_difficulty(task, sizes.mmlu_per_subject), plan, task, 0.55)
        samples += [_sample(task, i, {"acc": float(a)}) for i, a in enumerate(acc)]
    metrics = [_mean_metric("es_mmlu", "acc", [s.scores["acc"] for s in samples])]
    return samples, metrics, subtasks


def _hellaswag(plan: ModelPlan, sizes: Sizes) -> tuple[list[SampleRecord], list[MetricRecord], list[str]]:
    task = "es_hellaswag"
    diff = _difficulty(task, sizes.hellaswag)
    acc = _correct(diff, plan, task, 0.45)
    acc_norm = _correct(diff, replace(plan, seed=plan.seed + 1000), task, 0.6)
    samples = [_sample(task, i, {"acc": float(a), "acc_norm": float(b)})
               for i, (a, b) in enumerate(zip(acc, acc_norm))]
    metrics = [_mean_metric(task, "acc", list(acc)), _mean_metric(task, "acc_norm", list(acc_norm))]
    return samples, metrics, [task]


def _wikitext(plan: ModelPlan, sizes: Sizes) -> tuple[list[SampleRecord], list[MetricRecord], list[str]]:
    task = "es_wikitext"
    rng = np.random.default_rng(7)
    words = rng.integers(80, 600, sizes.wikitext_docs)
    tokens = np.round(words * rng.uniform(1.2, 1.5, sizes.wikitext_docs))
    per_token = rng.uniform(1.6, 2.0, sizes.wikitext_docs)  # nats per token, shared by models
    noise = np.random.default_rng([plan.seed, 99]).normal(0.0, 0.01, sizes.wikitext_docs)
    loglik = -tokens * (per_token * plan.nll_scale + noise)
    samples = [_sample(task, i, {"loglik": float(ll), "n_words": float(w), "n_tokens": float(t),
                                 "n_bytes": float(5 * w)})
               for i, (ll, w, t) in enumerate(zip(loglik, words, tokens))]
    metrics = [MetricRecord(task=task, name="word_perplexity", value=math.exp(-loglik.sum() / words.sum()),
                            higher_is_better=False, n=len(samples)),
               MetricRecord(task=task, name="token_perplexity", value=math.exp(-loglik.sum() / tokens.sum()),
                            higher_is_better=False, n=len(samples))]
    return samples, metrics, [task]


def _ruler(plan: ModelPlan, sizes: Sizes) -> tuple[list[SampleRecord], list[MetricRecord], list[str]]:
    samples, subtasks, metrics = [], [], []
    for name in RULER_TASKS:
        task = f"ruler_es_{name}"
        subtasks.append(task)
        doc_id = 0
        for length in RULER_LENGTHS:
            base = 0.95 - 0.12 * math.log2(length / 4096)  # harder with length, as in the paper
            diff = _difficulty(f"{task}/{length}", sizes.ruler_per_task)
            noise = np.random.default_rng([plan.seed, length, int(_h(task)[:8], 16)]).normal(0, 0.1, diff.size)
            score = np.clip(np.round(4 * (base + plan.skill - diff + noise + 0.3)) / 4, 0.0, 1.0)  # quarters
            samples += [_sample(task, doc_id + i, {str(length): float(s)}) for i, s in enumerate(score)]
            metrics.append(_mean_metric(task, str(length), list(score)))
            doc_id += sizes.ruler_per_task
    return samples, metrics, subtasks


def diagnostics_extra(plan: ModelPlan, layers: int = 4) -> dict[str, Any]:
    """A DiagnosticsResult JSON (evalsuite.diagnostics.result) for the synthetic model."""
    share = [round(0.02 + 0.01 * i * (0.3 if plan.gate else 1.0), 4) for i in range(layers)]
    hidden = [round((12.0 if plan.gate is None else 6.0) * (1 + i), 2) for i in range(layers)]
    gates = None
    if plan.gate:
        gates = {"kind": plan.gate, "mean_per_layer": [0.4] * layers, "frac_below_0_1_per_layer": [0.05] * layers,
                 "mean": 0.4, "frac_below_0_1": 0.05, "histogram_edges": [i / 20 for i in range(21)],
                 "histogram_counts": [1] * 20, "n_values": 20}
    return {"schema_version": 1, "n_layers": layers, "first_token_share": share, "max_abs_hidden": hidden,
            "first_token_share_mean": float(np.mean(share)), "max_abs_hidden_mean": float(np.mean(hidden)),
            "max_abs_hidden_max": float(max(hidden)), "gates": gates, "n_tokens": 2048, "n_windows": 4,
            "window": 512}


def _diagnostics(plan: ModelPlan) -> tuple[dict[str, Any], list[MetricRecord]]:
    extra = diagnostics_extra(plan)
    values = {k: extra[k] for k in ("first_token_share_mean", "max_abs_hidden_mean", "max_abs_hidden_max")}
    if extra["gates"]:
        values.update(gate_mean=extra["gates"]["mean"], gate_frac_below_0_1=extra["gates"]["frac_below_0_1"])
    return extra, [MetricRecord(task="diagnostics", name=k, value=float(v), n=2048) for k, v in values.items()]


_BUILDERS = {"es_mmlu": _mmlu, "es_hellaswag": _hellaswag, "es_wikitext": _wikitext, "ruler_es": _ruler}


def make_unit(plan: ModelPlan, task: str, sizes: Sizes = Sizes()) -> UnitRecord:
    model_info = {"source": {"path": f"/models/{plan.name}"}, "weights_sha256": _h("weights", plan.name)[:64],
                  "dtype": "bfloat16", "rope": {"rope_type": "default"}}
    if task in plan.failed:
        message = plan.failed[task]
        status = "not_run" if "not run" in message else "error"
        return UnitRecord(model=plan.name, task=task, status=status, unit_hash="", error=message,
                          started=CREATED, task_info={"spec": {"task": task}}, samples=[])
    unit = UnitRecord(model=plan.name, task=task, status="complete", unit_hash=_h("unit", plan.name, task)[:16],
                      kind="diagnostics" if task == "diagnostics" else "lm_eval", seconds=12.5, started=CREATED,
                      model_info=model_info)
    if task == "diagnostics":
        unit.extra, unit.metrics = _diagnostics(plan)
        unit.task_info = {"spec": {"task": task}, "data_files": {}}
        unit.samples = []
        return unit
    samples, metrics, subtasks = _BUILDERS[task](plan, sizes)
    unit.samples, unit.metrics, unit.task_info = samples, metrics, _task_info(task, subtasks)
    if task == "ruler_es":
        hotpot = "not run: data missing (hotpotqa/hotpot_dev_distractor_v1.json)"
        unit.extra = {"not_run": {"ruler_es_qa_squad": "not run: data missing (squad/dev-v2.0.json)",
                                  "ruler_es_qa_hotpot": hotpot}}
    return unit


def write_run(root: Path, plans: list[ModelPlan], *, suite: str = "synth", run_id: str = "run-1",
              status: str = "complete", sizes: Sizes = Sizes(), pending: tuple[str, ...] = ()) -> Path:
    """Write a run folder ``root/suite/run_id`` (+ a ``latest`` link); ``pending`` keys ("model/task") are
    listed in the manifest but never written, as after a crash."""
    run_dir = root / suite / run_id
    units: dict[str, dict[str, Any]] = {}
    for plan in plans:
        for task in plan.tasks:
            key = f"{plan.name}/{task}"
            if key in pending:
                units[key] = {"status": "pending"}
                continue
            unit = make_unit(plan, task, sizes)
            write_unit(run_dir, unit)
            units[key] = {"status": unit.status, "seconds": unit.seconds} if unit.status == "complete" else {
                "status": unit.status, "error": unit.error}
    suite_spec = {"name": suite, "models": [{"name": p.name, "role": p.role, "compare_to": p.compare_to,
                                              "source": {"path": f"/models/{p.name}"}} for p in plans],
                  "tasks": [{"task": t} for t in ALL_TASKS], "seed": 1234}
    manifest = RunManifest(suite=suite, run_id=run_id, status=status, created=CREATED, suite_spec=suite_spec,
                           provenance=dict(PROVENANCE), units=units,
                           finished=FINISHED if status != "running" else None, wall_seconds=3661.0)
    atomic_write_json(run_dir / "manifest.json", asdict(manifest))
    link = root / suite / "latest"
    if not link.exists():
        link.symlink_to(run_id)
    return run_dir


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def rewrite_unit(run_dir: Path, model: str, task: str, edit) -> None:
    """Load a unit, let ``edit(unit)`` change it in place, and write it back (hashes recomputed)."""
    unit = read_unit(run_dir, model, task)
    assert unit is not None, f"no unit {model}/{task} in {run_dir}"
    edit(unit)
    write_unit(run_dir, unit)


def degrade(run_dir: Path, model: str, task: str, score: str, fraction: float, *, seed: int = 0) -> None:
    """Turn ``fraction`` of the model's correct items on ``score`` wrong (or worsen loglik by that fraction)."""

    def edit(unit: UnitRecord) -> None:
        rng = np.random.default_rng(seed)
        new = []
        for s in unit.samples:
            scores = dict(s.scores)
            if score == "loglik":
                scores["loglik"] = scores["loglik"] * (1.0 + fraction)
            elif scores.get(score) == 1.0 and rng.random() < fraction:
                scores[score] = 0.0
            new.append(replace(s, scores=scores))
        unit.samples = new

    rewrite_unit(run_dir, model, task, edit)


def reprompt(run_dir: Path, model: str, task: str, doc_ids: set[int]) -> None:
    """Give some items a different prompt hash (as if the template or shots changed)."""

    def edit(unit: UnitRecord) -> None:
        unit.samples = [replace(s, prompt_hash=_h("other prompt", s.task, s.doc_id)[:32]) if s.doc_id in doc_ids
                        else s for s in unit.samples]

    rewrite_unit(run_dir, model, task, edit)


BASE = ModelPlan("base", role="baseline", seed=1)
GATED = ModelPlan("gated", role="gated", skill=0.08, nll_scale=0.97, gate="elementwise", seed=2)
