"""check / `evalsuite check`: exit 0 for an identical copy, 1 for a degraded one, 2 for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest_records import BASE, ModelPlan, copy_run, degrade, reprompt, write_run
from evalsuite import stats
from evalsuite.check import DEFAULT_MARGINS, check, main_check, parse_margins
from evalsuite.compare._tests import row_rng
from evalsuite.errors import RecordError, SpecError
from evalsuite.records import load_run

B = 1000


def _cli(ref: Path, cand: Path, *extra: str) -> int:
    return main_check(["--reference", str(ref), "--candidate", str(cand), "--resamples", str(B), *extra])


@pytest.fixture()
def candidate(tmp_path: Path, two_model_run: Path) -> Path:
    return copy_run(two_model_run, tmp_path / "candidate")


def test_identical_copy_passes_with_exit_0(two_model_run: Path, candidate: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    assert _cli(two_model_run, candidate) == 0
    out = capsys.readouterr().out
    assert out.startswith("## evalsuite check: ✅ pass")
    assert "| Model | Metric | Ref | Cand | Δ | Margin | p | Verdict |" in out
    assert "❌" not in out


def test_degraded_copy_fails_with_exit_1(two_model_run: Path, candidate: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    degrade(candidate, "gated", "es_hellaswag", "acc_norm", 0.4)
    summary = tmp_path / "summary.md"
    assert _cli(two_model_run, candidate, "--summary-out", str(summary)) == 1
    text = summary.read_text()
    assert text == capsys.readouterr().out
    assert text.startswith("## evalsuite check: ❌ FAIL")
    failing = [line for line in text.splitlines() if "❌ worse" in line]
    assert len(failing) == 1 and failing[0].startswith("| gated | HellaSwag acc\\_norm (hellaswag\\_acc\\_norm) |")


def test_worse_perplexity_fails(two_model_run: Path, candidate: Path) -> None:
    degrade(candidate, "base", "es_wikitext", "loglik", 0.03)  # nll +3 %: log-PPL +0.05 nats
    result = check(two_model_run, candidate, n_resamples=B)
    assert result.exit_code == 1
    [row] = result.failures
    assert (row.model, row.metric) == ("base", "log_ppl") and row.delta > row.margin == 0.01


def test_small_degradation_within_margin_passes(two_model_run: Path, candidate: Path) -> None:
    degrade(candidate, "gated", "es_hellaswag", "acc_norm", 0.4)
    assert check(two_model_run, candidate, margins={"hellaswag_acc_norm": 0.5}, n_resamples=B).exit_code == 0


def _join_order(run: Path, model: str, task: str) -> list:
    return sorted(load_run(run).unit(model, task).samples, key=lambda s: (s.task, s.doc_id))


def test_rows_match_direct_noninferiority_tests(two_model_run: Path, candidate: Path) -> None:
    degrade(candidate, "gated", "es_mmlu", "acc", 0.1)
    degrade(candidate, "gated", "es_wikitext", "loglik", 0.005)
    result = check(two_model_run, candidate, correction="none", n_resamples=B, rng=3)
    row = next(r for r in result.rows if (r.model, r.metric) == ("gated", "mmlu_acc"))
    ref = np.array([s.scores["acc"] for s in _join_order(two_model_run, "gated", "es_mmlu")])
    cand = np.array([s.scores["acc"] for s in _join_order(candidate, "gated", "es_mmlu")])
    direct = stats.worse_by_margin_binary(ref, cand, margin=0.01)
    assert (row.pvalue, row.lower_bound, row.degradation) == (direct.pvalue, direct.lower_bound,
                                                                direct.degradation)
    assert row.pvalue_adjusted == row.pvalue and row.worse == direct.worse
    ref_docs = _join_order(two_model_run, "gated", "es_wikitext")
    cand_docs = _join_order(candidate, "gated", "es_wikitext")
    direct = stats.worse_by_margin_log_ppl(
        [-s.scores["loglik"] for s in ref_docs], [-s.scores["loglik"] for s in cand_docs],
        [s.scores["n_tokens"] for s in ref_docs], margin=0.01, n_resamples=B,
        rng=row_rng(3, "check", "gated", "gated", "log_ppl"))
    row = next(r for r in result.rows if (r.model, r.metric) == ("gated", "log_ppl"))
    assert (row.pvalue, row.lower_bound, row.delta) == (direct.pvalue, direct.lower_bound, direct.delta)
    ruler = next(r for r in result.rows if (r.model, r.metric) == ("gated", "ruler_4096"))
    assert ruler.pvalue == 1.0 and ruler.margin == 0.01


def test_holm_adjustment_over_all_rows(two_model_run: Path, candidate: Path) -> None:
    degrade(candidate, "gated", "es_hellaswag", "acc", 0.3)
    raw = check(two_model_run, candidate, correction="none", n_resamples=B)
    holm = check(two_model_run, candidate, n_resamples=B)
    expected = stats.adjust_pvalues([r.pvalue for r in raw.rows], method="holm").pvalues_adjusted
    assert [r.pvalue_adjusted for r in holm.rows] == pytest.approx(list(expected))


def test_model_map_and_unmatched_models(tmp_path: Path, two_model_run: Path) -> None:
    renamed = write_run(tmp_path, [BASE, ModelPlan("gated-v2", role="gated", skill=0.08, nll_scale=0.97,
                                                   gate="elementwise", seed=2)])
    with pytest.raises(RecordError, match="lacks evidence the reference has.*model 'gated' \\(diagnostics, es_hel"):
        check(two_model_run, renamed, n_resamples=B)  # the reference's 'gated' is nowhere in the candidate
    plain = check(two_model_run, renamed, n_resamples=B, allow_missing=True)
    assert {r.model for r in plain.rows} == {"base"} and plain.missing[0].startswith("model 'gated' (")
    assert any("'gated-v2' has no reference model" in n for n in plain.notes)
    mapped = check(two_model_run, renamed, model_map={"gated-v2": "gated"}, n_resamples=B)
    assert {r.model for r in mapped.rows} == {"base", "gated-v2"} and mapped.exit_code == 0
    assert "gated-v2 (ref: gated)" in mapped.to_markdown()
    assert _cli(two_model_run, renamed, "--model", "gated-v2=gated") == 0
    with pytest.raises(SpecError, match="no model 'nope' in the reference run"):
        check(two_model_run, renamed, model_map={"gated-v2": "nope"})


def test_extra_metrics_only_when_a_margin_names_them(two_model_run: Path, candidate: Path) -> None:
    default = {r.metric for r in check(two_model_run, candidate, n_resamples=B).rows}
    assert "mmlu_acc_stem" not in default and {"log_ppl", "mmlu_acc", "ruler_131072"} <= default
    named = check(two_model_run, candidate, margins={"mmlu_acc_*": 0.02}, n_resamples=B)
    assert {"mmlu_acc_stem", "mmlu_acc_other"} <= {r.metric for r in named.rows}
    assert {r.margin for r in named.rows if r.metric.startswith("mmlu_acc_")} == {0.02}
    assert {r.margin for r in named.rows if r.metric == "mmlu_acc"} == {0.01}  # the glob needs the "_"


def test_missing_run_is_exit_2(two_model_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _cli(two_model_run, tmp_path / "missing") == 2
    err = capsys.readouterr().err
    assert err.startswith("evalsuite check: error:") and "not a run folder" in err and err.count("\n") == 1


def test_unknown_metric_in_margin_is_exit_2(two_model_run: Path, candidate: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    assert _cli(two_model_run, candidate, "--margin", "bleu=0.01") == 2
    assert "unknown metric 'bleu'" in capsys.readouterr().err
    assert _cli(two_model_run, candidate, "--margin", "mmlu_acc") == 2
    assert _cli(two_model_run, candidate, "--margin", "mmlu_acc=lots") == 2
    assert _cli(two_model_run, candidate, "--margin", "mmlu_acc=1") == 2  # a fraction: 1 would be 100 points
    assert _cli(two_model_run, candidate, "--alpha", "5") == 2


def test_mismatched_prompt_hashes_are_exit_2(two_model_run: Path, candidate: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    reprompt(candidate, "base", "es_mmlu", {0, 1})
    assert _cli(two_model_run, candidate) == 2
    err = capsys.readouterr().err
    assert "es_mmlu_abstract_algebra doc 0" in err and "prompt hash differs" in err


def test_failed_candidate_unit_is_exit_2_and_data_missing_is_a_note(tmp_path: Path, two_model_run: Path) -> None:
    broken = write_run(tmp_path / "a", [BASE, ModelPlan("gated", role="gated", seed=2,
                                                        failed={"es_mmlu": "CUDA out of memory"})])
    with pytest.raises(RecordError, match=r"cannot vouch for it: gated/es_mmlu \(error: CUDA out of memory\)\."):
        check(two_model_run, broken, n_resamples=B)
    missing = write_run(tmp_path / "b", [BASE, ModelPlan("gated", role="gated", skill=0.08, nll_scale=0.97,
                                                         gate="elementwise", seed=2,
                                                         failed={"ruler_es": "not run: data missing"})])
    with pytest.raises(RecordError, match="cannot vouch for it: gated/ruler_es\\."):
        check(two_model_run, missing, n_resamples=B)  # the reference has RULER for gated: no evidence, no pass
    result = check(two_model_run, missing, n_resamples=B, allow_missing=True)
    assert result.missing == ("gated/ruler_es",)
    assert any("ruler_es: not run for gated in the candidate run" in n for n in result.notes)
    assert not any(r.model == "gated" and r.metric.startswith("ruler") for r in result.rows)


def test_defaults_are_documented_values() -> None:
    assert DEFAULT_MARGINS == {"log_ppl": 0.01, "mmlu_acc*": 0.01, "hellaswag_acc*": 0.01, "ruler_*": 0.01,
                               "*_pgold*": 0.01, "hellaswag_margin*": 0.4}
    assert parse_margins({"ruler_*": "0.02"}) == {"ruler_*": 0.02}
    with pytest.raises(SpecError, match=">= 0"):
        parse_margins({"log_ppl": -0.1})
