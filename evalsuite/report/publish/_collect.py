"""Gather what the leaderboard shows from run records: per-model scores with intervals, the
comparisons, RULER detail, diagnostics, what was not run, and each run's provenance and status.

Nothing here formats text; :mod:`evalsuite.report.publish._tables` does that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.compare.family import (RULER, family_records, is_ruler, is_ruler_group, merge_units, not_run_of,
                                      task_family)
from evalsuite.compare.metrics import UNIT_TASKS, ruler_task_means, single_metrics
from evalsuite.compare.table import ComparisonTable, as_runs, collect_models, compare_runs
from evalsuite.compare.tests import ScoreEstimate, row_rng, score_estimate
from evalsuite.errors import RecordError
from evalsuite.records import RunRecord, UnitRecord

_PER_LAYER = ("first_token_share", "first_token_share_mean", "max_abs_hidden", "max_abs_hidden_mean")
DIAGNOSTIC_METRICS = ("first_token_share_mean", "max_abs_hidden_mean", "max_abs_hidden_max", "gate_mean",
                      "gate_frac_below_0_1")


@dataclass(frozen=True)
class ModelResults:
    """One model's own numbers (not compared with anything)."""

    name: str
    role: str
    run_id: str
    scores: dict[str, ScoreEstimate]  # metric key -> value with CI (PPL for log_ppl)
    ruler_tasks: dict[tuple[str, int], tuple[float, int]]  # (subtask, length) -> (mean, items)
    ruler_not_run: dict[str, str]  # subtask -> reason
    diagnostics: dict[str, float]  # DIAGNOSTIC_METRICS present
    diagnostics_extra: dict[str, Any] | None  # the DiagnosticsResult JSON, for the per-layer plots
    unfinished: dict[str, tuple[str, str]]  # task -> (status, reason) for units that are not complete


@dataclass(frozen=True)
class DataSummary:
    task: str
    n_files: int
    digest: str  # sha256 over the sorted "path sha256" lines, first 16 hex; "" for hub data
    same_for_all_models: bool


@dataclass(frozen=True)
class RunSummary:
    path: str
    suite: str
    run_id: str
    status: str  # as the manifest says
    complete: bool  # manifest complete AND every unit complete or not_run (data missing)
    problems: tuple[str, ...]  # why it is not complete
    created: str
    finished: str | None
    provenance: dict[str, Any]
    data: tuple[DataSummary, ...]
    n_units: int


@dataclass(frozen=True)
class Leaderboard:
    suites: tuple[str, ...]
    models: tuple[ModelResults, ...]
    runs: tuple[RunSummary, ...]
    comparison: ComparisonTable
    ppl_unit: str | None  # "token" / "word" / None (no perplexity)
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.runs)


def gather(run_dirs: Sequence[RunRecord | str | Path], *, n_resamples: int, seed: int,
           correction: str, confidence_level: float = 0.95) -> Leaderboard:
    runs = as_runs(list(run_dirs))
    models = collect_models(runs)
    notes: list[str] = []
    ppl_unit = _ppl_unit(runs, notes)
    results = []
    for name, model in models.items():
        results.append(_model_results(model.run, name, model.role, ppl_unit, n_resamples, seed, confidence_level,
                                      notes))
    comparison = compare_runs(runs, correction=correction, n_resamples=n_resamples, rng=seed,
                              confidence_level=confidence_level, strict=False)
    return Leaderboard(suites=tuple(dict.fromkeys(r.manifest.suite for r in runs)), models=tuple(results),
                       runs=tuple(_run_summary(r) for r in runs), comparison=comparison, ppl_unit=ppl_unit,
                       notes=tuple([*notes, *comparison.notes]))


def _complete(run: RunRecord, model: str, task: str) -> UnitRecord | None:
    unit = run.units.get((model, task))
    return unit if unit is not None and unit.status == "complete" else None


def _complete_family(run: RunRecord, model: str, family: str) -> UnitRecord | None:
    """The model's complete units of a metric family as one unit (RULER: a group, or single tasks)."""
    units = [u for u in family_records(run, model, family) if u.status == "complete"]
    return merge_units(units) if units else None


def _ppl_unit(runs: Sequence[RunRecord], notes: list[str]) -> str | None:
    """Per token when every model has token counts and they agree per document, else per word."""
    counts: list[dict[tuple[str, str], float] | None] = []
    for run in runs:
        for model in run.models:
            unit = _complete(run, model, "es_wikitext")
            if unit is None:
                continue
            frame = unit.samples_frame()
            if "n_tokens" not in frame or frame["n_tokens"].isna().any():
                counts.append(None)
            else:
                counts.append(dict(zip(zip(frame["task"], frame["doc_hash"]), frame["n_tokens"])))
    if not counts:
        return None
    if any(c is None for c in counts):
        return "word"
    if any(c != counts[0] for c in counts[1:]):
        notes.append("the models tokenize WikiText differently, so perplexity is reported per word "
                     "(per-token perplexities of different tokenizers are not comparable)")
        return "word"
    return "token"


def _model_results(run: RunRecord, name: str, role: str, ppl_unit: str | None, n_resamples: int, seed: int,
                   level: float, notes: list[str]) -> ModelResults:
    scores: dict[str, ScoreEstimate] = {}
    unfinished: dict[str, tuple[str, str]] = {}
    for (model, task), unit in run.units.items():
        if model == name and unit.status != "complete":
            unfinished[task] = (unit.status, unit.error or "")
    for key, info in run.manifest.units.items():
        model, task = key.split("/", 1)
        if model == name and (model, task) not in run.units:
            unfinished[task] = (str(info.get("status", "missing")), str(info.get("error") or "no record written"))
    ruler = None
    for family in UNIT_TASKS:
        try:
            unit = _complete_family(run, name, family)
            if unit is None:
                continue
            for data in single_metrics(unit, ppl_unit=ppl_unit if family == "es_wikitext" else None):
                scores[data.spec.key] = score_estimate(data, n_resamples=n_resamples, confidence_level=level,
                                                       rng=row_rng(seed, "score", name, data.spec.key))
            if family == RULER:
                ruler = unit
        except RecordError as exc:
            notes.append(f"{name}: {family} not scored: {exc}")
    for (model, task), unit in run.units.items():  # never drop a finished unit silently
        if model == name and unit.status == "complete" and task != "diagnostics" and task_family(task) is None:
            notes.append(f"{name}: {task} ran but this page has no table for it (it reports es_wikitext, the full "
                         "es_mmlu, es_hellaswag, the RULER tasks and diagnostics); its records are in the run folder")
    diag = _complete(run, name, "diagnostics")
    return ModelResults(
        name=name, role=role, run_id=run.manifest.run_id, scores=scores,
        ruler_tasks=_ruler_task_means(ruler, name, notes),
        ruler_not_run=_ruler_not_run(run, name, ruler),
        diagnostics={m.name: float(m.value) for m in (diag.metrics if diag else [])
                     if m.name in DIAGNOSTIC_METRICS and m.value is not None},
        diagnostics_extra=diag.extra if diag is not None and all(k in diag.extra for k in _PER_LAYER) else None,
        unfinished=unfinished)


def _ruler_task_means(ruler: UnitRecord | None, name: str,
                      notes: list[str]) -> dict[tuple[str, int], tuple[float, int]]:
    if ruler is None:
        return {}
    try:
        return ruler_task_means(ruler)
    except RecordError as exc:
        notes.append(f"{name}: {ruler.task} per-task scores not shown: {exc}")
        return {}


def _ruler_not_run(run: RunRecord, name: str, ruler: UnitRecord | None) -> dict[str, str]:
    """RULER subtasks that did not run, from any of the shapes a record can say it in:
    a unit of a single task ``ruler_es_<task>`` that is not complete (a group unit that is not
    complete, ``ruler_es`` or ``ruler_es_synthetic``, is in ``unfinished``); in a complete RULER unit,
    ``extra["not_run"]`` as ``{subtask: reason}`` or a list of subtasks; or a subtask metric whose
    value is None."""
    out: dict[str, str] = {}
    for (model, task), unit in run.units.items():
        if model == name and is_ruler(task) and not is_ruler_group(task) and unit.status != "complete":
            out[task] = unit.error or unit.status
    if ruler is not None:
        out.update(not_run_of(ruler))
        measured = {s.task for s in ruler.samples or []}
        for m in ruler.metrics:
            if m.value is None and is_ruler(m.task) and not is_ruler_group(m.task) and m.task not in measured:
                out.setdefault(m.task, "not run")
    return out


def _run_summary(run: RunRecord) -> RunSummary:
    manifest = run.manifest
    problems = [] if manifest.status == "complete" else [f"the run's status is {manifest.status!r}"]
    for key, info in manifest.units.items():
        model, task = key.split("/", 1)
        unit = run.units.get((model, task))
        status = unit.status if unit is not None else str(info.get("status", "missing"))
        if status not in ("complete", "not_run"):
            problems.append(f"{key} is {status}")
    return RunSummary(path=run.path, suite=manifest.suite, run_id=manifest.run_id, status=manifest.status,
                      complete=not problems, problems=tuple(problems), created=manifest.created,
                      finished=manifest.finished, provenance=manifest.provenance, data=_data_summary(run),
                      n_units=len(manifest.units))


def _data_summary(run: RunRecord) -> tuple[DataSummary, ...]:
    by_task: dict[str, list[dict[str, str]]] = {}
    for (_, task), unit in run.units.items():
        if unit.status == "complete":
            by_task.setdefault(task, []).append(unit.task_info.get("data_files") or {})
    out = []
    for task, file_sets in by_task.items():
        first = file_sets[0]
        lines = "".join(f"{path} {sha}\n" for path, sha in sorted(first.items()))
        digest = hashlib.sha256(lines.encode()).hexdigest()[:16] if first else ""
        out.append(DataSummary(task, len(first), digest, all(f == first for f in file_sets[1:])))
    return tuple(out)


def ruler_lengths(models: Sequence[ModelResults]) -> list[int]:
    keys = {k for m in models for k in m.scores if k.startswith("ruler_")}
    return sorted(int(k.removeprefix("ruler_")) for k in keys)
