"""Fault injection: a run SIGKILLed at seeded record writes (during a write, or just after one), resumed
each time, ends with samples byte-identical to an uninterrupted run and a manifest listing every unit."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import evalsuite.records.io as io
from evalsuite.records import load_run
from evalsuite.run import RunOptions, run_suite
from evalsuite.spec import parse_suite

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from evalsuite.families.miniature import write_miniature

    return write_miniature(tmp_path_factory.mktemp("mini"))


def _spec(tiny_folder, out: Path) -> dict:
    return {"name": "fault", "output_dir": str(out), "seed": 7,
            "models": [{"name": "base", "role": "baseline", "source": {"path": str(tiny_folder("none"))},
                        "max_length": 512},
                       {"name": "gated", "role": "gated", "source": {"path": str(tiny_folder("headwise"))},
                        "max_length": 512}],
            "tasks": [{"task": "es_hellaswag", "limit": 2}, {"task": "es_wikitext", "limit": 1}]}


@pytest.fixture(scope="module")
def reference(tiny_folder, mini, tmp_path_factory) -> tuple[Path, int]:
    """An uninterrupted run, and how many record writes it made (the range kill points are drawn from)."""
    out = tmp_path_factory.mktemp("reference")
    writes = []
    real = io.atomic_write_text
    io.atomic_write_text = lambda path, text: (writes.append(path), real(path, text))[1]
    try:
        run_dir = run_suite(parse_suite(_spec(tiny_folder, out)), RunOptions(data_dir=mini, run_id="R", log=[].append))
    finally:
        io.atomic_write_text = real
    return run_dir, len(writes)


def _samples(run_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.glob("units/*/*/samples.jsonl"))}


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_seeded_points_then_resume_is_byte_identical(seed, reference, tiny_folder, mini, tmp_path):
    ref_dir, n_writes = reference
    rng = random.Random(seed)
    out = tmp_path / "out"
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(_spec(tiny_folder, out)))
    cmd = [sys.executable, "-m", "tests.run._faulty", "run", str(suite), "--data", str(mini), "--run-id", "R",
           "--no-publish"]
    # Anywhere in a fresh run; then early in the resume (its first writes: the merged manifest under the lock it
    # took over from the dead process, the 'latest' link, the first unit), which a resume always reaches.
    points = [rng.randint(1, n_writes), rng.randint(1, 3)]
    for k in points:
        env = {**os.environ, "PYTHONPATH": str(REPO), "EVALSUITE_TEST_KILL_AT": str(k),
               "EVALSUITE_TEST_KILL_MODE": rng.choice(["mid", "after"])}
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert proc.returncode == -9, (k, proc.returncode, proc.stderr[-2000:])
    run_dir = run_suite(parse_suite(_spec(tiny_folder, out)), RunOptions(data_dir=mini, run_id="R", log=[].append))
    run = load_run(run_dir)
    assert run.manifest.status == "complete"
    assert set(run.manifest.units) == {f"{m}/{t}" for m in ("base", "gated") for t in ("es_hellaswag", "es_wikitext")}
    assert all(u["status"] == "complete" for u in run.manifest.units.values())
    assert _samples(run_dir) == _samples(ref_dir) and len(_samples(ref_dir)) == 4
    assert not (run_dir / ".lock").exists()
