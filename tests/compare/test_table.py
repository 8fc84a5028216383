"""compare_runs: each row equals the direct evalsuite.stats call on the records; baselines; multiplicity."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest_records import BASE, GATED, ModelPlan, copy_run, reprompt, rewrite_unit, write_run
from evalsuite import stats
from evalsuite.compare import compare_runs
from evalsuite.compare.tests import row_rng
from evalsuite.errors import RecordError, SpecError
from evalsuite.records import load_run

B = 2000
SEED = 7


def _in_join_order(run_dir: Path, model: str, task: str) -> list:
    """The unit's samples in the order pair_units aligns them: by (subtask, doc_id)."""
    return sorted(load_run(run_dir).unit(model, task).samples, key=lambda s: (s.task, s.doc_id))


@pytest.fixture(scope="module")
def table(two_model_run: Path):
    return compare_runs(two_model_run, n_resamples=B, rng=SEED)


def test_rows_cover_every_metric_in_order(table) -> None:
    assert table.pairs == (("gated", "base"),)
    assert [r.metric for r in table.rows] == [
        "log_ppl", "mmlu_acc", "mmlu_acc_stem", "mmlu_acc_humanities", "mmlu_acc_social_sciences",
        "mmlu_acc_other", "hellaswag_acc", "hellaswag_acc_norm", "ruler_4096", "ruler_32768", "ruler_131072",
        "ruler_trend"]
    assert table.notes == ()


def test_hellaswag_row_is_exact_mcnemar(table, two_model_run: Path) -> None:
    ref_s = _in_join_order(two_model_run, "base", "es_hellaswag")
    cand_s = _in_join_order(two_model_run, "gated", "es_hellaswag")
    assert [s.doc_hash for s in ref_s] == [s.doc_hash for s in cand_s]
    ref = np.array([s.scores["acc_norm"] for s in ref_s])
    cand = np.array([s.scores["acc_norm"] for s in cand_s])
    direct = stats.mcnemar_exact(ref, cand, n_resamples=B, rng=row_rng(SEED, "gated", "base", "hellaswag_acc_norm"))
    row = table.row("gated", "hellaswag_acc_norm")
    assert row.delta == direct.statistic == pytest.approx(cand.mean() - ref.mean())
    n10, n01 = int(((ref == 1) & (cand == 0)).sum()), int(((ref == 0) & (cand == 1)).sum())
    assert row.pvalue == direct.pvalue == stats.mcnemar_exact_pvalue(n10, n01)
    assert (row.ci_low, row.ci_high) == (direct.confidence_interval.low, direct.confidence_interval.high)
    assert row.mde == direct.mde and row.n == 120
    assert (row.reference_value, row.candidate_value) == (ref.mean(), cand.mean())


def test_mmlu_row_is_stratified_by_subject(table, two_model_run: Path) -> None:
    ref_s = _in_join_order(two_model_run, "base", "es_mmlu")
    cand_s = _in_join_order(two_model_run, "gated", "es_mmlu")
    ref = np.array([s.scores["acc"] for s in ref_s])
    cand = np.array([s.scores["acc"] for s in cand_s])
    strata = np.array([s.task for s in ref_s])
    direct = stats.mcnemar_exact(ref, cand, strata=strata, n_resamples=B,
                                 rng=row_rng(SEED, "gated", "base", "mmlu_acc"))
    row = table.row("gated", "mmlu_acc")
    assert row.n_strata == 4 == direct.n_strata
    assert (row.delta, row.pvalue, row.ci_low, row.ci_high) == (
        direct.statistic, direct.pvalue, direct.confidence_interval.low, direct.confidence_interval.high)
    stem = table.row("gated", "mmlu_acc_stem")
    mask = strata == "es_mmlu_abstract_algebra"
    assert stem.n == 40 and stem.delta == pytest.approx(cand[mask].mean() - ref[mask].mean())


def test_wikitext_row_is_token_log_ppl_ratio_of_sums(table, two_model_run: Path) -> None:
    ref_s = _in_join_order(two_model_run, "base", "es_wikitext")
    cand_s = _in_join_order(two_model_run, "gated", "es_wikitext")
    ref_nll = np.array([-s.scores["loglik"] for s in ref_s])
    cand_nll = np.array([-s.scores["loglik"] for s in cand_s])
    tokens = np.array([s.scores["n_tokens"] for s in ref_s])
    direct = stats.paired_bootstrap_log_ppl(ref_nll, cand_nll, tokens, n_resamples=B,
                                            rng=row_rng(SEED, "gated", "base", "log_ppl"))
    row = table.row("gated", "log_ppl")
    assert row.count_unit == "token"
    assert row.delta == pytest.approx(math.log(row.candidate_value / row.reference_value))
    assert (row.delta, row.pvalue, row.ci_low, row.ci_high) == (
        direct.statistic, direct.pvalue, direct.confidence_interval.low, direct.confidence_interval.high)
    assert row.reference_value == pytest.approx(direct.ppl_reference)


def test_wikitext_falls_back_to_words_when_tokenizers_differ(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")

    def retokenize(unit) -> None:
        for s in unit.samples:
            s.scores["n_tokens"] += 1

    rewrite_unit(run_dir, "gated", "es_wikitext", retokenize)
    row = compare_runs(run_dir, n_resamples=200, rng=0).row("gated", "log_ppl")
    assert row.count_unit == "word"
    samples = sorted(load_run(run_dir).unit("base", "es_wikitext").samples, key=lambda s: s.doc_id)
    words = sum(s.scores["n_words"] for s in samples)
    assert row.reference_value == pytest.approx(math.exp(-sum(s.scores["loglik"] for s in samples) / words))


def test_ruler_length_is_the_average_over_tasks_even_with_unequal_sizes(tmp_path: Path,
                                                                        two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")

    def drop_vt_items(unit) -> None:  # vt keeps 2 of its 8 items at 4K: task sizes 8, 8, 2
        unit.samples = [s for s in unit.samples if not (s.task == "ruler_es_vt" and "4096" in s.scores
                                                        and s.doc_id >= 2)]

    for model in ("base", "gated"):
        rewrite_unit(run_dir, model, "ruler_es", drop_vt_items)
    row = compare_runs(run_dir, n_resamples=B, rng=0).row("gated", "ruler_4096")
    run = load_run(run_dir)
    means = {}
    for model in ("base", "gated"):
        by_task: dict[str, list[float]] = {}
        for s in run.unit(model, "ruler_es").samples:
            if "4096" in s.scores:
                by_task.setdefault(s.task, []).append(s.scores["4096"])
        assert sorted(len(v) for v in by_task.values()) == [2, 8, 8]
        means[model] = np.mean([np.mean(v) for v in by_task.values()])  # paper table 5: mean over tasks
    assert row.n == 18
    assert row.reference_value == pytest.approx(means["base"])
    assert row.candidate_value == pytest.approx(means["gated"])
    assert row.delta == pytest.approx(means["gated"] - means["base"])


def test_adjusted_pvalues_are_holm_or_bh_over_the_whole_family(table, two_model_run: Path) -> None:
    raw = [r.pvalue for r in table.rows]
    holm = stats.adjust_pvalues(raw, method="holm")
    assert [r.pvalue_adjusted for r in table.rows] == list(holm.pvalues_adjusted)
    assert [r.significant for r in table.rows] == list(holm.reject)
    bh = compare_runs(two_model_run, n_resamples=B, rng=SEED, correction="bh")
    assert [r.pvalue for r in bh.rows] == raw
    assert [r.pvalue_adjusted for r in bh.rows] == list(stats.adjust_pvalues(raw, method="fdr_bh").pvalues_adjusted)


def test_rows_do_not_move_when_a_model_is_added(tmp_path: Path, table) -> None:
    bigger = write_run(tmp_path, [BASE, GATED, ModelPlan("headwise", role="gated", skill=0.03, seed=3)])
    other = compare_runs(bigger, n_resamples=B, rng=SEED)
    assert other.row("gated", "ruler_4096").ci_low == table.row("gated", "ruler_4096").ci_low
    assert len(other.rows) == 2 * len(table.rows)


def test_to_frame_has_one_row_per_comparison(table) -> None:
    frame = table.to_frame()
    assert len(frame) == len(table.rows)
    assert {"candidate", "baseline", "metric", "delta", "ci_low", "ci_high", "pvalue", "pvalue_adjusted",
            "significant", "mde", "n", "stars"} <= set(frame.columns)


def test_baselines_from_compare_to_roles_and_overrides(tmp_path: Path) -> None:
    plans = [ModelPlan("b1", role="baseline", seed=1, tasks=("es_hellaswag",)),
             ModelPlan("b2", role="baseline", seed=2, tasks=("es_hellaswag",)),
             ModelPlan("g1", role="gated", compare_to="b2", seed=3, tasks=("es_hellaswag",)),
             ModelPlan("g2", role="gated", seed=4, tasks=("es_hellaswag",))]
    run_dir = write_run(tmp_path, plans)
    table = compare_runs(run_dir, n_resamples=100, rng=0)
    assert table.pairs == (("g1", "b2"),)
    assert any("g2: no baseline" in n and "b1, b2" in n for n in table.notes)
    table = compare_runs(run_dir, baselines={"g2": "b1"}, n_resamples=100, rng=0)
    assert table.pairs == (("g1", "b2"), ("g2", "b1"))
    with pytest.raises(SpecError, match="no model 'nope'"):
        compare_runs(run_dir, baselines={"g2": "nope"})


def test_two_runs_with_distinct_models_compare_across_runs(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [ModelPlan("base", role="baseline", seed=1, tasks=("es_hellaswag",))])
    b = write_run(tmp_path / "b", [ModelPlan("gated", role="gated", seed=2, tasks=("es_hellaswag",))])
    assert compare_runs([a, b], n_resamples=100, rng=0).pairs == (("gated", "base"),)
    with pytest.raises(RecordError, match="appears in both"):
        compare_runs([a, a])


def test_refusal_is_an_error_when_strict_and_a_note_otherwise(tmp_path: Path, two_model_run: Path) -> None:
    run_dir = copy_run(two_model_run, tmp_path / "run")
    reprompt(run_dir, "gated", "es_hellaswag", {3})
    with pytest.raises(RecordError, match="es_hellaswag doc 3"):
        compare_runs(run_dir, n_resamples=100, rng=0)
    table = compare_runs(run_dir, n_resamples=100, rng=0, strict=False)
    assert not any(r.family == "hellaswag" for r in table.rows)
    assert any("es_hellaswag: gated vs base not compared" in n and "prompt hash differs" in n for n in table.notes)


def test_failed_unit_is_a_note(tmp_path: Path) -> None:
    plans = [BASE, ModelPlan("gated", role="gated", seed=2, failed={"es_hellaswag": "CUDA out of memory"})]
    table = compare_runs(write_run(tmp_path, plans), n_resamples=100, rng=0)
    assert "es_hellaswag: gated vs base not compared (gated is error: CUDA out of memory)" in table.notes
    assert "hellaswag_acc" not in {r.metric for r in table.rows}
