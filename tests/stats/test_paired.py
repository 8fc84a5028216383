"""Reference values, identities and properties of evalsuite.stats.paired."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats

from evalsuite.errors import RecordError
from evalsuite.stats import (
    mcnemar_exact,
    mcnemar_exact_pvalue,
    minimum_detectable_effect,
    paired_bootstrap_log_ppl,
    paired_bootstrap_mean,
)

from .simulate import binary_pairs, documents


def _pairs_from_counts(n11: int, n10: int, n01: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    reference = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00, dtype=bool)
    candidate = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00, dtype=bool)
    return reference, candidate


@pytest.mark.parametrize(
    "n10, n01", [(0, 0), (1, 0), (5, 0), (6, 0), (3, 3), (10, 25), (25, 10), (7, 8), (400, 470)]
)
def test_mcnemar_pvalue_is_scipy_binomtest_on_discordants(n10: int, n01: int) -> None:
    expected = 1.0 if n10 + n01 == 0 else stats.binomtest(n10, n10 + n01, 0.5).pvalue
    assert mcnemar_exact_pvalue(n10, n01) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    reference, candidate = _pairs_from_counts(50, n10, n01, 30)
    result = mcnemar_exact(reference, candidate, n_resamples=200, rng=0)
    assert result.pvalue == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert (result.n10, result.n01) == (n10, n01)


def test_mcnemar_delta_and_accuracies() -> None:
    reference, candidate = _pairs_from_counts(600, 40, 55, 305)  # n = 1000
    result = mcnemar_exact(reference, candidate, n_resamples=2000, rng=1)
    assert result.n == 1000
    assert result.statistic == result.delta == result.estimate == pytest.approx(0.015)
    assert result.reference_value == pytest.approx(0.640)
    assert result.candidate_value == pytest.approx(0.655)
    assert result.statistic in result.confidence_interval
    assert result.bootstrap_distribution.shape == (2000,)
    assert result.n_resamples == 2000 and result.n_strata == 1


def test_mcnemar_accepts_zero_one_numbers() -> None:
    reference, candidate = _pairs_from_counts(10, 3, 4, 5)
    as_bool = mcnemar_exact(reference, candidate, rng=0, n_resamples=100)
    as_float = mcnemar_exact(reference.astype(float), candidate.astype(int), rng=0, n_resamples=100)
    assert as_bool == as_float


def test_identical_models_give_p_one_and_a_point_interval() -> None:
    reference, _ = _pairs_from_counts(70, 0, 0, 30)
    result = mcnemar_exact(reference, reference.copy(), n_resamples=500, rng=0)
    assert result.pvalue == 1.0 and result.statistic == 0.0
    assert (result.confidence_interval.low, result.confidence_interval.high) == (0.0, 0.0)
    scores = np.linspace(0.0, 1.0, 50)
    continuous = paired_bootstrap_mean(scores, scores, n_resamples=500, rng=0)
    assert continuous.pvalue == 1.0 and continuous.statistic == 0.0


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_bootstrap_interval_matches_normal_approximation_at_large_n(kind: str) -> None:
    rng = np.random.default_rng(5)
    n = 14_000
    if kind == "binary":
        reference, candidate = (a[0] for a in binary_pairs(rng, 1, n, psi=0.15, lift=0.005))
        result = mcnemar_exact(reference, candidate, rng=6)
    else:
        reference = rng.random(n)
        candidate = np.clip(reference + rng.normal(0.003, 0.2, n), 0.0, 1.0)
        result = paired_bootstrap_mean(reference, candidate, rng=6)
    diffs = candidate.astype(float) - reference.astype(float)
    se = diffs.std(ddof=1) / math.sqrt(n)
    half = stats.norm.ppf(0.975) * se
    ci = result.confidence_interval
    assert ci.level == 0.95
    assert ci.low == pytest.approx(diffs.mean() - half, abs=0.06 * half)
    assert ci.high == pytest.approx(diffs.mean() + half, abs=0.06 * half)
    assert result.standard_error == pytest.approx(se, rel=0.05)


def test_log_ppl_is_a_ratio_of_sums_and_delta_is_log_of_the_ppl_ratio() -> None:
    rng = np.random.default_rng(7)
    reference, candidate, counts = (a[0] for a in documents(rng, 1, 62, shift_nats=-0.02))
    result = paired_bootstrap_log_ppl(reference, candidate, counts, n_resamples=2000, rng=8)
    ppl_reference = math.exp(reference.sum() / counts.sum())
    ppl_candidate = math.exp(candidate.sum() / counts.sum())
    assert result.ppl_reference == pytest.approx(ppl_reference, rel=1e-12)
    assert result.ppl_candidate == pytest.approx(ppl_candidate, rel=1e-12)
    assert result.statistic == pytest.approx(
        math.log(ppl_candidate) - math.log(ppl_reference), rel=1e-12, abs=1e-15)
    assert result.ppl_ratio == pytest.approx(ppl_candidate / ppl_reference, rel=1e-12)
    assert result.reference_value == pytest.approx(math.log(ppl_reference), rel=1e-12)
    assert result.total_count == counts.sum()
    ratio_ci, ci = result.ppl_ratio_confidence_interval, result.confidence_interval
    assert (ratio_ci.low, ratio_ci.high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert ci.low < result.statistic < ci.high


def test_log_ppl_interval_matches_delta_method_at_large_n() -> None:
    rng = np.random.default_rng(9)
    reference, candidate, counts = (a[0] for a in documents(rng, 1, 5000, length_sigma=0.5))
    result = paired_bootstrap_log_ppl(reference, candidate, counts, rng=10)
    diffs = candidate - reference
    linearised = (diffs - result.statistic * counts) / counts.mean()
    se = linearised.std(ddof=1) / math.sqrt(counts.size)
    assert result.standard_error == pytest.approx(se, rel=0.05)
    half = stats.norm.ppf(0.975) * se
    ci = result.confidence_interval
    assert ci.low == pytest.approx(result.statistic - half, abs=0.08 * half)
    assert ci.high == pytest.approx(result.statistic + half, abs=0.08 * half)


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_stratified_bootstrap_keeps_the_micro_delta_and_removes_between_strata_variance(
        kind: str) -> None:
    # Two subjects where the candidate gains on one and loses on the other: resampling
    # within subjects removes the between-subject part of the delta's variance.
    rng = np.random.default_rng(11)
    n = 4000
    strata = np.repeat(["abstract_algebra", "virology"], n // 2)
    gain = np.where(strata == "virology", 0.6, -0.6)
    reference = rng.random(n) < 0.5
    flip = rng.random(n) < np.abs(gain)
    candidate = np.where(flip, gain > 0, reference)
    if kind == "continuous":
        reference = reference + rng.normal(0, 0.1, n)
        candidate = candidate + rng.normal(0, 0.1, n)
    test = mcnemar_exact if kind == "binary" else paired_bootstrap_mean
    plain = test(reference, candidate, n_resamples=4000, rng=12)
    stratified = test(reference, candidate, strata=strata, n_resamples=4000, rng=12)
    assert stratified.statistic == plain.statistic and stratified.pvalue == pytest.approx(
        plain.pvalue, abs=0.02)
    assert stratified.n_strata == 2
    diffs = np.asarray(candidate, float) - np.asarray(reference, float)
    within = math.sqrt(sum(np.var(diffs[strata == s]) * (n // 2) for s in np.unique(strata))) / n
    assert stratified.standard_error == pytest.approx(within, rel=0.06)
    assert stratified.standard_error < 0.9 * plain.standard_error


def test_same_seed_same_interval_and_generator_accepted() -> None:
    rng = np.random.default_rng(13)
    reference, candidate = (a[0] for a in binary_pairs(rng, 1, 3000))
    scores_r, scores_c = rng.random(3000), rng.random(3000)
    nll_r, nll_c, counts = (a[0] for a in documents(rng, 1, 300))
    for run in (
        lambda seed: mcnemar_exact(reference, candidate, n_resamples=1000, rng=seed),
        lambda seed: paired_bootstrap_mean(scores_r, scores_c, n_resamples=1000, rng=seed),
        lambda seed: paired_bootstrap_log_ppl(nll_r, nll_c, counts, n_resamples=1000, rng=seed),
    ):
        first, again = run(42), run(np.random.default_rng(42))
        assert first.confidence_interval == again.confidence_interval
        assert first.pvalue == again.pvalue
        np.testing.assert_array_equal(first.bootstrap_distribution, again.bootstrap_distribution)
        other = run(43)
        assert not np.array_equal(first.bootstrap_distribution, other.bootstrap_distribution)


@pytest.mark.parametrize("kind", ["mcnemar", "mean", "log_ppl"])
def test_ten_thousand_resamples_at_n_14000_are_fast(kind: str) -> None:
    rng = np.random.default_rng(14)
    n = 14_000
    if kind == "mcnemar":
        reference, candidate = (a[0] for a in binary_pairs(rng, 1, n))
        args = (reference, candidate)
        run = mcnemar_exact
    elif kind == "mean":  # all-distinct scores: the index-matrix path, the slow one
        args = (rng.random(n), rng.random(n))
        run = paired_bootstrap_mean
    else:
        args = tuple(a[0] for a in documents(rng, 1, n))
        run = paired_bootstrap_log_ppl
    # CPU seconds of this process (best of two): the machine is shared, so wall time
    # measures the neighbours too; CPU time measures our work (BLAS threads included).
    timings = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run(*args, n_resamples=10_000, rng=15)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu_seconds, wall_seconds = min(timings)
    print(f"\n{kind}: 10,000 resamples (CI + p-value) at n = 14,000: "
          f"{cpu_seconds:.3f} s CPU, {wall_seconds:.3f} s wall")
    assert result.bootstrap_distribution.shape == (10_000,)
    assert cpu_seconds < 3.0, f"{kind} took {cpu_seconds:.2f} CPU s for 10,000 resamples"


def test_mde_binary_is_connors_80_percent_power_point() -> None:
    n, psi = 10_000, 0.15
    mde = minimum_detectable_effect(n, discordance=psi)
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    power = stats.norm.cdf((mde * math.sqrt(n) - z_a * math.sqrt(psi)) / math.sqrt(psi - mde**2))
    assert power == pytest.approx(0.8, abs=1e-9)
    assert mde == pytest.approx((z_a + z_b) * math.sqrt(psi / n), rel=0.01)
    # +1 point at n = 10,000 is detectable with 10 % discordance, not with 15 %.
    assert minimum_detectable_effect(n, discordance=0.10) < 0.01 < mde
    # Floor: the exact test needs >= 6 one-sided discordant pairs at alpha 0.05.
    assert minimum_detectable_effect(1000, discordance=0.0) == pytest.approx(6 / 1000)


def test_mde_continuous_and_results_carry_it() -> None:
    n, sd = 500, 0.3
    expected = (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    assert minimum_detectable_effect(n, sd=sd) == pytest.approx(expected)
    rng = np.random.default_rng(16)
    reference, candidate = rng.random(n), rng.random(n)
    result = paired_bootstrap_mean(reference, candidate, n_resamples=200, rng=0)
    assert result.mde == pytest.approx(
        minimum_detectable_effect(n, sd=float(np.std(candidate - reference, ddof=1))))
    with pytest.raises(ValueError, match="exactly one"):
        minimum_detectable_effect(n, sd=0.1, discordance=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        minimum_detectable_effect(n)


def test_mde_is_undefined_when_every_paired_difference_is_equal() -> None:
    zeros = np.zeros(22)
    assert math.isnan(minimum_detectable_effect(22, sd=0.0))
    assert math.isnan(paired_bootstrap_mean(zeros, zeros, n_resamples=50, rng=0).mde)


def test_bad_inputs_are_named() -> None:
    ones = np.ones(10)
    with pytest.raises(RecordError, match="lengths"):
        mcnemar_exact(ones, np.ones(11))
    with pytest.raises(RecordError, match="0/1"):
        mcnemar_exact(ones, np.full(10, 0.5))
    with pytest.raises(RecordError, match="non-finite"):
        paired_bootstrap_mean(ones, np.r_[np.ones(9), np.nan])
    with pytest.raises(RecordError, match="empty"):
        paired_bootstrap_mean([], [])
    with pytest.raises(RecordError, match="counts must be > 0"):
        paired_bootstrap_log_ppl(ones, ones, np.r_[np.ones(9), 0.0])
    with pytest.raises(RecordError, match="strata"):
        mcnemar_exact(ones, ones, strata=["a"] * 9)
    with pytest.raises(ValueError, match="confidence_level"):
        paired_bootstrap_mean(ones, ones, confidence_level=95)
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap_mean(ones, ones, n_resamples=0)
    with pytest.raises(TypeError):
        paired_bootstrap_mean(ones, ones, 100)  # options are keyword-only
