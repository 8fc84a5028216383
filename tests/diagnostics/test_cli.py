"""``evalsuite diagnose``: a table on stdout, JSON and PNGs in --out, one-line errors."""

from __future__ import annotations

import json

from evalsuite.diagnostics.cli import main_diagnose


def test_diagnose_prints_a_table_and_writes_json_and_plots(gated_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EVALSUITE_DATA", raising=False)  # -> the miniature samples
    out = tmp_path / "out"
    code = main_diagnose([str(gated_checkpoint("headwise")), "--limit", "2", "--window", "40", "--chunk", "16",
                          "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 windows, 80 tokens, window 40" in printed and "gate mean" in printed
    assert printed.count("\n") >= 3 + 3  # header lines + 3 layers + mean + max
    data = json.loads((out / "diagnostics.json").read_text())
    assert data["gates"]["kind"] == "headwise" and len(data["first_token_share"]) == 3
    for name in ("first_token_share.png", "max_activation.png", "gate_histogram.png"):
        assert (out / name).stat().st_size > 2000


def test_a_missing_model_is_one_line_on_stderr(tmp_path, capsys):
    assert main_diagnose([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_bad_options_are_usage_errors(capsys):
    assert main_diagnose(["model", "--limit", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err
