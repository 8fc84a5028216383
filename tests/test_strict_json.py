"""Strict JSON: no writer lets NaN or infinity out, no reader takes them in (one line naming the file)."""

from __future__ import annotations

import ast
import math
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from evalsuite import strict_json
from evalsuite.errors import DataError, NonFiniteRecordError, RecordError
from evalsuite.records import (
    MetricRecord,
    RunManifest,
    SampleRecord,
    UnitRecord,
    atomic_write_json,
    load_run,
    read_unit,
    write_unit,
)
from evalsuite.records.io import verified_complete

REPO = Path(__file__).resolve().parents[1]
NONFINITE = [math.nan, math.inf, -math.inf]


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert len(text.splitlines()) == 1, text
    return text


# -- the module --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", NONFINITE)
def test_dumps_refuses_naming_the_file_and_key(value: float) -> None:
    with pytest.raises(NonFiniteRecordError) as info:
        strict_json.dumps({"scores": {"acc": 1.0, "loglik": value}}, where="x/metrics.json")
    assert _one_line(info.value).startswith(f"x/metrics.json: ['scores']['loglik'] is {value}")


def test_dumps_of_finite_data_is_byte_identical_to_json() -> None:
    import json

    obj = {"a": [1.5, -2e-300, 1e308, 0.0], "b": {"c": "NaN", "d": None}}
    assert strict_json.dumps(obj, where="f", indent=2) == json.dumps(obj, indent=2)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_the_tokens_naming_the_source(token: str) -> None:
    with pytest.raises(NonFiniteRecordError) as info:
        strict_json.loads(f'{{"loglik": {token}}}', source="run/samples.jsonl line 3")
    assert _one_line(info.value).startswith(f"run/samples.jsonl line 3: holds {token}, which is not a finite number")
    assert strict_json.loads('{"t": "NaN"}', source="f") == {"t": "NaN"}  # a string is a string


def test_read_write_round_trip_and_refusal(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    strict_json.write(path, {"x": 1.25})
    assert strict_json.read(path) == {"x": 1.25}
    with pytest.raises(NonFiniteRecordError, match=str(path)):
        strict_json.write(path, {"x": math.inf})
    path.write_text('{"x": NaN}')
    with pytest.raises(DataError, match=f"^{path}: holds NaN"):
        strict_json.read(path, error=DataError)


def test_frame_json_keeps_missing_as_null_and_refuses_infinity() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "acc": [0.5, math.nan]})
    assert strict_json.frame_json(frame, where="t.json", orient="records") == \
        '[{"model":"a","acc":0.5},{"model":"b","acc":null}]'
    frame.loc[1, "acc"] = math.inf  # pandas alone writes it as null: an infinity silently becomes "absent"
    with pytest.raises(NonFiniteRecordError, match=r"^t.json: column 'acc' is infinite in row 1"):
        strict_json.frame_json(frame, where="t.json", orient="records")


# -- records: every writer and reader ----------------------------------------------------------------------
def _unit(score: float = 0.5, metric: float | None = 0.5) -> UnitRecord:
    sample = SampleRecord(task="t", doc_id=0, doc_hash="d", prompt_hash="p", target_hash="h",
                          scores={"acc": 1.0, "loglik": score})
    return UnitRecord(model="m", task="t", status="complete", unit_hash="u", samples=[sample],
                      metrics=[MetricRecord(task="t", name="acc", value=metric)])


@pytest.mark.parametrize("value", NONFINITE)
def test_write_unit_refuses_a_non_finite_sample_score(tmp_path: Path, value: float) -> None:
    with pytest.raises(NonFiniteRecordError) as info:
        write_unit(tmp_path, _unit(score=value))
    assert _one_line(info.value).startswith(f"{tmp_path}/units/m/t/samples.jsonl: ['scores']['loglik'] is {value}")
    assert not (tmp_path / "units/m/t/metrics.json").exists()  # never a complete record


def test_write_unit_refuses_a_non_finite_metric(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteRecordError, match=r"metrics.json: \['metrics'\]\[0\]\['value'\] is nan"):
        write_unit(tmp_path, _unit(metric=math.nan))


def test_atomic_write_json_refuses_and_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    atomic_write_json(path, {"wall_seconds": 1.0})
    with pytest.raises(NonFiniteRecordError, match="manifest.json: \\['wall_seconds'\\] is inf"):
        atomic_write_json(path, {"wall_seconds": math.inf})
    assert strict_json.read(path) == {"wall_seconds": 1.0}


def _legacy_unit(tmp_path: Path, *, in_metrics: bool) -> Path:
    """A unit as an older evalsuite wrote it: bare NaN tokens (and the samples' sha256 made to match)."""
    import hashlib
    import json

    write_unit(tmp_path, _unit())
    folder = tmp_path / "units/m/t"
    if in_metrics:
        meta = json.loads((folder / "metrics.json").read_text())
        meta["metrics"][0]["value"] = math.nan
        (folder / "metrics.json").write_text(json.dumps(meta))
    else:
        text = (folder / "samples.jsonl").read_text().replace('"loglik": 0.5', '"loglik": NaN')
        (folder / "samples.jsonl").write_text(text)
        meta = json.loads((folder / "metrics.json").read_text())
        meta["samples_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        if "record_sha256" in meta:
            from evalsuite.records.io import record_sha256

            meta["record_sha256"] = record_sha256(meta)
        (folder / "metrics.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("in_metrics", [True, False])
def test_read_unit_refuses_a_legacy_nan_naming_the_file(tmp_path: Path, in_metrics: bool) -> None:
    folder = _legacy_unit(tmp_path, in_metrics=in_metrics)
    where = f"{folder}/metrics.json" if in_metrics else f"{folder}/samples.jsonl line 1"
    with pytest.raises(RecordError) as info:
        read_unit(tmp_path, "m", "t")
    assert _one_line(info.value).startswith(f"{where}: holds NaN")
    assert not verified_complete(tmp_path, "m", "t", "u")  # so the runner reruns it instead of keeping it


def test_load_run_refuses_a_manifest_with_infinity(tmp_path: Path) -> None:
    manifest = RunManifest(suite="s", run_id="r", status="complete", created="now", suite_spec={}, provenance={})
    atomic_write_json(tmp_path / "manifest.json", asdict(manifest))
    text = (tmp_path / "manifest.json").read_text().replace('"wall_seconds": null', '"wall_seconds": Infinity')
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(NonFiniteRecordError, match=f"^{tmp_path}/manifest.json: holds Infinity"):
        load_run(tmp_path)


def test_data_reader_refuses_nan_in_a_jsonl_line(tmp_path: Path) -> None:
    from evalsuite.families.hellaswag import read_hellaswag

    path = tmp_path / "hellaswag_val.jsonl"
    path.write_text('{"ind": 0, "activity_label": "a", "ctx_a": "b", "ctx_b": "", "endings": ["x"], '
                    '"label": NaN}\n')
    with pytest.raises(DataError, match=f"^{path}:1: holds NaN"):
        list(read_hellaswag(path))


def test_diagnostics_json_writer_refuses(tmp_path: Path) -> None:
    from evalsuite.diagnostics.cli import write_outputs
    from evalsuite.diagnostics.result import DiagnosticsResult

    result = DiagnosticsResult(first_token_share=(0.1, math.nan), max_abs_hidden=(1.0, 2.0),
                               first_token_share_mean=math.nan, max_abs_hidden_mean=1.5, max_abs_hidden_max=2.0,
                               gates=None, n_tokens=4, n_windows=1, window=4)
    with pytest.raises(NonFiniteRecordError, match="diagnostics.json: \\['first_token_share'\\]\\[1\\] is nan"):
        write_outputs(tmp_path, "m", result, {})


def test_bench_record_writer_refuses(tmp_path: Path) -> None:
    from evalsuite.lab.bench.harness import Recorder

    rec = Recorder(tmp_path / "b.json", header={}, deadline_s=None)
    rec.data["workloads"]["x"] = {"seconds": math.nan}
    with pytest.raises(NonFiniteRecordError, match="b.json: \\['workloads'\\]\\['x'\\]\\['seconds'\\] is nan"):
        rec.flush()


def test_comparison_json_refuses_infinity() -> None:
    from evalsuite.compare.cli import render

    class Table:  # the one method render's json branch uses
        def to_frame(self) -> pd.DataFrame:
            return pd.DataFrame({"metric": ["log_ppl"], "delta": [math.inf]})

    with pytest.raises(NonFiniteRecordError, match="column 'delta' is infinite"):
        render(Table(), "json")  # type: ignore[arg-type]


# -- no plain json writer or reader left behind ------------------------------------------------------------
# json.dumps for hashing (never written, never read back) and json.loads of third-party model/tokenizer
# configs (not the project's JSON; transformers reads them with plain json too) are the only plain uses.
_ALLOWED = {
    ("evalsuite/strict_json.py", "dumps"), ("evalsuite/strict_json.py", "loads"),
    ("evalsuite/spec/suite.py", "dumps"), ("evalsuite/run/runner.py", "dumps"), ("evalsuite/run/unit_eval.py", "dumps"),
    ("evalsuite/models/loader.py", "loads"), ("evalsuite/models/paper_format.py", "loads"),
    ("evalsuite/engine/encode.py", "loads"),
    ("evalsuite/families/ruler/haystack.py", "loads"), ("evalsuite/families/ruler/qa.py", "loads"),
    ("evalsuite/records/io.py", "dumps"), ("evalsuite/records/io.py", "loads"),  # record_sha256, an in-memory copy
    ("evalsuite/run/folder.py", "dump"), ("evalsuite/run/folder.py", "loads"),  # the run lock: a pid and a host
    ("evalsuite/lab/bench/power/fixture.py", "loads"),  # HellaSwag's own rows (third-party data, like ruler/qa.py)
    ("evalsuite/compare/clusters.py", "dumps"),  # lm-eval's doc_hash of a row, recomputed (never written)
}


def test_every_json_writer_and_reader_goes_through_strict_json() -> None:
    plain = set()
    for path in sorted((REPO / "evalsuite").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "json"
                    and node.func.attr in ("dump", "dumps", "load", "loads")):
                plain.add((rel, node.func.attr))
    assert plain - _ALLOWED == set()
