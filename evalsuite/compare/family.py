"""Which metric family a unit's lm-eval task belongs to, and one model's units of a family as one unit.

A suite names lm-eval tasks, and a unit is named by its task. Most families are
one task (``es_wikitext``, ``es_mmlu``, ``es_hellaswag``), but RULER is run in
several shapes, all of them the family ``ruler_es``:

* the group ``ruler_es`` (all 13 tasks; the QA two say "not run: data missing"
  without their SQuAD/HotpotQA files);
* the group ``ruler_es_synthetic`` (the 11 tasks that need no QA files);
* single tasks such as ``ruler_es_niah_single_1``, each a unit of its own.

Every shape records per-item scores named by length, with the subtask on each
item, so the per-length score (mean over the tasks that ran) and its paired
tests are the same computation. When a model has several complete units of a
family (single tasks run one by one) :func:`merge_units` joins them into one
view named ``"<task>+<task>…"``; two units that ran the same subtask are refused
rather than double-counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evalsuite.errors import RecordError
from evalsuite.families import FAMILY_NAMES as FAMILIES  # in table order
from evalsuite.families.ruler.family import RULER, RULER_GROUPS
from evalsuite.records import RunRecord, UnitRecord


def _family_of_one(task: str) -> str | None:
    if task == RULER or task.startswith(RULER + "_"):
        return RULER
    return task if task in FAMILIES else None


def task_family(task: str) -> str | None:
    """The family (an entry of :data:`FAMILIES`) of a unit task or a merged view's name, else None."""
    families = {_family_of_one(t) for t in task.split("+")}
    return families.pop() if len(families) == 1 else None


def is_ruler(task: str) -> bool:
    """True for the RULER family: the groups ``ruler_es``/``ruler_es_synthetic`` and single ``ruler_es_*``."""
    return task_family(task) == RULER


def is_ruler_group(task: str) -> bool:
    return task in RULER_GROUPS


def _order(task: str) -> tuple[int, str]:
    groups = list(RULER_GROUPS)
    return (groups.index(task), "") if task in groups else (len(groups), task)


def family_tasks(run: RunRecord, model: str, family: str) -> list[str]:
    """The model's unit tasks of ``family``, recorded or only listed in the manifest; groups first."""
    tasks = [t for m, t in run.units if m == model]
    tasks += [key.split("/", 1)[1] for key in run.manifest.units if key.split("/", 1)[0] == model]
    return sorted({t for t in tasks if task_family(t) == family}, key=_order)


def family_records(run: RunRecord, model: str, family: str) -> list[UnitRecord]:
    """The model's unit records (any status) of ``family``; groups first, then by name."""
    return [run.units[(model, t)] for t in family_tasks(run, model, family) if (model, t) in run.units]


def not_run_of(unit: UnitRecord) -> dict[str, str]:
    """``unit.extra["not_run"]`` as ``{subtask: reason}`` (records write it as that, or as a list of subtasks)."""
    listed = unit.extra.get("not_run") or {}
    if isinstance(listed, list):
        return {str(t): "not run" for t in listed}
    return {str(t): str(why) for t, why in listed.items()}


def merge_units(units: Sequence[UnitRecord]) -> UnitRecord:
    """One view of a model's complete units of one family: the unit itself when there is one; else
    their items, metrics, data files and config hashes together, named ``"a+b"``. Refuses units of
    different models or families, incomplete ones, and two units that scored the same subtask."""
    if not units:
        raise RecordError("no units to merge")
    if len(units) == 1:
        return units[0]
    names = "+".join(u.task for u in units)
    if len({u.model for u in units}) != 1 or task_family(names) is None:
        raise RecordError(f"cannot view units {names} of models {sorted({u.model for u in units})} as one")
    seen: dict[str, str] = {}
    for unit in units:
        if unit.status != "complete" or unit.samples is None:
            raise RecordError(f"{unit.task}: {unit.model!r} is {unit.status}; cannot be joined with {names}")
        for sub in dict.fromkeys(s.task for s in unit.samples):
            if sub in seen:
                raise RecordError(f"{sub}: scored by both {seen[sub]} and {unit.task} for {unit.model!r}; "
                                  "publish or compare those units from separate runs")
            seen[sub] = unit.task
    first = units[0]
    data_files: dict[str, str] = {}
    config_hashes: dict[str, str] = {}
    not_run: dict[str, str] = {}
    for unit in units:
        data_files.update(unit.task_info.get("data_files") or {})
        config_hashes.update(unit.task_info.get("config_hashes") or {})
        not_run.update(not_run_of(unit))
    seconds = [u.seconds for u in units if u.seconds is not None]
    return replace(first, task=names, unit_hash="+".join(u.unit_hash for u in units),
                   seconds=sum(seconds) if seconds else None,
                   task_info={"spec": {"task": names}, "data_files": data_files, "config_hashes": config_hashes},
                   metrics=[m for u in units for m in u.metrics], samples_sha256=None,
                   n_samples=sum(u.n_samples for u in units), extra={"not_run": not_run} if not_run else {},
                   samples=[s for u in units for s in u.samples or []])
