"""publish: a suite that runs RULER as ``ruler_es_synthetic`` or as single ``ruler_es_*`` tasks gets the same
RULER section as one that runs ``ruler_es`` (the mini suite's symptom: "RULER was not run")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.compare.ruler_shapes import SYNTHETIC, add_unit, fail_unit, split_ruler
from tests.conftest_records import BASE, GATED, write_run
from evalsuite.report.publish import publish

B = 300
SINGLE = {"ruler_es_niah_single_1": ["ruler_es_niah_single_1"],
          "ruler_es_niah_multikey_1": ["ruler_es_niah_multikey_1"], "ruler_es_vt": ["ruler_es_vt"]}


def _section(text: str, heading: str) -> str:
    return text.split(heading + "\n", 1)[1].split("\n#", 1)[0]


def _rows(text: str, heading: str) -> list[str]:
    """The header and body rows of the first table under a heading (not the alignment row)."""
    return [line for line in _section(text, heading).splitlines() if line.startswith("| ")]


def _ruler_deltas(text: str) -> list[str]:
    return [r for r in _rows(text, "## Deltas against the baseline") if "| RULER " in r]


@pytest.fixture(scope="module")
def group_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    run_dir = write_run(tmp_path_factory.mktemp("group"), [BASE, GATED])
    return publish([run_dir], n_resamples=B, seed=0).read_text()


@pytest.mark.parametrize("shape", [{SYNTHETIC: None}, SINGLE], ids=["synthetic-group", "single-tasks"])
def test_ruler_section_as_with_ruler_es(tmp_path: Path, group_page: str, shape: dict) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED])
    for model in ("base", "gated"):
        split_ruler(run_dir, model, shape)
    page = publish([run_dir], n_resamples=B, seed=0)
    text = page.read_text()
    assert "RULER was not run" not in text
    ruler = _rows(text, "## RULER by length")
    assert ruler[0] == "| Model | 4K | 32K | 128K |"
    assert [r.split(" | ")[0] for r in ruler[1:]] == ["| base", "| gated"]
    assert ruler == _rows(group_page, "## RULER by length")  # same items: same per-length scores and intervals
    assert len(_ruler_deltas(text)) == 3 + 1 and _ruler_deltas(text) == _ruler_deltas(group_page)  # + the trend row
    main = _rows(text, "## Results")
    assert _rows(group_page, "## Results") == main and not main[-1].endswith("| – | – |")  # RULER 32K, 128K
    tasks = _rows(text, "### RULER per task")
    assert [r.split(" | ")[1] for r in tasks[1:]] == ["niah\\_multikey\\_1", "niah\\_single\\_1", "vt"] * 2
    assert all(r.endswith("|  |") for r in tasks[1:])  # every task ran
    assert "Every unit ran." in text and "PARTIAL" not in text
    assert (page.parent / "ruler_by_length.png").exists()
    frame = pd.read_csv(page.parent / "leaderboard" / "ruler.csv")
    assert set(frame["length"]) == {4096, 32768, 131072} and set(frame["model"]) == {"base", "gated"}


def test_synthetic_group_with_a_qa_task_not_run_for_missing_data(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED])
    for model in ("base", "gated"):
        split_ruler(run_dir, model, {SYNTHETIC: None})
        add_unit(run_dir, model, "ruler_es_qa_squad", "not_run", "not run: data missing (squad/dev-v2.0.json)")
    text = publish([run_dir], n_resamples=B, seed=0).read_text()
    assert "PARTIAL" not in text  # missing data is not a failure
    assert len(_rows(text, "## RULER by length")) == 1 + 2 and len(_ruler_deltas(text)) == 3 + 1
    assert "| base | qa\\_squad | – | – | – | not run: data missing (squad/dev-v2.0.json) |" in text
    assert "| gated | ruler\\_es\\_qa\\_squad | not\\_run | not run: data missing (squad/dev-v2.0.json) |" in text


def test_failed_synthetic_group_is_a_row_of_dashes_and_flagged(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED], status="partial")
    for model in ("base", "gated"):
        split_ruler(run_dir, model, {SYNTHETIC: None})
    fail_unit(run_dir, "gated", SYNTHETIC, "CUDA out of memory")
    text = publish([run_dir], n_resamples=B, seed=0).read_text()
    assert "PARTIAL RUN" in text and "gated/ruler\\_es\\_synthetic is error" in text
    assert "| gated | – | – | – |" in _rows(text, "## RULER by length")
    assert "| gated | synthetic tasks | – | – | – | error: CUDA out of memory |" in text
    assert "| gated | ruler\\_es\\_synthetic | error | CUDA out of memory |" in text
    assert not _ruler_deltas(text)
    assert "ruler\\_es\\_synthetic: gated vs base not compared (gated is error: CUDA out of memory)" in text
