"""RULER is a family of unit names: the group ``ruler_es``, the group ``ruler_es_synthetic`` and single
``ruler_es_*`` tasks all give the per-length scores and paired tests that ``ruler_es`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compare.ruler_shapes import SYNTHETIC, fail_unit, split_ruler
from tests.conftest_records import copy_run
from evalsuite.compare import compare_runs
from evalsuite.compare.family import is_ruler, is_ruler_group, merge_units, task_family
from evalsuite.errors import RecordError
from evalsuite.records import load_run

B = 500
SEED = 11
RULER_KEYS = ["ruler_4096", "ruler_32768", "ruler_131072", "ruler_trend"]
SINGLE = {"ruler_es_niah_single_1": ["ruler_es_niah_single_1"],
          "ruler_es_niah_multikey_1": ["ruler_es_niah_multikey_1"], "ruler_es_vt": ["ruler_es_vt"]}


def _ruler_rows(table) -> list[tuple]:
    return [(r.candidate, r.baseline, r.metric, r.n, r.n_strata, r.reference_value, r.candidate_value, r.delta,
             r.ci_low, r.ci_high, r.pvalue, r.method) for r in table.rows if r.family == "ruler"]


@pytest.fixture(scope="module")
def group_rows(two_model_run: Path) -> list[tuple]:
    rows = _ruler_rows(compare_runs(two_model_run, n_resamples=B, rng=SEED))
    assert [r[2] for r in rows] == RULER_KEYS
    return rows


def test_task_family() -> None:
    for task in ("ruler_es", SYNTHETIC, "ruler_es_niah_single_1", "ruler_es_qa_squad", "ruler_es_vt+ruler_es_cwe"):
        assert task_family(task) == "ruler_es" and is_ruler(task), task
    assert [is_ruler_group(t) for t in ("ruler_es", SYNTHETIC, "ruler_es_vt")] == [True, True, False]
    assert [task_family(t) for t in ("es_mmlu", "es_wikitext", "diagnostics", "ruler_esx", "es_mmlu+ruler_es")] == [
        "es_mmlu", "es_wikitext", None, None, None]


def test_synthetic_group_gives_the_same_rows_as_ruler_es(tmp_path: Path, two_model_run: Path,
                                                          group_rows: list[tuple]) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    for model in ("base", "gated"):
        split_ruler(run_dir, model, {SYNTHETIC: None})
    table = compare_runs(run_dir, n_resamples=B, rng=SEED)
    assert _ruler_rows(table) == group_rows
    assert table.notes == ()


def test_single_task_units_are_seen_as_one(tmp_path: Path, two_model_run: Path, group_rows: list[tuple]) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    for model in ("base", "gated"):
        split_ruler(run_dir, model, SINGLE)
    table = compare_runs(run_dir, n_resamples=B, rng=SEED)
    assert _ruler_rows(table) == group_rows  # one row per length, not one per unit
    assert table.row("gated", "ruler_4096").n_strata == 3


def test_ruler_es_pairs_with_ruler_es_synthetic_on_the_same_items(tmp_path: Path, two_model_run: Path,
                                                                  group_rows: list[tuple]) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    split_ruler(run_dir, "gated", {SYNTHETIC: None})  # base keeps ruler_es, whose QA tasks did not run
    assert _ruler_rows(compare_runs(run_dir, n_resamples=B, rng=SEED)) == group_rows


def test_different_ruler_tasks_are_refused(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    split_ruler(run_dir, "base", {SYNTHETIC: None})
    split_ruler(run_dir, "gated", {"ruler_es_niah_single_1": ["ruler_es_niah_single_1"],
                                   "ruler_es_vt": ["ruler_es_vt"]})
    with pytest.raises(RecordError, match="item sets differ"):
        compare_runs(run_dir, n_resamples=B, rng=SEED)
    table = compare_runs(run_dir, n_resamples=B, rng=SEED, strict=False)
    assert not [r for r in table.rows if r.family == "ruler"]
    [note] = table.notes
    assert note.startswith("ruler_es_synthetic/ruler_es_niah_single_1/ruler_es_vt: gated vs base not compared: ")
    assert "(first: ruler_es_niah_multikey_1 doc 0 only in reference)" in note


def test_a_subtask_in_two_units_is_refused_not_counted_twice(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    split_ruler(run_dir, "gated", {SYNTHETIC: None, "ruler_es_vt": ["ruler_es_vt"]})
    run = load_run(run_dir)
    with pytest.raises(RecordError, match="ruler_es_vt: scored by both ruler_es_synthetic and ruler_es_vt"):
        merge_units([run.unit("gated", SYNTHETIC), run.unit("gated", "ruler_es_vt")])
    table = compare_runs(run_dir, n_resamples=B, rng=SEED, strict=False)
    assert not [r for r in table.rows if r.family == "ruler"]
    assert any("scored by both" in n for n in table.notes)


def test_failed_synthetic_group_is_a_note(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    split_ruler(run_dir, "base", {SYNTHETIC: None})
    split_ruler(run_dir, "gated", {SYNTHETIC: None})
    fail_unit(run_dir, "gated", SYNTHETIC, "CUDA out of memory")
    table = compare_runs(run_dir, n_resamples=B, rng=SEED)
    assert table.notes == ("ruler_es_synthetic: gated vs base not compared (gated is error: CUDA out of memory)",)
    assert not [r for r in table.rows if r.family == "ruler"]
