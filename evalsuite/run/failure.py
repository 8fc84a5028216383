"""A unit that failed: one line on the console, the whole story in its record, never over a finished result.

Bad input (``EvalsuiteError``: a model that does not load, a malformed data row)
and unexpected exceptions (a bug, the environment) are both contained to the
unit they happened in: the next unit runs and the run ends ``partial``. An
unexpected one keeps its traceback in the unit's record, where whoever reads
the results can find it. A unit that finished and verifies by hash is never
overwritten by a later failure (a truncated model file must not destroy hours
of finished GPU work); the manifest notes the failure beside it instead.
"""

from __future__ import annotations

import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from evalsuite.errors import DataMissingError, EvalsuiteError, RecordError
from evalsuite.records import RunManifest, UnitRecord, atomic_write_json, read_unit, unit_dir, write_unit
from evalsuite.spec import ModelSpec, TaskSpec


def without_errors(info: dict) -> dict:
    """A manifest entry without the failure notes of an earlier invocation."""
    return {k: v for k, v in info.items() if k not in ("error", "rerun_error")}


@dataclass(frozen=True)
class UnitFailure:
    status: str  # "error", or "not_run" (data missing: never faked, never dropped)
    message: str  # one line
    unit_hash: str = ""
    traceback: str | None = None  # unexpected exceptions only

    @classmethod
    def of(cls, exc: BaseException, unit_hash: str = "") -> "UnitFailure":
        text = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, EvalsuiteError):
            return cls("not_run" if isinstance(exc, DataMissingError) else "error", text, unit_hash)
        return cls("error", f"{type(exc).__name__}: {text}", unit_hash, "".join(traceback.format_exception(exc)))

    def record(self, run_dir: Path, manifest: RunManifest, mspec: ModelSpec, tspec: TaskSpec) -> bool:
        """Write the failure, unless a finished record that verifies is there: then keep it, note why in the
        manifest and return True."""
        key = f"{mspec.name}/{tspec.task}"
        try:
            finished = read_unit(run_dir, mspec.name, tspec.task)
        except RecordError:
            finished = None
        if finished is not None and finished.status == "complete":
            manifest.units[key] = {**without_errors(manifest.units.get(key, {})), "status": "complete",
                                   "rerun_error": self.message}
            kept = True
        else:
            unit = UnitRecord(model=mspec.name, task=tspec.task, status=self.status,  # type: ignore[arg-type]
                              unit_hash=self.unit_hash, kind=tspec.kind, error=self.message,
                              task_info={"spec": asdict(tspec)},
                              extra={"traceback": self.traceback} if self.traceback else {})
            write_unit(run_dir, unit)
            manifest.units[key] = {"status": self.status, "error": self.message}
            kept = False
        atomic_write_json(run_dir / "manifest.json", asdict(manifest))
        return kept

    def console(self, run_dir: Path, mspec: ModelSpec, tspec: TaskSpec, *, kept: bool = False) -> str:
        line = f"{self.status}: {self.message}"
        if kept:
            line += "; the unit's finished record is kept"
        if self.traceback:
            line += f" (traceback in {unit_dir(run_dir, mspec.name, tspec.task) / 'metrics.json'})"
        return line
