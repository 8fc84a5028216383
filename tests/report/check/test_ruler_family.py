"""check: RULER run as ``ruler_es_synthetic`` or single ``ruler_es_*`` tasks is gated like ``ruler_es``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compare.ruler_shapes import SYNTHETIC, add_unit, split_ruler
from tests.conftest_records import copy_run, degrade
from evalsuite.report.check import check
from evalsuite.errors import RecordError

B = 1000
RULER_KEYS = {"ruler_4096", "ruler_32768", "ruler_131072"}


def _ruler_rows(result) -> dict[tuple[str, str], tuple]:
    return {(r.model, r.metric): (r.n, r.delta, r.pvalue, r.worse) for r in result.rows if r.metric in RULER_KEYS}


@pytest.fixture()
def synthetic(tmp_path: Path, two_model_run: Path) -> tuple[Path, Path]:
    """Reference and candidate copies of the two-model run, RULER recorded as the synthetic group."""
    runs = []
    for name in ("reference", "candidate"):
        run_dir = copy_run(two_model_run, tmp_path / name)
        for model in ("base", "gated"):
            split_ruler(run_dir, model, {SYNTHETIC: None})
        runs.append(run_dir)
    return runs[0], runs[1]


def test_synthetic_group_is_gated_as_ruler_es(two_model_run: Path, synthetic: tuple[Path, Path]) -> None:
    result = check(*synthetic, n_resamples=B)
    rows = _ruler_rows(result)
    assert {m for _, m in rows} == RULER_KEYS and {m for m, _ in rows} == {"base", "gated"}
    assert result.exit_code == 0
    assert rows == _ruler_rows(check(two_model_run, copy_run(two_model_run, synthetic[0].parent / "plain"),
                                     n_resamples=B))


def test_degraded_synthetic_group_fails(synthetic: tuple[Path, Path]) -> None:
    reference, candidate = synthetic
    degrade(candidate, "gated", SYNTHETIC, "4096", 1.0)  # every right answer at 4K now wrong
    result = check(reference, candidate, n_resamples=B)
    assert result.exit_code == 1
    assert [(r.model, r.metric) for r in result.failures] == [("gated", "ruler_4096")]


def test_single_tasks_are_gated_together(tmp_path: Path, two_model_run: Path) -> None:
    candidate = copy_run(two_model_run, tmp_path / "candidate")
    split_ruler(candidate, "gated", {"ruler_es_niah_single_1": ["ruler_es_niah_single_1"],
                                     "ruler_es_niah_multikey_1": ["ruler_es_niah_multikey_1"],
                                     "ruler_es_vt": ["ruler_es_vt"]})
    result = check(two_model_run, candidate, n_resamples=B)  # reference: ruler_es, the same items
    assert {m for (model, m) in _ruler_rows(result) if model == "gated"} == RULER_KEYS
    split_ruler(candidate, "base", {"ruler_es_vt": ["ruler_es_vt"]})  # base lost two of its three tasks
    with pytest.raises(RecordError, match="item sets differ"):
        check(two_model_run, candidate, n_resamples=B)


def test_qa_task_not_run_for_missing_data_is_a_note(synthetic: tuple[Path, Path]) -> None:
    reference, candidate = synthetic
    for run_dir in synthetic:
        add_unit(run_dir, "gated", "ruler_es_qa_squad", "not_run", "not run: data missing (squad/dev-v2.0.json)")
    result = check(reference, candidate, n_resamples=B)
    assert {m for (model, m) in _ruler_rows(result) if model == "gated"} == RULER_KEYS
    assert "ruler_es_qa_squad: not run for gated in the candidate run (not run: data missing " \
           "(squad/dev-v2.0.json)); not checked" in result.notes
