"""The runner's unit: WikiText windows in, the result JSON and scalar MetricRecords out."""

from __future__ import annotations

import json

import pytest

from evalsuite.diagnostics.result import DiagnosticsResult
from evalsuite.diagnostics.unit import run_diagnostics_unit
from evalsuite.errors import DataError, RecordError


def test_gated_unit_on_the_miniature_data(load_gated):
    model, tokenizer = load_gated("elementwise")
    extra, metrics = run_diagnostics_unit(model, tokenizer, data_dir=None, limit=2, max_length=48)
    assert (extra["window"], extra["n_windows"], extra["n_tokens"]) == (48, 2, 96)
    assert extra["text_file"].endswith("wiki.test.raw")
    result = DiagnosticsResult.from_json(json.loads(json.dumps(extra)))  # survives the record's JSON
    assert result.to_json() == {k: v for k, v in extra.items() if k != "text_file"}
    with pytest.raises(RecordError, match="schema_version"):
        DiagnosticsResult.from_json({**extra, "schema_version": 99})
    by_name = {m.name: m for m in metrics}
    assert list(by_name) == ["first_token_share_mean", "max_abs_hidden_mean", "max_abs_hidden_max", "gate_mean",
                             "gate_frac_below_0_1", "first_token_share_vs_uniform", "frac_heads_above_0_3"]
    assert by_name["gate_mean"].value == result.gates.mean
    assert all(m.task == "diagnostics" and m.higher_is_better is None and m.n == 96 for m in metrics)


def test_baseline_unit_reads_the_data_folder_and_has_no_gate_metrics(load_gated, tmp_path):
    wiki = tmp_path / "wikitext" / "wikitext-2-raw"
    wiki.mkdir(parents=True)
    (wiki / "wiki.test.raw").write_text(" \n = One = \n \n Some words here . \n \n = Two = \n \n More words . \n")
    model, tokenizer = load_gated("none")
    extra, metrics = run_diagnostics_unit(model, tokenizer, data_dir=tmp_path, limit=None, max_length=4096)
    assert extra["window"] == 1024 and extra["n_windows"] == 2 and extra["gates"] is None
    assert [m.name for m in metrics] == ["first_token_share_mean", "max_abs_hidden_mean", "max_abs_hidden_max",
                                         "first_token_share_vs_uniform", "frac_heads_above_0_3"]
    assert extra["window_source"].startswith("default (1024")


def test_a_data_folder_without_wikitext_is_a_data_error(load_gated, tmp_path):
    model, tokenizer = load_gated("none")
    with pytest.raises(DataError, match="wiki.test.raw"):
        run_diagnostics_unit(model, tokenizer, data_dir=tmp_path, limit=1, max_length=64)
