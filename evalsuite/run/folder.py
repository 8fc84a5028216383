"""The run folder is the unit of truth: one writer at a time, and a manifest that is merged, never rebuilt.

Several invocations may write one run folder in turn (``--model base``, then
``--model gated``, or a resume after ``kill -9``). Each takes the folder's lock
file (``.lock``: the holder's pid, host and start time), so two writers never
interleave; a lock left by a process that died on this host is taken over. The
manifest of the previous invocation is read under the lock and every unit it
lists is kept; unit folders on disk that it does not list (a crash between a
unit's ``metrics.json`` and the manifest) are added from their records. The
run is ``complete`` only when every listed unit is.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.errors import RecordError
from evalsuite.records import RunManifest, read_unit

LOCK_NAME = ".lock"
DONE = ("complete", "not_run")  # unit statuses that count as finished for the run's status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> dict[str, Any] | None:
    """The lock's JSON, or None when it vanished or is unreadable (a writer died while writing it)."""
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def writer_lock(run_dir: Path, *, started: str) -> Iterator[None]:
    """Hold ``run_dir/.lock`` for the block; RecordError naming the holder when a live process has it."""
    lock = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    for _ in range(3):  # a stale lock is removed and the create retried; a racing writer may win
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            held = _holder(lock)
            if held is None:
                continue
            pid, host = held.get("pid"), held.get("host")
            stale = host == me["host"] and isinstance(pid, int) and not _alive(pid)
            if not stale:
                who = f"pid {pid} on {host} since {held.get('started')}" if pid else "an unreadable lock"
                raise RecordError(f"{run_dir} is being written by {who} (lock file {lock}); wait for it to "
                                  "finish, or remove the lock if that process is gone") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:
        raise RecordError(f"{run_dir}: could not take the lock file {lock} (another writer keeps taking it)")
    try:
        yield
    finally:
        if (_holder(lock) or {}).get("pid") == me["pid"]:
            lock.unlink(missing_ok=True)


def previous_manifest(run_dir: Path) -> RunManifest | None:
    """The manifest an earlier invocation left, or None. An unreadable one is an error, not a fresh start:
    rebuilding it would forget the units it listed."""
    path = run_dir / "manifest.json"
    if not path.exists():
        return None
    try:
        return RunManifest(**strict_json.read(path))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: unreadable manifest ({exc}); move it away to start the run afresh") from None


def merge_units(manifest: RunManifest, previous: RunManifest | None, run_dir: Path,
                keys: list[str]) -> None:
    """Into ``manifest.units``: the previous manifest's entries, unit folders it missed, then ``keys`` (the
    suite's units) as pending where nothing is known yet."""
    if previous is not None:
        manifest.created = previous.created
        for key, info in previous.units.items():
            manifest.units[key] = dict(info)
    for meta in sorted((run_dir / "units").glob("*/*/metrics.json")):
        model, task = meta.parent.parent.name, meta.parent.name
        key = f"{model}/{task}"
        if key in manifest.units and manifest.units[key].get("status") != "pending":
            continue
        try:
            unit = read_unit(run_dir, model, task)
        except RecordError:
            continue  # damaged: the unit reruns if the suite has it
        if unit is not None:
            manifest.units[key] = {"status": unit.status, **({"error": unit.error} if unit.error else {})}
    for key in keys:
        manifest.units.setdefault(key, {"status": "pending"})


def run_status(manifest: RunManifest) -> str:
    """``complete`` only when every listed unit is complete (or not run for missing data)."""
    return "complete" if all(u.get("status") in DONE for u in manifest.units.values()) else "partial"
