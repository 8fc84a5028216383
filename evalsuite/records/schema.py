"""Typed records. lm-eval's ``"acc,none"`` keys become ``MetricRecord(name="acc", filter="none")`` here, once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

SCHEMA_VERSION = 1
Status = Literal["complete", "error", "not_run"]


@dataclass(frozen=True)
class MetricRecord:
    task: str  # the (sub)task or group the value belongs to
    name: str
    value: float | None
    stderr: float | None = None
    higher_is_better: bool | None = None
    n: int | None = None
    filter: str = "none"


@dataclass(frozen=True)
class SampleRecord:
    """One scored item. ``scores`` holds per-item metric values (acc, acc_norm, loglik, n_words, ...)."""

    task: str
    doc_id: int
    doc_hash: str
    prompt_hash: str
    target_hash: str
    scores: dict[str, float]
    target: str = ""
    resps: list[Any] = field(default_factory=list)
    # For the statistics, not the scores: the cluster of items that share a source (HellaSwag: the activity
    # the context was taken from), and each choice's length in characters (lm-eval's acc_norm divides a
    # choice's log-likelihood by it). None in records written before they were kept, and where no such thing.
    cluster: str | None = None
    choice_chars: list[int] | None = None


@dataclass
class UnitRecord:
    """The result of one (model, task) unit. ``status`` is never 'complete' unless every file is written."""

    model: str
    task: str
    status: Status
    unit_hash: str
    kind: str = "lm_eval"
    seconds: float | None = None
    started: str | None = None
    error: str | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    task_info: dict[str, Any] = field(default_factory=dict)
    metrics: list[MetricRecord] = field(default_factory=list)
    samples_sha256: str | None = None
    n_samples: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    record_sha256: str | None = None  # of metrics.json without this field; None in records before it existed
    samples: list[SampleRecord] | None = field(default=None, repr=False)  # loaded lazily, never in metrics.json

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "UnitRecord":
        """The record of a metrics.json body; TypeError/ValueError naming a field of the wrong type."""
        d = dict(d)
        d["metrics"] = [MetricRecord(**m) for m in d.get("metrics", [])]
        d.pop("samples", None)
        unit = cls(**d)
        unit.check_types()
        return unit

    def check_types(self) -> None:
        """What a reader relies on, by type: a hand-edited or foreign file fails here with the field named."""
        if self.status not in ("complete", "error", "not_run"):
            raise ValueError(f"status {self.status!r} is not complete, error or not_run")
        for name in ("model", "task", "unit_hash"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string, found {getattr(self, name)!r}")
        for name in ("model_info", "task_info", "extra"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a mapping, found {type(getattr(self, name)).__name__}")
        if not isinstance(self.n_samples, int) or isinstance(self.n_samples, bool):
            raise TypeError(f"n_samples must be an integer, found {self.n_samples!r}")
        for m in self.metrics:
            if m.value is not None and (isinstance(m.value, bool) or not isinstance(m.value, (int, float))):
                raise TypeError(f"metric {m.task}/{m.name}: value must be a number or null, found {m.value!r}")

    def metric(self, name: str, task: str | None = None) -> MetricRecord | None:
        for m in self.metrics:
            if m.name == name and (task is None or m.task == task):
                return m
        return None

    def samples_frame(self) -> pd.DataFrame:
        """One row per item: task, doc_id, doc_hash, prompt_hash, target_hash, then one column per score."""
        rows = [{"task": s.task, "doc_id": s.doc_id, "doc_hash": s.doc_hash, "prompt_hash": s.prompt_hash,
                 "target_hash": s.target_hash, **s.scores} for s in (self.samples or [])]
        return pd.DataFrame(rows)


@dataclass
class RunManifest:
    suite: str
    run_id: str
    status: Literal["running", "complete", "partial", "interrupted"]
    created: str
    suite_spec: dict[str, Any]
    provenance: dict[str, Any]  # evalsuite commit, library versions, hardware
    units: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<model>/<task>" -> {status, seconds}
    finished: str | None = None
    wall_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION


@dataclass
class RunRecord:
    path: str
    manifest: RunManifest
    units: dict[tuple[str, str], UnitRecord]

    def unit(self, model: str, task: str) -> UnitRecord:
        from evalsuite.errors import RecordError

        try:
            return self.units[(model, task)]
        except KeyError:
            raise RecordError(f"run {self.path} has no record for model {model!r} on task {task!r}") from None

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(m for m, _ in self.units))
