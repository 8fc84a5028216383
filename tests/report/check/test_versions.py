"""`evalsuite check` names the libraries whose versions differ between the runs (a note, never a failure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.report.check import main_check
from tests.conftest_records import copy_run


def test_a_differing_library_version_is_named_and_does_not_fail(two_model_run: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    cand = copy_run(two_model_run, tmp_path / "cand")
    manifest = cand / "manifest.json"
    m = json.loads(manifest.read_text())
    m["provenance"]["versions"]["transformers"] = "5.25.0"
    m["provenance"]["versions"]["accelerate"] = "1.16.0"  # absent from the reference
    manifest.write_text(json.dumps(m))
    summary = tmp_path / "summary.md"
    assert main_check(["--reference", str(two_model_run), "--candidate", str(cand), "--resamples", "200",
                       "--summary-out", str(summary)]) == 0
    text = summary.read_text()
    assert "library version differs: transformers 5.17.0 (reference) → 5.25.0 (candidate)" in text
    assert "library version differs: accelerate not recorded (reference) → 1.16.0 (candidate)" in text
    assert "numpy" not in text.split("Notes:")[1]  # equal versions are not listed
    assert "✅ pass" in capsys.readouterr().out


def test_equal_versions_add_no_note(two_model_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cand = copy_run(two_model_run, tmp_path / "cand")
    assert main_check(["--reference", str(two_model_run), "--candidate", str(cand), "--resamples", "200"]) == 0
    assert "library version differs" not in capsys.readouterr().out
