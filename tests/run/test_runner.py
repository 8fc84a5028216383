"""Running a suite writes complete records, resumes without redoing work, and records failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.records import load_run
from evalsuite.run import RunOptions, run_suite
from evalsuite.spec import parse_suite


def _suite(tiny: Path, out: Path, **extra) -> dict:
    return {"name": "t", "output_dir": str(out),
            "models": [{"name": "tiny", "role": "baseline", "source": {"path": str(tiny)}, "max_length": 1024}],
            "tasks": [{"task": "es_hellaswag", "limit": 6}, {"task": "es_wikitext", "limit": 1},
                      {"task": "es_mmlu_anatomy", "limit": 2, "shots": 1}], **extra}


@pytest.fixture()
def mini_data(tmp_path_factory):
    from evalsuite.families.miniature import write_miniature

    return write_miniature(tmp_path_factory.mktemp("mini"))


def _run(spec: dict, data: Path, logs: list[str]) -> Path:
    return run_suite(parse_suite(spec), RunOptions(data_dir=data, run_id="r1", log=logs.append))


def test_run_writes_complete_records_and_resumes(tiny_folder, mini_data, tmp_path):
    spec = _suite(tiny_folder("headwise"), tmp_path / "out")
    logs: list[str] = []
    run_dir = _run(spec, mini_data, logs)
    run = load_run(run_dir)
    assert run.manifest.status == "complete"
    hs = run.unit("tiny", "es_hellaswag")
    assert hs.status == "complete" and hs.n_samples == 6 and hs.metric("acc_norm").value is not None
    assert {"acc", "acc_norm"} <= set(hs.samples[0].scores) and len(hs.samples[0].doc_hash) == 64
    for s in hs.samples:  # what the statistics need: the item's activity cluster, lengths that give acc_norm
        per_char = [ll / n for ll, n in zip(s.resps, s.choice_chars, strict=True)]
        assert s.cluster and (per_char.index(max(per_char)) == int(s.target)) == (s.scores["acc_norm"] == 1.0)
    wt = run.unit("tiny", "es_wikitext")
    assert {"loglik", "n_words", "n_bytes", "n_tokens"} <= set(wt.samples[0].scores)
    assert wt.samples[0].cluster is None and wt.samples[0].choice_chars is None
    assert wt.metric("token_perplexity").value > 1
    assert run.manifest.provenance["versions"]["lm_eval"]
    assert wt.model_info["weights_sha256"] and wt.task_info["data_files"]

    # Rerun: everything verified and skipped.
    logs.clear()
    _run(spec, mini_data, logs)
    assert sum("already complete" in line for line in logs) == 3

    # A unit lost mid-write (no metrics.json) and one whose samples were tampered with both rerun; the rest not.
    (run_dir / "units/tiny/es_wikitext/metrics.json").unlink()
    samples = run_dir / "units/tiny/es_hellaswag/samples.jsonl"
    samples.write_text(samples.read_text()[:-20])
    logs.clear()
    _run(spec, mini_data, logs)
    ran = [line for line in logs if "running" in line]
    assert len(ran) == 2 and not any("es_mmlu_anatomy" in line for line in ran)
    assert load_run(run_dir).manifest.status == "complete"


def test_bad_units_are_recorded_and_others_finish(tiny_folder, mini_data, tmp_path):
    spec = _suite(tiny_folder("none"), tmp_path / "out")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "qwen3", "hidden_size": 64}')
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    spec["models"].append({"name": "broken", "source": {"path": str(broken)}})
    spec["tasks"] = [{"task": "es_hellaswag", "limit": 2}]
    run_dir = _run(spec, mini_data, [])
    run = load_run(run_dir)
    assert run.manifest.status == "partial"
    assert run.unit("tiny", "es_hellaswag").status == "complete"
    bad = run.unit("broken", "es_hellaswag")
    assert bad.status == "error" and "broken" in bad.error and len(bad.error.splitlines()) == 1


@pytest.mark.parametrize("patch, message", [
    ({"tasks": [{"task": "no_such_task"}]}, "unknown task 'no_such_task'"),
    ({"models": [{"name": "ghost", "source": {"path": "/nope/model"}}]}, "model path /nope/model does not exist"),
])
def test_bad_suite_is_refused_before_any_unit(patch, message, tiny_folder, mini_data, tmp_path, capsys):
    spec = {**_suite(tiny_folder("none"), tmp_path / "out"), **patch}
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps(spec))
    assert main(["run", str(path), "--data", str(mini_data)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not list((tmp_path / "out").rglob("metrics.json"))


@pytest.mark.parametrize("args, message", [
    (["run", "missing.yaml"], "suite file missing.yaml does not exist"),
    (["frobnicate"], "unknown command"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_kill_9_loses_at_most_the_unit_in_flight(tiny_folder, mini_data, tmp_path):
    """A real SIGKILL mid-run: finished units survive verified, the rerun does only what is left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = _suite(tiny_folder("elementwise"), tmp_path / "out")
    spec["tasks"] = [{"task": "es_hellaswag", "limit": 4}] + [
        {"task": f"es_mmlu_{s}", "limit": 4, "shots": 5} for s in ("anatomy", "virology", "astronomy", "nutrition")]
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "evalsuite.cli", "run", str(path), "--data", str(mini_data), "--run-id", "k",
           "--no-publish"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = tmp_path / "out/k/units/tiny/es_hellaswag/metrics.json"
    deadline = time.time() + 240
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the first unit should have finished before the kill"
    done_before = {p.parent.name for p in (tmp_path / "out/k/units/tiny").glob("*/metrics.json")}
    logs: list[str] = []
    run_suite(parse_suite(spec), RunOptions(data_dir=mini_data, run_id="k", log=logs.append))
    skipped = {line.split("tiny/")[1].split(":")[0] for line in logs if "already complete" in line}
    assert skipped == done_before and "es_hellaswag" in skipped
    assert load_run(tmp_path / "out/k").manifest.status == "complete"


def test_ruler_group_runs_without_qa_data_and_says_so(tiny_folder, mini_data, tmp_path):
    spec = _suite(tiny_folder("headwise"), tmp_path / "out")
    spec["tasks"] = [{"task": "ruler_es", "lengths": [1024], "samples": 1}]
    run = load_run(_run(spec, mini_data, []))
    unit = run.unit("tiny", "ruler_es")
    assert unit.status == "complete"
    assert set(unit.extra["not_run"]) == {"ruler_es_qa_squad", "ruler_es_qa_hotpot"}
    assert all("data missing" in why for why in unit.extra["not_run"].values())
    measured = {s.task for s in unit.samples}
    assert len(measured) == 11 and all("1024" in s.scores for s in unit.samples)


def test_a_unit_status_comes_from_the_error_type_not_its_text():
    """``not run`` is DataMissingError (a file absent); any other error saying "not run" is still an error."""
    from evalsuite.errors import DataError, DataMissingError
    from evalsuite.run.failure import UnitFailure

    assert UnitFailure.of(DataMissingError("qa_squad: not run: data missing (x)")).status == "not_run"
    assert UnitFailure.of(DataError("es_x.jsonl:3: field 'label' was not run through the parser")).status == "error"
