"""The companion rows (p(gold) for MMLU and HellaSwag acc_norm, the margin for HellaSwag acc), clustered HellaSwag rows, the paper-delta power column
and ``check --signal companion``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from tests.conftest_records import copy_run, rewrite_unit
from evalsuite import stats
from evalsuite.report.check import check
from evalsuite.compare import compare_runs
from evalsuite.report.check._summary import summary_markdown
from evalsuite.compare.choices import gold_shift_for_accuracy, paper_delta_for_companion, swap_for_accuracy
from evalsuite.compare.display import metric_text
from evalsuite.compare.tests import row_rng
from evalsuite.records import UnitRecord, load_run

B = 400
SEED = 3


def _choices(rng: np.random.Generator, acc: float, acc_norm: float | None, gold: int,
             lift: float) -> tuple[list[float], list[int]]:
    """Per-choice log-likelihoods and lengths whose raw and per-char argmax agree with the recorded scores."""
    while True:
        chars = rng.integers(8, 60, size=4)
        ll = rng.normal(-1.2, 0.5, size=4) * chars
        ll[gold] += lift * chars[gold]
        if (np.argmax(ll) == gold) == bool(acc) and (acc_norm is None or
                                                     (np.argmax(ll / chars) == gold) == bool(acc_norm)):
            return ll.tolist(), chars.tolist()


def add_choices(run_dir: Path, model: str, *, lift: float, seed: int, chars: bool = True) -> None:
    """Give the model's MMLU and HellaSwag samples resps (and choice lengths, clusters) that agree with acc."""
    def edit(unit: UnitRecord) -> None:
        rng = np.random.default_rng(seed)
        out = []
        for s in unit.samples:
            gold = s.doc_id % 4
            ll, n = _choices(rng, s.scores["acc"], s.scores.get("acc_norm"), gold, lift)
            out.append(replace(s, target=str(gold), resps=ll, choice_chars=n if chars else None,
                               cluster=f"activity-{s.doc_id // 6}" if unit.task == "es_hellaswag" else None))
        unit.samples = out
    for task in ("es_mmlu", "es_hellaswag"):
        rewrite_unit(run_dir, model, task, edit)


@pytest.fixture(scope="module")
def choice_run(two_model_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = copy_run(two_model_run, tmp_path_factory.mktemp("choices") / "run")
    add_choices(run_dir, "base", lift=0.0, seed=1)
    add_choices(run_dir, "gated", lift=0.15, seed=2)
    return run_dir


def _sorted(run_dir: Path, model: str, task: str) -> list:
    return sorted(load_run(run_dir).unit(model, task).samples, key=lambda s: (s.task, s.doc_id))


def test_companion_rows_follow_their_accuracies(choice_run: Path) -> None:
    table = compare_runs(choice_run, n_resamples=B, rng=SEED)
    keys = [r.metric for r in table.rows if r.family in ("mmlu", "hellaswag")]
    assert keys[:2] == ["mmlu_acc", "mmlu_pgold"]
    assert keys[-4:] == ["hellaswag_acc", "hellaswag_margin", "hellaswag_acc_norm", "hellaswag_pgold_norm"]
    assert table.row("gated", "mmlu_pgold").companion_of == "mmlu_acc"
    assert "estimand: mean gold-minus-best-distractor log-likelihood margin, nats" in metric_text(
        table.row("gated", "hellaswag_margin"))
    assert "estimand: mean probability on the gold choice" in metric_text(table.row("gated", "hellaswag_pgold_norm"))


def _margin(resps: np.ndarray, gold: int) -> float:
    return float(resps[gold] - max(v for i, v in enumerate(resps) if i != gold))


def test_companion_rows_are_the_clustered_score_test_of_margin_and_softmax(choice_run: Path) -> None:
    table = compare_runs(choice_run, n_resamples=B, rng=SEED)
    ref_s, cand_s = _sorted(choice_run, "base", "es_hellaswag"), _sorted(choice_run, "gated", "es_hellaswag")

    def score(samples, norm: bool) -> np.ndarray:  # acc: the raw margin; acc_norm: p(gold) per character
        if not norm:
            return np.array([_margin(np.array(s.resps), int(s.target)) for s in samples])
        return np.array([softmax(np.array(s.resps) / np.array(s.choice_chars))[int(s.target)] for s in samples])
    clusters = np.array([s.cluster for s in ref_s])
    for key, norm in (("hellaswag_margin", False), ("hellaswag_pgold_norm", True)):
        direct = stats.paired_score_test(score(ref_s, norm), score(cand_s, norm), clusters=clusters,
                                         n_resamples=B, rng=row_rng(SEED, "gated", "base", key))
        row = table.row("gated", key)
        assert (row.delta, row.pvalue, row.ci_low, row.ci_high) == pytest.approx((
            direct.statistic, direct.pvalue, direct.confidence_interval.low, direct.confidence_interval.high),
            rel=1e-12)
        assert row.design_effect == pytest.approx(direct.design_effect) and "over clusters" in row.method
    acc = table.row("gated", "hellaswag_acc")
    assert "clustered McNemar" in acc.method and acc.result.n_clusters == 20


def test_mmlu_pgold_is_stratified_and_carries_the_translated_paper_delta(choice_run: Path) -> None:
    table = compare_runs(choice_run, n_resamples=B, rng=SEED)
    row = table.row("gated", "mmlu_pgold")
    assert row.n_strata == 4 and row.design_effect == 1.0
    ref_s = _sorted(choice_run, "base", "es_mmlu")
    scores = np.array([s.resps for s in ref_s])
    gold = np.array([int(s.target) for s in ref_s])
    assert row.paper_delta == pytest.approx(paper_delta_for_companion(scores, gold, 0.0051, "pgold"))
    hs = table.row("gated", "hellaswag_margin")
    hs_s = _sorted(choice_run, "base", "es_hellaswag")
    hs_scores, hs_gold = np.array([s.resps for s in hs_s]), np.array([int(s.target) for s in hs_s])
    shift, moved = gold_shift_for_accuracy(hs_scores, hs_gold, 0.0082, "margin")
    assert moved == pytest.approx(shift, rel=1e-6)  # a gold shift moves every margin by the shift itself
    swapped = swap_for_accuracy(hs_scores, hs_gold, 0.0082, "margin")
    assert hs.paper_delta == pytest.approx(min(moved, swapped, key=abs))  # never the optimistic translation
    acc = table.row("gated", "mmlu_acc")
    expected = stats.paired_power(0.0051, n=acc.n, discordance=(acc.result.n10 + acc.result.n01) / acc.n)
    assert acc.paper_delta == pytest.approx(0.0051) and acc.paper_power == pytest.approx(expected.power)
    assert np.isnan(table.row("gated", "mmlu_acc_stem").paper_power)


def test_no_norm_companion_without_choice_lengths(choice_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(choice_run, tmp_path / "run")
    add_choices(run_dir, "gated", lift=0.15, seed=2, chars=False)
    keys = [r.metric for r in compare_runs(run_dir, n_resamples=50, rng=SEED).rows]
    assert "hellaswag_margin" in keys and "hellaswag_pgold_norm" not in keys


@pytest.mark.parametrize("signal", ["companion", "pgold"])
def test_check_signal_companion_gates_the_companion(choice_run: Path, tmp_path: Path, signal: str) -> None:
    default = check(choice_run, choice_run, n_resamples=200)
    assert {"mmlu_acc", "hellaswag_acc_norm"} <= {r.metric for r in default.rows}
    assert not any("pgold" in r.metric or "margin" in r.metric for r in default.rows)
    same = check(choice_run, choice_run, n_resamples=200, signal=signal)
    gated = {r.metric for r in same.rows}
    assert {"mmlu_pgold", "hellaswag_margin", "hellaswag_pgold_norm"} <= gated and "mmlu_acc" not in gated
    assert same.exit_code == 0
    # The gated model against itself with its gold choices made much less likely: companions worse, accuracy kept.
    worse = copy_run(choice_run, tmp_path / "worse")

    def flatten(unit: UnitRecord) -> None:  # the gold choice moves toward the runner-up; no argmax changes
        def less_sure(resps: list[float], gold: int) -> list[float]:
            out, best_other = list(resps), max(v for i, v in enumerate(resps) if i != gold)
            out[gold] = best_other + 0.2 * (resps[gold] - best_other) if resps[gold] > best_other else resps[gold] - 2
            return out
        unit.samples = [replace(s, resps=less_sure(s.resps, int(s.target))) for s in unit.samples]
    rewrite_unit(worse, "gated", "es_mmlu", flatten)
    rewrite_unit(worse, "gated", "es_hellaswag", flatten)
    result = check(choice_run, worse, n_resamples=500, signal=signal,
                   margins={"mmlu_pgold": 0.001, "hellaswag_margin": 0.01, "hellaswag_pgold_norm": 0.99})
    assert result.exit_code == 1 and [r.metric for r in result.failures] == ["mmlu_pgold", "hellaswag_margin"]
    assert "nats" in summary_markdown(result)
    # A margin row is in nats, not a fraction: a margin of 1.5 nats is a valid (lenient) margin.
    lenient = check(choice_run, worse, n_resamples=200, signal=signal, margins={"hellaswag_margin": 1.5})
    assert [r.margin for r in lenient.rows if r.metric == "hellaswag_margin"] == [1.5, 1.5]
    assert check(choice_run, worse, n_resamples=500).exit_code == 0  # the accuracy did not move


def test_swap_translation_by_hand() -> None:
    scores = np.array([[0.0, 2.0, 1.0], [3.0, 1.0, 0.0]])  # item 0 wrong (margin -2), item 1 right
    gold = np.array([0, 0])
    # +50 points needs one wrong item swapped: gold takes 2.0, the distractor 0.0, the margin becomes 2 - 1 = 1.
    assert swap_for_accuracy(scores, gold, 0.5, "margin") == pytest.approx((1.0 - -2.0) / 2)
    assert gold_shift_for_accuracy(scores, gold, 0.5, "margin")[1] == pytest.approx(2.0, rel=1e-6)
    assert paper_delta_for_companion(scores, gold, 0.5, "margin") == pytest.approx(1.5)  # the smaller one
    assert np.isnan(swap_for_accuracy(scores, gold, 1.0, "margin"))  # only one item can gain
