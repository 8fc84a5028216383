"""Issue #13, tried as a hostile or unlucky user would: every case that failed, and the ones that held.

Each test names its case. Runs use a tiny seeded model and the miniature data (a few items), so the
module stays fast on 2 cores. Held cases tested elsewhere, kept here as a map:

* truncated safetensors, both gate flags, a ``q_proj`` of the wrong width: tests/models/test_paper_format.py
  (``test_refusals_name_the_problem_in_one_line``) and ``test_truncated_weights_are_one_line`` below;
* a context longer than ``max_length``: tests/test_scoring.py, tests/test_generation.py;
* misspelt top-level suite keys: tests/test_spec.py;
* hostile model names in LEADERBOARD.md: tests/publish/test_publish.py::test_hostile_model_name_is_escaped;
* ``kill -9`` and resume: tests/run/test_runner.py and tests/run/test_fault_injection.py;
* ``auto_map`` code: tests/models/test_remote_code.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.errors import DataError, RecordError, SpecError
from evalsuite.records import load_run, read_unit
from evalsuite.run import RunOptions, run_suite
from evalsuite.spec import parse_suite
from tests.conftest_records import BASE, ModelPlan, copy_run, write_run

HS = {"task": "es_hellaswag", "limit": 2}


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from evalsuite.families.miniature import write_miniature

    return write_miniature(tmp_path_factory.mktemp("mini"))


def _spec(tiny_folder, out: Path, *, tasks=(HS,), models=("base", "gated"), name: str = "adv") -> dict:
    plans = {"base": {"name": "base", "role": "baseline", "source": {"path": str(tiny_folder("none"))}},
             "gated": {"name": "gated", "role": "gated", "compare_to": "base",
                       "source": {"path": str(tiny_folder("headwise"))}}}
    return {"name": name, "output_dir": str(out), "tasks": list(tasks),
            "models": [{**plans[m], "max_length": 512} for m in models]}


def _run(spec: dict, mini: Path, run_id: str = "R", only: tuple[str, ...] = (), logs: list | None = None) -> Path:
    return run_suite(parse_suite(spec), RunOptions(data_dir=mini, run_id=run_id, only_models=only,
                                                   log=(logs if logs is not None else []).append))


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


# 1. The run folder is the unit of truth.

def test_1_subsets_add_to_the_manifest_and_it_is_complete_only_when_all_are(tiny_folder, mini, tmp_path, capsys):
    spec = _spec(tiny_folder, tmp_path / "out")
    run_dir = _run(spec, mini, only=("base",))
    first = json.loads((run_dir / "manifest.json").read_text())
    assert first["status"] == "partial"  # gated is still to do: never 'complete'
    assert first["units"]["gated/es_hellaswag"]["status"] == "pending"
    assert load_run(run_dir).manifest.status == "partial"
    _run(spec, mini, only=("gated",))
    manifest = load_run(run_dir).manifest
    assert manifest.status == "complete" and manifest.created == first["created"]
    assert {k: v["status"] for k, v in manifest.units.items()} == {"base/es_hellaswag": "complete",
                                                                  "gated/es_hellaswag": "complete"}
    code, out, _ = _cli(["compare", str(run_dir), "--resamples", "200"], capsys)
    assert code == 0 and "gated" in out and "no comparisons" not in out


def test_1_unit_folders_a_manifest_forgot_are_listed_again(tiny_folder, mini, tmp_path):
    spec = _spec(tiny_folder, tmp_path / "out")
    run_dir = _run(spec, mini, only=("base",))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["units"] = {}  # as a crash between a unit's metrics.json and the manifest, or main's rebuild, left it
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    _run(spec, mini, only=("gated",))
    run = load_run(run_dir)
    assert run.manifest.units["base/es_hellaswag"]["status"] == "complete"  # found on disk, verified
    assert run.manifest.status == "complete" and run.unit("base", "es_hellaswag").status == "complete"


def test_1_second_writer_exits_2_naming_the_holder(tiny_folder, mini, tmp_path, capsys):
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",))
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(spec))
    run_dir = tmp_path / "out" / "R"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        (run_dir / ".lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                    "started": "2026-01-01T00:00:00+00:00"}))
        code, _, err = _cli(["run", str(path), "--data", str(mini), "--run-id", "R", "--no-publish"], capsys)
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"is being written by pid {holder.pid} on {socket.gethostname()}" in err
    assert not (run_dir / "units").exists() and (run_dir / ".lock").exists()  # the holder's lock is untouched


def test_1_stale_lock_of_a_dead_process_is_taken_over(tiny_folder, mini, tmp_path):
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",))
    run_dir = tmp_path / "out" / "R"
    run_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    _run(spec, mini)
    assert load_run(run_dir).manifest.status == "complete" and not (run_dir / ".lock").exists()


# 2. The gate refuses what it cannot vouch for.

def test_2_candidate_without_a_reference_model_is_exit_2_unless_allowed(tmp_path, two_model_run, capsys):
    cand = write_run(tmp_path, [BASE])
    code, out, err = _cli(["check", "--reference", str(two_model_run), "--candidate", str(cand),
                           "--resamples", "200"], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "cannot vouch for it: model 'gated' (diagnostics, es_hellaswag, es_mmlu, es_wikitext, ruler_es)" in err
    code, out, _ = _cli(["check", "--reference", str(two_model_run), "--candidate", str(cand), "--resamples", "200",
                         "--allow-missing", "--summary-out", str(tmp_path / "pr.md")], capsys)
    assert code == 0 and "Not everything was checked (--allow-missing)" in out and "model 'gated'" in out
    assert (tmp_path / "pr.md").read_text() == out


@pytest.mark.parametrize("status", ["partial", "running"])
def test_2_candidate_not_complete_is_exit_2(tmp_path, two_model_run, capsys, status):
    cand = copy_run(two_model_run, tmp_path / "cand")
    manifest = json.loads((cand / "manifest.json").read_text())
    manifest["status"] = status
    (cand / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = _cli(["check", "--reference", str(two_model_run), "--candidate", str(cand),
                         "--resamples", "200"], capsys)
    assert code == 2 and f"the candidate run's status is '{status}', not 'complete'" in err


def test_2_candidate_with_a_pending_unit_is_exit_2(tmp_path, two_model_run, capsys):
    cand = write_run(tmp_path, [BASE, ModelPlan("gated", role="gated", compare_to="base", seed=2)],
                     pending=("gated/es_mmlu",), status="partial")
    code, _, err = _cli(["check", "--reference", str(two_model_run), "--candidate", str(cand),
                         "--resamples", "200"], capsys)
    assert code == 2 and "gated/es_mmlu" in err


# 3. A finished result is never destroyed by a later failure.

def test_3_truncated_model_after_a_finished_run_keeps_the_finished_unit(tiny_folder, mini, tmp_path, capsys):
    model = shutil.copytree(tiny_folder("none"), tmp_path / "model")
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",))
    spec["models"][0]["source"] = {"path": str(model)}
    spec["tasks"] = [HS, {"task": "es_wikitext", "limit": 1}]
    run_dir = _run(spec, mini)
    meta = run_dir / "units/base/es_hellaswag/metrics.json"
    before = meta.read_bytes()
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    spec["tasks"].append({"task": "es_mmlu_anatomy", "limit": 1, "shots": 0})  # a unit that never finished
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(spec))
    code, _, _ = _cli(["run", str(path), "--data", str(mini), "--run-id", "R", "--no-publish"], capsys)
    assert code == 2  # the model did not load: said, and the exit code says so
    assert meta.read_bytes() == before  # the finished record is untouched
    run = load_run(run_dir)
    assert run.unit("base", "es_hellaswag").status == "complete"
    assert "invalid header" in run.manifest.units["base/es_hellaswag"]["rerun_error"]
    assert run.unit("base", "es_mmlu_anatomy").status == "error"  # only the unfinished unit failed
    assert run.manifest.status == "partial"


# 5. File-system errors: one line naming the path, exit 2 (never 1, which check reserves for "worse").

def test_5_out_naming_a_file_is_one_line_exit_2(tiny_folder, mini, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(_spec(tiny_folder, tmp_path / "afile", models=("base",))))
    code, _, err = _cli(["run", str(path), "--data", str(mini), "--no-publish"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"evalsuite run: error: {tmp_path / 'afile'}")


@pytest.mark.parametrize("command", ["check", "publish", "compare"])
def test_5_outputs_onto_an_unwritable_path_are_exit_2(command, two_model_run, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "out.md"
    args = {"check": ["check", "--reference", str(two_model_run), "--candidate", str(two_model_run),
                      "--resamples", "100", "--summary-out", str(target)],
            "publish": ["publish", str(two_model_run), "--out", str(target), "--no-plots", "--resamples", "100"],
            "compare": ["compare", str(two_model_run), "--out", str(target), "--resamples", "100"]}[command]
    code, _, err = _cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(tmp_path / "afile") in err


def test_5_read_only_file_system_is_exit_2(two_model_run, tmp_path, capsys, monkeypatch):
    import errno

    import evalsuite.records.io as io

    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro"))

    monkeypatch.setattr(io.tempfile, "mkstemp", read_only)
    code, _, err = _cli(["publish", str(two_model_run), "--out", str(tmp_path / "ro"), "--no-plots",
                         "--resamples", "100"], capsys)
    assert code == 2 and err == f"evalsuite publish: error: {tmp_path / 'ro'}: Read-only file system\n"


def test_5_unit_folder_replaced_by_a_file_mid_run(tiny_folder, mini, tmp_path, capsys, monkeypatch):
    import evalsuite.run.runner as runner

    spec = _spec(tiny_folder, tmp_path / "out", models=("base",))
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(spec))
    real = runner._run_unit

    def sabotage(*args, **kwargs):
        unit = real(*args, **kwargs)
        (tmp_path / "out/R/units").mkdir(parents=True, exist_ok=True)
        (tmp_path / "out/R/units/base").write_text("a file where the unit folder goes")
        return unit

    monkeypatch.setattr(runner, "_run_unit", sabotage)
    code, _, err = _cli(["run", str(path), "--data", str(mini), "--run-id", "R", "--no-publish"], capsys)
    last = err.strip().splitlines()[-1]  # after lm-eval's progress bars
    assert code == 2 and "Traceback" not in err
    assert last == f"evalsuite run: error: {tmp_path / 'out/R/units/base/es_hellaswag'}: Not a directory"
    assert not (tmp_path / "out/R/.lock").exists()  # the lock is released on the way out


# 6. A bad value inside a row, or an unexpected exception, is contained to its unit.

def test_6_null_ending_is_named_by_file_and_line_and_the_next_unit_runs(tiny_folder, mini, tmp_path, capsys):
    data = shutil.copytree(mini, tmp_path / "data")
    path = data / "hellaswag/hellaswag_val.jsonl"
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row["endings"][1] = None
    lines[1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",), tasks=(HS, {"task": "es_wikitext", "limit": 1}))
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(spec))
    code, _, err = _cli(["run", str(suite), "--data", str(data), "--run-id", "R", "--no-publish"], capsys)
    assert code == 2
    assert f"{path}:2: 'endings' must be a list of 4 strings, found" in err  # the unit lines go to stderr
    run = load_run(tmp_path / "out/R")
    assert run.manifest.status == "partial"
    assert run.unit("base", "es_hellaswag").status == "error"
    assert run.unit("base", "es_wikitext").status == "complete"


def test_6_unexpected_exception_is_that_units_error_with_its_traceback(tiny_folder, mini, tmp_path, monkeypatch):
    import evalsuite.run.runner as runner

    real = runner._run_unit

    def buggy(suite, mspec, tspec, *args, **kwargs):
        if tspec.task == "es_hellaswag":
            raise ZeroDivisionError("a bug in the unit")
        return real(suite, mspec, tspec, *args, **kwargs)

    monkeypatch.setattr(runner, "_run_unit", buggy)
    logs: list[str] = []
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",), tasks=(HS, {"task": "es_wikitext", "limit": 1}))
    run_dir = _run(spec, mini, logs=logs)
    [line] = [x for x in logs if "es_hellaswag: error" in x]
    assert "ZeroDivisionError: a bug in the unit (traceback in" in line and "\n" not in line
    bad = read_unit(run_dir, "base", "es_hellaswag")
    assert bad.status == "error" and "raise ZeroDivisionError" in bad.extra["traceback"]
    run = load_run(run_dir)
    assert run.unit("base", "es_wikitext").status == "complete" and run.manifest.status == "partial"


def test_6_held_malformed_rows_name_file_and_line(tmp_path):
    from evalsuite.families.hellaswag import read_hellaswag
    from evalsuite.families.mmlu import read_mmlu

    hs = tmp_path / "hs.jsonl"
    hs.write_text(json.dumps({"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "label": 0}) + "\n")
    with pytest.raises(DataError, match=r"hs\.jsonl:1: missing field\(s\) endings"):
        read_hellaswag(hs)
    (tmp_path / "mmlu/test").mkdir(parents=True)
    (tmp_path / "mmlu/test/anatomy_test.csv").write_text("q,a,b,c,d,A\nq,a,b,c,A\n")
    with pytest.raises(DataError, match=r"anatomy_test\.csv:2: expected 6 columns .* found 5"):
        read_mmlu(tmp_path, "anatomy", "test")


# 7 and 8. The schema all the way down; names that become folders are single safe components.

@pytest.mark.parametrize("task, message", [
    ({"diagnostics": {"lmit": 3}}, r"tasks\[0\]\.diagnostics: unknown key 'lmit'"),
    ({"diagnostics": 3}, r"tasks\[0\]\.diagnostics: expected a mapping"),
    ({"diagnostics": {"limit": 3}, "limit": 4}, r"tasks\[0\]: 'limit' given twice"),
    ({"diagnostics": {}, "shots": 2}, r"tasks\[0\]: unknown key 'shots'"),
    ({"diagnostics": {"limit": -1}}, r"tasks\[0\]\.diagnostics\.limit: must be >= 0"),
    ({"task": "es_mmlu", "models": ["base", 3]}, r"tasks\[0\]\.models: expected a list of model names"),
])
def test_7_nested_keys_are_validated(task, message):
    raw = {"name": "s", "models": [{"name": "base", "source": {"tiny": {}}}], "tasks": [task]}
    with pytest.raises(SpecError, match=message):
        parse_suite(raw)


def test_7_diagnostics_limit_inside_the_mapping_is_read():
    raw = {"name": "s", "models": [{"name": "base", "source": {"tiny": {}}}], "tasks": [{"diagnostics": {"limit": 3}}]}
    assert parse_suite(raw).tasks[0].limit == 3


@pytest.mark.parametrize("where, value", [
    ("name", "../../escaped"), ("name", "a/b"), ("name", ".hidden"), ("name", ""),
    ("models[0].name", "../m"), ("models[0].name", "a\\b"),
])
def test_8_names_that_become_folders_are_single_components(where, value):
    raw = {"name": "s", "models": [{"name": "base", "source": {"tiny": {}}}], "tasks": ["es_mmlu"]}
    if where == "name":
        raw["name"] = value
    else:
        raw["models"][0]["name"] = value
    with pytest.raises(SpecError, match=re.escape(f"{where}: ")):
        parse_suite(raw)


@pytest.mark.parametrize("run_id", ["../up", "a/b", "latest", ".x"])
def test_8_run_id_is_a_single_component(run_id, tiny_folder, tmp_path, capsys):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(_spec(tiny_folder, tmp_path / "out", models=("base",))))
    code, _, err = _cli(["run", str(path), "--run-id", run_id], capsys)
    assert code == 2 and "--run-id" in err and not (tmp_path / "up").exists()
    assert not (tmp_path / "out").exists()


def test_8_held_hostile_model_names_still_run(tiny_folder):
    raw = {"name": "s", "models": [{"name": "a|b<script>", "source": {"tiny": {}}}], "tasks": ["es_mmlu"]}
    assert parse_suite(raw).models[0].name == "a|b<script>"


# 9. Records keep the umask; the hash covers what a reader trusts.

def test_9_records_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_dir = write_run(tmp_path, [BASE])
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in run_dir.rglob("*") if p.is_file()}
    assert modes == {0o644}


def test_9_an_edited_aggregate_is_caught_and_the_unit_reruns(tiny_folder, mini, tmp_path):
    spec = _spec(tiny_folder, tmp_path / "out", models=("base",))
    run_dir = _run(spec, mini)
    meta = run_dir / "units/base/es_hellaswag/metrics.json"
    body = json.loads(meta.read_text())
    next(m for m in body["metrics"] if m["name"] == "acc_norm")["value"] = 0.999
    meta.write_text(json.dumps(body, indent=2))
    with pytest.raises(RecordError, match="do not match its record_sha256"):
        load_run(run_dir)
    logs: list[str] = []
    _run(spec, mini, logs=logs)
    assert any("es_hellaswag: running" in line for line in logs)  # not trusted: recomputed
    assert next(m for m in load_run(run_dir).unit("base", "es_hellaswag").metrics if m.name == "acc_norm").value != 0.999


def test_9_compare_with_nothing_to_compare_is_exit_2(tmp_path, capsys):
    only = write_run(tmp_path, [BASE])
    code, out, err = _cli(["compare", str(only), "--resamples", "100"], capsys)
    assert code == 2 and "no comparisons" in out and "nothing could be compared" in err


def test_9_publish_flags_a_run_of_one_subset(tiny_folder, mini, tmp_path, capsys):
    run_dir = _run(_spec(tiny_folder, tmp_path / "out"), mini, only=("base",))
    code, _, err = _cli(["publish", str(run_dir), "--no-plots", "--resamples", "100"], capsys)
    assert code == 0 and "not complete" in err
    assert "PARTIAL RUN" in (tmp_path / "out/LEADERBOARD.md").read_text().splitlines()[0]


# Held: a flipped score in samples.jsonl is caught by every reader.

@pytest.mark.parametrize("command", ["check", "publish", "compare"])
def test_held_flipped_score_is_caught(command, two_model_run, tmp_path, capsys):
    run = copy_run(two_model_run, tmp_path / "run")
    samples = run / "units/gated/es_hellaswag/samples.jsonl"
    lines = samples.read_text().splitlines()
    row = json.loads(lines[0])
    row["scores"]["acc"] = 1.0 - row["scores"]["acc"]
    lines[0] = json.dumps(row)
    samples.write_text("\n".join(lines) + "\n")
    args = {"check": ["check", "--reference", str(two_model_run), "--candidate", str(run)],
            "publish": ["publish", str(run), "--out", str(tmp_path / "pub"), "--no-plots"],
            "compare": ["compare", str(run)]}[command]
    code, _, err = _cli(args + ["--resamples", "100"], capsys)
    assert code == 2 and "do not match the sha256" in err


def test_truncated_weights_are_one_line(tiny_folder, tmp_path):
    from evalsuite.errors import ModelLoadError
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    folder = shutil.copytree(tiny_folder("none"), tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError) as info:
        load(SourceSpec(path=str(folder)), hash_weights=False)
    assert "\n" not in str(info.value) and "model.safetensors" in str(info.value)
