"""publish: the rendered page against a golden file, escaping, partial runs, CSV/JSON and PNG files.

Regenerate the golden file after an intended change with
``EVALSUITE_UPDATE_GOLDEN=1 pytest tests/report/publish`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest_records import BASE, GATED, ModelPlan, copy_run, write_run
from evalsuite.report.publish import main_publish, publish
from evalsuite.records import load_run

GOLDEN = Path(__file__).resolve().parent / "golden" / "LEADERBOARD.md"
HEADWISE = ModelPlan("headwise", role="gated", skill=0.03, nll_scale=0.99, gate="headwise", seed=3,
                     failed={"ruler_es": "not run: data missing (pg_essays/PaulGrahamEssays.json)"})
TABLES = ("main", "paper", "deltas", "ruler", "ruler_tasks", "diagnostics", "not_run")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    run_dir = write_run(root, [BASE, GATED, HEADWISE])
    return publish([run_dir], n_resamples=1000, seed=0)


def _table_rows(text: str, heading: str) -> list[str]:
    """The pipe-table lines under a heading."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def test_page_matches_golden_file(published: Path) -> None:
    text = published.read_text()
    if os.environ.get("EVALSUITE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "rendered LEADERBOARD.md differs from tests/publish/golden (see module doc)"


def test_default_output_is_the_suite_folder(published: Path) -> None:
    assert published.name == "LEADERBOARD.md" and published.parent.name == "synth"
    assert (published.parent / "run-1" / "manifest.json").exists()


def test_page_content(published: Path) -> None:
    text = published.read_text()
    assert "PARTIAL" not in text and "[!WARNING]" not in text
    main = _table_rows(text, "## Results")
    assert len(main) == 2 + 3
    assert main[-1].startswith("| headwise | gated |") and main[-1].endswith("| – | – |")  # RULER not run
    assert "paper: 15B-A2.5B MoE, elementwise gate | 5.761 | 60.82 | 74.64 | – | 0.048 | 94 |" in text
    deltas = _table_rows(text, "## Deltas against the baseline")
    assert {r.split("|")[1].strip() for r in deltas[2:]} == {"gated", "headwise"}
    assert "| headwise | ruler\\_es | not\\_run | not run: data missing" in text
    assert "qa\\_squad | – | – | – | not run: data missing (squad/dev-v2.0.json) |" in text
    assert "![First-token attention share per layer](first_token_share.png)" in text
    assert "evalsuite commit: `0123456789abcdef0123456789abcdef01234567`" in text


def test_every_table_row_has_as_many_cells_as_its_header(published: Path) -> None:
    lines = published.read_text().splitlines()
    header = None
    for line in lines:
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = _cells(line)
        assert _cells(line) == header, line


def test_plots_are_written_beside_the_page(published: Path) -> None:
    for name in ("ruler_by_length.png", "first_token_share.png", "max_activation.png", "gate_scores.png",
                 "deltas_forest.png"):
        data = (published.parent / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name


def test_tables_as_csv_and_json(published: Path) -> None:
    folder = published.parent / "leaderboard"
    for name in TABLES:
        csv = pd.read_csv(folder / f"{name}.csv")
        records = json.loads((folder / f"{name}.json").read_text())
        assert len(csv) == len(records), name
        assert list(csv.columns) == list(records[0]) if records else True
    main = pd.read_csv(folder / "main.csv").set_index("model")
    run = load_run(published.parent / "run-1")
    acc = [s.scores["acc"] for s in run.unit("gated", "es_mmlu").samples]
    assert main.loc["gated", "mmlu_acc"] == pytest.approx(sum(acc) / len(acc))
    assert main.loc["gated", "mmlu_acc_ci_low"] < main.loc["gated", "mmlu_acc"] < main.loc["gated", "mmlu_acc_ci_high"]
    assert pd.isna(main.loc["headwise", "ruler_32768"])
    deltas = pd.read_csv(folder / "deltas.csv")
    assert set(deltas["candidate"]) == {"gated", "headwise"} and (deltas["baseline"] == "base").all()


def test_hostile_model_name_is_escaped(tmp_path: Path) -> None:
    hostile, mathy = "a|b*_[x]<script>", "m$\\frac$"  # the second would break matplotlib's mathtext
    run_dir = write_run(tmp_path, [BASE, ModelPlan(hostile, role="gated", seed=5, gate="elementwise"),
                                   ModelPlan(mathy, role="gated", seed=6, gate="headwise")])
    text = publish([run_dir], n_resamples=200).read_text()
    assert "<script>" not in text
    assert r"a\|b\*\_\[x\]&lt;script&gt;" in text and r"m\$\\frac\$" in text
    for line in text.splitlines():
        assert "a|b" not in line, line
    main = _table_rows(text, "## Results")
    assert {_cells(r) for r in main} == {7}
    assert (tmp_path / "synth" / "ruler_by_length.png").exists()
    csv = pd.read_csv(tmp_path / "synth" / "leaderboard" / "main.csv")
    assert hostile in set(csv["model"])  # data files keep the real name


def test_partial_run_is_flagged_prominently(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED], status="partial", pending=("gated/ruler_es",))
    text = publish([run_dir], n_resamples=200).read_text()
    first_lines = text.splitlines()[:6]
    assert first_lines[0] == "# synth leaderboard — ⚠ PARTIAL RUN"
    assert "> [!WARNING]" in first_lines and "These are not complete results" in text
    assert "gated/ruler\\_es is pending" in text
    assert "status **partial** (NOT COMPLETE)" in text
    assert "| gated | ruler\\_es | pending | no record written |" in text


def test_manifest_saying_complete_with_a_missing_unit_is_still_flagged(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED], status="complete", pending=("base/es_mmlu",))
    text = publish([run_dir], n_resamples=200).read_text()
    assert text.startswith("# synth leaderboard — ⚠ PARTIAL RUN")
    assert "base/es\\_mmlu is pending" in text


def test_failed_unit_is_flagged_and_listed(tmp_path: Path) -> None:
    plans = [BASE, ModelPlan("gated", role="gated", seed=2, failed={"es_mmlu": "CUDA out of memory"})]
    run_dir = write_run(tmp_path, plans, status="partial")
    text = publish([run_dir], n_resamples=200).read_text()
    assert "PARTIAL RUN" in text and "gated/es\\_mmlu is error" in text
    assert "| gated | es\\_mmlu | error | CUDA out of memory |" in text


def test_publish_twice_gives_the_same_page(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    first = publish([run_dir], out_dir=tmp_path / "a", n_resamples=300).read_text()
    second = publish([run_dir], out_dir=tmp_path / "b", n_resamples=300).read_text()
    assert first == second


def test_cli(two_model_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main_publish([str(two_model_run), "--out", str(tmp_path / "out"), "--resamples", "200",
                         "--no-plots"]) == 0
    assert capsys.readouterr().out.strip() == f"leaderboard: {tmp_path / 'out' / 'LEADERBOARD.md'}"
    assert not (tmp_path / "out" / "ruler_by_length.png").exists()
    assert main_publish([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalsuite publish: error:") and err.count("\n") == 1
