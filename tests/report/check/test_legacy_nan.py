"""A run written before strict JSON, with bare ``NaN`` scores (what main wrote for a diverged model on WikiText):
compare, publish and check refuse it in one line naming the file, exit 2, and publish writes no page."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evalsuite.cli import main
from tests.conftest_records import copy_run


@pytest.fixture()
def legacy_run(two_model_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    run_dir = copy_run(two_model_run, tmp_path / "legacy")
    folder = run_dir / "units" / "gated" / "es_wikitext"
    lines = (folder / "samples.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["scores"]["loglik"] = float("nan")
    lines[1] = json.dumps(row)  # Python's default: the bare token NaN
    text = "\n".join(lines) + "\n"
    (folder / "samples.jsonl").write_text(text)
    meta = json.loads((folder / "metrics.json").read_text())
    meta["samples_sha256"] = hashlib.sha256(text.encode()).hexdigest()  # as the old writer would have
    if "record_sha256" in meta:
        from evalsuite.records.io import record_sha256

        meta["record_sha256"] = record_sha256(meta)
    (folder / "metrics.json").write_text(json.dumps(meta))
    return run_dir, folder / "samples.jsonl"


@pytest.mark.parametrize("command", [
    ["compare", "{run}", "--resamples", "100"],
    ["publish", "{run}", "--out", "{out}", "--resamples", "100", "--no-plots"],
    ["check", "--reference", "{ref}", "--candidate", "{run}", "--resamples", "100"],
])
def test_commands_refuse_a_legacy_nan_naming_the_file(legacy_run, two_model_run, tmp_path, capsys, command) -> None:
    run_dir, samples = legacy_run
    args = [a.format(run=run_dir, out=tmp_path / "page", ref=two_model_run) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"evalsuite {command[0]}: error: {samples} line 2: holds NaN, which is not a finite number")
    assert not (tmp_path / "page" / "LEADERBOARD.md").exists()
