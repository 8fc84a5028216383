"""Markdown escaping, the metric registry and `evalsuite compare`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalsuite.compare import escape_markdown, main_compare
from evalsuite.compare.format import code_span, fmt_num, fmt_p, stars
from evalsuite.compare.metrics import known_metric_pattern, metric_spec


def test_hostile_name_is_inert_markdown() -> None:
    text = escape_markdown("a|b*_[x]<script>`~&$\nz")
    assert text == r"a\|b\*\_\[x\]&lt;script&gt;\`\~&amp;\$ z"
    assert "<" not in text and "\n" not in text
    assert not re.search(r"(?<!\\)[|*_\[\]`$]", text)  # every markdown-active character is escaped


def test_code_span_fences_backticks() -> None:
    assert code_span("run-1") == "`run-1`"
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x") == "`` `x ``"


def test_number_formats() -> None:
    assert fmt_p(0.01234) == "0.012" and fmt_p(0.0000123) == "1.2e-05" and fmt_p(None) == "–"
    assert fmt_num(-0.00001, 2, signed=True) == "+0.00" and fmt_num(1.5, 1, signed=True) == "+1.5"
    assert [stars(p) for p in (0.2, 0.04, 0.009, 0.0009, None)] == ["", "*", "**", "***", ""]


def test_metric_registry() -> None:
    assert metric_spec("ruler_65536").label == "RULER 64K"
    assert metric_spec("log_ppl").higher_is_better is False
    assert metric_spec("mmlu") is None and metric_spec("ruler_x") is None
    assert known_metric_pattern("ruler_*") and known_metric_pattern("mmlu_acc_*")
    assert not known_metric_pattern("bleu") and not known_metric_pattern("hellaswag")


def test_cli_text_and_formats(two_model_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main_compare([str(two_model_run), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "HellaSwag acc_norm" in out and "p_adj: holm over all 12 rows" in out
    assert main_compare([str(two_model_run.parent), "--resamples", "200", "--format", "json",
                         "--out", str(tmp_path / "c.json")]) == 0  # a suite folder: its latest run
    rows = json.loads((tmp_path / "c.json").read_text())
    assert len(rows) == 12 and rows[0]["metric"] == "log_ppl"
    assert main_compare([str(two_model_run), "--resamples", "200", "--format", "markdown"]) == 0
    assert "| gated | base | HellaSwag acc\\_norm |" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main_compare([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalsuite compare: error:") and err.count("\n") == 1
    assert main_compare([str(tmp_path), "--baseline", "oops"]) == 2
    assert main_compare(["--correction", "bonferroni", str(tmp_path)]) == 2  # argparse usage error
