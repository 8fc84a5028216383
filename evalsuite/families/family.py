"""The type that describes a task family: the facts every stage needs about one benchmark.

A family is what a suite names as a task (``es_mmlu``) together with its
subtasks (``es_mmlu_anatomy``): its lm-eval YAML lives in ``tasks/<task_dir>/``,
it reads some files below a local data folder (their sha256 pins a result to
its data), and one of its lm-eval metrics is the number a reader looks for
first; :class:`MetricSpec` declares each of its comparable metrics. The family modules beside this one
fill them in; stages read it from
:data:`evalsuite.families.FAMILIES` instead of keeping their own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# How a metric is tested (evalsuite.compare.metrics): exact McNemar on 0/1 items, the paired mean of a
# score, the log-PPL ratio of sums, or a continuous per-item score (an accuracy's companion).
Kind = Literal["binary", "mean", "log_ppl", "score"]


@dataclass(frozen=True)
class Family:
    """One task family. ``data_files`` are files or folders relative to the data folder."""

    name: str  # the suite task (an lm-eval task or group) that names the family: "es_mmlu"
    key: str  # the short name its comparable metrics carry (MetricSpec.family, --margin keys): "mmlu"
    task_dir: str  # its lm-eval YAML and hooks: tasks/<task_dir>/
    data_files: tuple[str, ...]  # what it reads below a local data folder, in provenance order
    headline: str | None  # the lm-eval metric `evalsuite run`'s table shows; None: the family prints its own

    def owns(self, task: str) -> bool:
        """True for the family's own task and its subtasks (``es_mmlu``, ``es_mmlu_anatomy``)."""
        return task == self.name or task.startswith(self.name + "_")

    def files_read(self, task: str, data_dir: Path) -> dict[str, Path]:
        """``{name relative to the data folder: file}`` for every local file ``task`` reads (those that exist).

        Families whose subtasks read only part of the data (an MMLU subject, a RULER QA task) override this.
        """
        return {str(f.relative_to(data_dir)): f for rel in self.data_files for f in files_below(data_dir, rel)}


@dataclass(frozen=True)
class MetricSpec:
    """A comparable metric: its key (used in ``--margin``), label, source unit task and test shape.

    A family declares its own (``METRICS`` in its module); ``evalsuite.compare.metrics`` maps paired
    records to each metric's per-item arrays and adds each accuracy's continuous companion row."""

    key: str
    label: str
    unit_task: str
    kind: Kind
    higher_is_better: bool
    family: str  # wikitext | mmlu | hellaswag | ruler
    headline: bool  # part of the default regression gate
    order: float  # position in tables
    companion_of: str | None = None  # the accuracy a companion row (p(gold) or margin) accompanies


def files_below(data_dir: Path, rel: str) -> list[Path]:
    """The files at ``data_dir/rel``: the file itself, every file below a folder (sorted), or none."""
    path = data_dir / rel
    if path.is_dir():
        return sorted(x for x in path.rglob("*") if x.is_file())
    return [path] if path.exists() else []
