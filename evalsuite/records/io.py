"""Atomic, verifiable record I/O. A reader never sees a half-written file, and a unit
counts as complete only when its metrics.json says so, the samples match their hash and
metrics.json matches its own (``record_sha256``: the aggregates, model and task info a
reader trusts without recomputing). Files get the process umask's mode, as ``open``
would give them, so a team can share a results folder."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.errors import RecordError
from evalsuite.records.schema import SCHEMA_VERSION, RunManifest, RunRecord, SampleRecord, UnitRecord


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a record is a shared file like any other
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: Any) -> None:
    text = strict_json.dumps(obj, where=str(path), indent=2, sort_keys=False, default=_jsonable)
    atomic_write_text(path, text + "\n")


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def unit_dir(run_dir: Path, model: str, task: str) -> Path:
    return run_dir / "units" / model / task


def write_unit(run_dir: Path, unit: UnitRecord) -> None:
    """Samples first, metrics.json last: a crash in between leaves the unit visibly incomplete."""
    folder = unit_dir(run_dir, unit.model, unit.task)
    if unit.samples is not None:
        where = str(folder / "samples.jsonl")
        text = "".join(strict_json.dumps(asdict(s), where=where, default=_jsonable) + "\n" for s in unit.samples)
        atomic_write_text(folder / "samples.jsonl", text)
        unit.samples_sha256 = hashlib.sha256(text.encode()).hexdigest()
        unit.n_samples = len(unit.samples)
    body = json.loads(json.dumps(unit.to_json(), default=_jsonable))  # as a reader will see it
    body["record_sha256"] = unit.record_sha256 = record_sha256(body)
    atomic_write_json(folder / "metrics.json", body)


def record_sha256(body: dict[str, Any]) -> str:
    """sha256 of a metrics.json body without its own ``record_sha256``, keys sorted."""
    rest = {k: v for k, v in body.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def read_unit(run_dir: Path, model: str, task: str, *, with_samples: bool = True) -> UnitRecord | None:
    """The unit's record, or None if absent. A complete unit whose samples fail their hash is an error."""
    folder = unit_dir(run_dir, model, task)
    meta = folder / "metrics.json"
    if not meta.exists():
        return None
    try:
        body = strict_json.loads(meta.read_text(), source=str(meta))
        unit = UnitRecord.from_json(body)
    except (json.JSONDecodeError, TypeError, AttributeError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{meta}: unreadable record ({exc})") from None
    if unit.record_sha256 is not None and record_sha256(body) != unit.record_sha256:
        raise RecordError(f"{meta}: contents do not match its record_sha256 (edited by hand?)")
    if unit.schema_version > SCHEMA_VERSION:
        raise RecordError(f"{meta}: schema version {unit.schema_version} is newer than this evalsuite ({SCHEMA_VERSION})")
    if with_samples and unit.samples_sha256:
        path = folder / "samples.jsonl"
        text = path.read_text() if path.exists() else ""
        if hashlib.sha256(text.encode()).hexdigest() != unit.samples_sha256:
            raise RecordError(f"{path}: contents do not match the sha256 in metrics.json (edited or truncated)")
        unit.samples = [SampleRecord(**strict_json.loads(line, source=f"{path} line {n}"))
                        for n, line in enumerate(text.splitlines(), 1) if line]
    return unit


def verified_complete(run_dir: Path, model: str, task: str, unit_hash: str) -> bool:
    """True when the unit finished earlier with the same inputs and its files are intact."""
    try:
        unit = read_unit(run_dir, model, task)
    except RecordError:
        return False
    return unit is not None and unit.status == "complete" and unit.unit_hash == unit_hash


def find_run_dir(path: str | Path) -> Path:
    """Accept a run folder, or a suite folder (then its ``latest`` run)."""
    p = Path(path)
    if (p / "manifest.json").exists():
        return p
    if (p / "latest" / "manifest.json").exists():
        return (p / "latest").resolve()
    raise RecordError(f"{p} is not a run folder (no manifest.json) nor a suite folder with a 'latest' run")


def load_run(path: str | Path, *, with_samples: bool = True) -> RunRecord:
    run_dir = find_run_dir(path)
    try:
        manifest = RunManifest(**strict_json.read(run_dir / "manifest.json"))
    except (json.JSONDecodeError, TypeError) as exc:
        raise RecordError(f"{run_dir / 'manifest.json'}: unreadable manifest ({exc})") from None
    if not isinstance(manifest.units, dict) or not all(isinstance(k, str) and "/" in k and isinstance(v, dict)
                                                       for k, v in manifest.units.items()):
        raise RecordError(f"{run_dir / 'manifest.json'}: 'units' must map '<model>/<task>' to a mapping")
    units: dict[tuple[str, str], UnitRecord] = {}
    for key in manifest.units:
        model, task = key.split("/", 1)
        unit = read_unit(run_dir, model, task, with_samples=with_samples)
        if unit is not None:
            units[(model, task)] = unit
    return RunRecord(path=str(run_dir), manifest=manifest, units=units)
