"""Reshape the synthetic runs of ``tests/conftest_records.py`` into the other ways a suite runs RULER.

``write_run`` records RULER as the group ``ruler_es`` (its QA tasks "not run:
data missing"). :func:`split_ruler` replaces a model's ``ruler_es`` unit by
units of other names with the same items: the group ``ruler_es_synthetic``, or
single tasks such as ``ruler_es_vt``, as a suite that lists them would record
them. :func:`add_unit` adds a unit that did not complete (e.g. a single QA task
"not run: data missing").
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from tests.conftest_records import CREATED
from evalsuite.records import UnitRecord, atomic_write_json, read_unit, unit_dir, write_unit

SYNTHETIC = "ruler_es_synthetic"


def _replace_manifest_entry(run_dir: Path, old: str | None, new: Mapping[str, dict]) -> None:
    """Put ``new`` entries where ``old`` was in the manifest's unit list (at the end when ``old`` is None)."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    units: dict[str, dict] = {}
    for key, info in manifest["units"].items():
        if key == old:
            units.update(new)
        else:
            units[key] = info
    if old is None:
        units.update(new)
    manifest["units"] = units
    atomic_write_json(path, manifest)


def split_ruler(run_dir: Path, model: str, units: Mapping[str, Sequence[str] | None]) -> None:
    """Replace the model's ``ruler_es`` unit by one unit per key holding the given subtasks
    (``ruler_es_<name>``; None: every subtask it scored). The new units carry no QA "not run" list."""
    group = read_unit(run_dir, model, "ruler_es")
    assert group is not None and group.status == "complete", f"{model} has no complete ruler_es unit"
    shutil.rmtree(unit_dir(run_dir, model, "ruler_es"))
    entries = {}
    for task, subtasks in units.items():
        keep = set(subtasks) if subtasks is not None else {s.task for s in group.samples}
        info = dict(group.task_info)
        info["spec"] = {"task": task}
        for field in ("versions", "config_hashes", "num_fewshot"):
            info[field] = {k: v for k, v in (group.task_info.get(field) or {}).items() if k in keep}
        unit = replace(group, task=task, task_info=info, extra={},
                       metrics=[m for m in group.metrics if m.task in keep],
                       samples=[s for s in group.samples if s.task in keep])
        write_unit(run_dir, unit)
        entries[f"{model}/{task}"] = {"status": "complete", "seconds": unit.seconds}
    _replace_manifest_entry(run_dir, f"{model}/ruler_es", entries)


def add_unit(run_dir: Path, model: str, task: str, status: str, error: str) -> None:
    """Record a unit that did not complete ("not_run" or "error") and list it in the manifest."""
    unit = UnitRecord(model=model, task=task, status=status, unit_hash="", error=error, started=CREATED,
                      task_info={"spec": {"task": task}}, samples=[])
    write_unit(run_dir, unit)
    _replace_manifest_entry(run_dir, None, {f"{model}/{task}": {"status": status, "error": error}})


def fail_unit(run_dir: Path, model: str, task: str, error: str) -> None:
    """Turn the model's complete unit into one that failed (status "error", no items)."""
    shutil.rmtree(unit_dir(run_dir, model, task))
    unit = UnitRecord(model=model, task=task, status="error", unit_hash="", error=error, started=CREATED,
                      task_info={"spec": {"task": task}}, samples=[])
    write_unit(run_dir, unit)
    _replace_manifest_entry(run_dir, f"{model}/{task}", {f"{model}/{task}": {"status": "error", "error": error}})
