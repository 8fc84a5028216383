"""The run folder's writer lock and manifest merge (evalsuite/run/folder.py), without running a model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from evalsuite.errors import RecordError
from evalsuite.records import RunManifest, atomic_write_json
from evalsuite.run.folder import LOCK_NAME, merge_units, previous_manifest, run_status, writer_lock
from tests.conftest_records import BASE, write_run


def _manifest(**units) -> RunManifest:
    return RunManifest(suite="s", run_id="R", status="running", created="now", suite_spec={}, provenance={},
                       units=dict(units))


def test_lock_is_held_for_the_block_and_released(tmp_path: Path) -> None:
    with writer_lock(tmp_path, started="t0"):
        held = json.loads((tmp_path / LOCK_NAME).read_text())
        assert held == {"pid": os.getpid(), "host": socket.gethostname(), "started": "t0"}
        with pytest.raises(RecordError, match=rf"being written by pid {os.getpid()} on .* since t0"):
            with writer_lock(tmp_path, started="t1"):
                pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_released_on_error(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with writer_lock(tmp_path, started="t0"):
            raise ZeroDivisionError
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_is_taken_over_and_other_hosts_are_respected(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    with writer_lock(tmp_path, started="t0"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": "elsewhere", "started": "x"}))
    with pytest.raises(RecordError, match=f"pid {dead.pid} on elsewhere"):  # cannot tell if it is alive there
        with writer_lock(tmp_path, started="t0"):
            pass


def test_merge_keeps_earlier_units_adds_forgotten_folders_and_pending(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE])
    previous = previous_manifest(run_dir)
    previous.units = {"base/es_mmlu": {"status": "complete", "seconds": 1.0}}  # forgot the other folders
    manifest = _manifest()
    merge_units(manifest, previous, run_dir, ["base/es_mmlu", "other/es_mmlu"])
    assert manifest.created == previous.created
    assert manifest.units["base/es_mmlu"] == {"status": "complete", "seconds": 1.0}
    assert manifest.units["base/es_hellaswag"]["status"] == "complete"  # found on disk
    assert manifest.units["other/es_mmlu"] == {"status": "pending"}
    assert run_status(manifest) == "partial"
    manifest.units["other/es_mmlu"] = {"status": "not_run"}
    assert run_status(manifest) == "complete"


def test_unreadable_previous_manifest_is_refused_not_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RecordError, match="unreadable manifest"):
        previous_manifest(tmp_path)
    atomic_write_json(tmp_path / "manifest.json", asdict(_manifest()))
    assert previous_manifest(tmp_path).run_id == "R"
