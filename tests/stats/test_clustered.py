"""Cluster-resampled paired tests, the power function and the length interaction: reference values and
calibration on synthetic data (the real-vector calibration is in test_real_vectors.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sstats

from evalsuite import stats
from evalsuite.errors import RecordError

from .simulate import binary_pairs, ruler_scores

ALPHA = 0.05


def binomial_bound(sims: int) -> float:
    """The 95 % binomial upper quantile of the rejection rate of an exact 5 % test over ``sims`` draws."""
    return float(sstats.binom.ppf(0.95, sims, ALPHA) / sims)


def clustered_diffs(rng: np.random.Generator, sims: int, clusters: int, size: int, *, icc: float,
                    shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, candidate, cluster labels): paired scores whose differences share a per-cluster random
    effect (intra-cluster correlation ``icc``); exchangeable within a cluster, so H0 holds when shift = 0."""
    labels = np.repeat(np.arange(clusters), size)
    base = rng.random((sims, clusters * size))
    effect = np.repeat(rng.normal(0, math.sqrt(icc), (sims, clusters)), size, axis=1)
    noise = rng.normal(0, math.sqrt(1 - icc), (sims, clusters * size))
    diff = 0.1 * (effect + noise) + shift
    return base, base + diff, labels


def test_design_effect_is_statsmodels_cluster_robust_over_naive_variance() -> None:
    rng = np.random.default_rng(0)
    ref, cand, labels = clustered_diffs(rng, 1, 40, 6, icc=0.3)
    diffs = cand[0] - ref[0]
    ones = np.ones((diffs.size, 1))
    robust = sm.OLS(diffs, ones).fit(cov_type="cluster", cov_kwds={"groups": labels}).bse[0] ** 2
    naive = sm.OLS(diffs, ones).fit().bse[0] ** 2
    res = stats.paired_score_test(ref[0], cand[0], clusters=labels, n_resamples=200, rng=1)
    assert res.design_effect == pytest.approx(robust / naive, rel=1e-10)
    assert res.design_effect > 1.5 and res.n_clusters == 40 and res.n == 240
    # Singleton clusters are the item test: design effect 1 by construction.
    single = stats.paired_score_test(ref[0], cand[0], clusters=np.arange(240), n_resamples=200, rng=1)
    assert single.design_effect == pytest.approx(1.0)


def test_score_test_without_clusters_matches_scipy_permutation_test() -> None:
    rng = np.random.default_rng(1)
    ref = rng.random(300)
    cand = np.clip(ref + rng.normal(0.03, 0.2, 300), 0, 1)
    res = stats.paired_score_test(ref, cand, n_resamples=20_000, rng=2)
    scipy_p = sstats.permutation_test((cand, ref), lambda a, b: np.mean(a - b), permutation_type="samples",
                                      n_resamples=20_000, random_state=3).pvalue
    assert res.pvalue == pytest.approx(scipy_p, abs=0.01)
    assert res.statistic == pytest.approx(np.mean(cand - ref))
    assert res.confidence_interval.low < res.statistic < res.confidence_interval.high
    assert res.design_effect == 1.0 and res.n_clusters == 300


def test_clustered_mcnemar_with_singletons_is_exact_mcnemar() -> None:
    ref, cand = binary_pairs(np.random.default_rng(2), 1, 3000, psi=0.15, lift=0.01)
    labels = np.arange(3000)
    res = stats.clustered_mcnemar(ref[0], cand[0], clusters=labels, n_resamples=40_000, rng=4)
    exact = stats.mcnemar_exact(ref[0], cand[0], n_resamples=10, rng=4)
    assert (res.n10, res.n01, res.statistic) == (exact.n10, exact.n01, exact.statistic)
    assert res.pvalue == pytest.approx(exact.pvalue, abs=0.006)


def test_clusters_must_nest_in_strata() -> None:
    with pytest.raises(RecordError, match="spans more than one stratum"):
        stats.paired_score_test([0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.3, 0.5], clusters=["a", "b", "b", "c"],
                                strata=["x", "x", "y", "y"], n_resamples=10, rng=0)


def test_one_item_strata_are_pooled_not_zero_width() -> None:
    # RULER at one sample per task: every task a stratum of one item. Resampled within such strata the
    # interval had zero width and the trend's Wald p was 0 (a real run showed -3.41 [-3.41, -3.41], p 0).
    rng = np.random.default_rng(0)
    refs = [rng.random(11).round() for _ in range(3)]
    cands = [np.clip(r + (rng.random(11) < 0.3), 0, 1) for r in refs]
    tasks = [np.array([f"t{i}" for i in range(11)])] * 3
    res = stats.length_interaction(refs, cands, [1024, 2048, 4096], strata=tasks, n_resamples=999, rng=0)
    assert res.confidence_interval.high - res.confidence_interval.low > 0.05 and res.pvalue > 0.0
    one = stats.paired_bootstrap_mean(refs[0], cands[0], strata=tasks[0], n_resamples=999, rng=0)
    assert one.n_strata == 1  # eleven one-item strata pooled into one


def _rate(pvalues: list[float]) -> float:
    return float(np.mean(np.asarray(pvalues) < ALPHA))


def test_aa_clustered_tests_hold_where_item_tests_do_not() -> None:
    # Differences correlated within clusters (ICC 0.3, 8 items a cluster: design effect ~3.1): the item-level
    # sign-flip test rejects far more than 5 % of true nulls; the cluster tests stay within the binomial bound.
    sims = 400
    ref, cand, labels = clustered_diffs(np.random.default_rng(3), sims, 60, 8, icc=0.3)
    clustered = [stats.paired_score_test(ref[i], cand[i], clusters=labels, n_resamples=199, rng=i).pvalue
                 for i in range(sims)]
    naive = [stats.paired_score_test(ref[i], cand[i], n_resamples=199, rng=i).pvalue for i in range(sims)]
    print(f"\nA/A, ICC 0.3: clustered {_rate(clustered):.3f}, item-level {_rate(naive):.3f}")
    assert 0.01 <= _rate(clustered) <= binomial_bound(sims)
    assert _rate(naive) > 0.15


def test_aa_clustered_mcnemar_size() -> None:
    # Correctness drawn per cluster: a shared cluster difficulty makes the discordant pairs of one cluster move
    # together; the models are exchangeable, so every rejection is a false positive.
    sims, clusters, size = 400, 80, 6
    rng = np.random.default_rng(4)
    p = np.repeat(rng.beta(1.2, 0.8, (sims, clusters)), size, axis=1)
    tilt = np.repeat(rng.normal(0, 0.15, (sims, clusters)), size, axis=1)  # which model a cluster favours
    swap = rng.random((sims, clusters * size)) < 0.5
    a = rng.random(p.shape) < np.clip(p + tilt, 0, 1)
    b = rng.random(p.shape) < np.clip(p - tilt, 0, 1)
    ref, cand = np.where(swap, a, b), np.where(swap, b, a)
    labels = np.repeat(np.arange(clusters), size)
    clustered = [stats.clustered_mcnemar(ref[i], cand[i], clusters=labels, n_resamples=199, rng=i).pvalue
                 for i in range(sims)]
    print(f"\nA/A clustered McNemar: {_rate(clustered):.3f}")
    assert 0.01 <= _rate(clustered) <= binomial_bound(sims)


def test_power_matches_the_mde_and_simulation() -> None:
    n, sd = 2000, 0.3
    mde = stats.minimum_detectable_effect(n, sd=sd)
    assert stats.paired_power(mde, n=n, sd=sd).power == pytest.approx(0.8, abs=0.002)
    psi = 0.15
    mde_b = stats.minimum_detectable_effect(10_000, discordance=psi)
    assert stats.paired_power(mde_b, n=10_000, discordance=psi).power == pytest.approx(0.8, abs=0.01)
    # A design effect of 2 halves the effective n.
    assert stats.paired_power(0.02, n=2000, sd=sd, design_effect=2.0).power == pytest.approx(
        stats.paired_power(0.02, n=1000, sd=sd).power)
    # Simulated t-test rejections agree with the noncentral-t power.
    rng = np.random.default_rng(5)
    d = rng.normal(0.015, sd, (2000, n))
    simulated = np.mean(sstats.ttest_1samp(d, 0.0, axis=1).pvalue < ALPHA)
    assert simulated == pytest.approx(stats.paired_power(0.015, n=n, sd=sd).power, abs=0.03)
    verdict = stats.paired_power(0.015, n=n, sd=sd)
    assert verdict.detectable == (verdict.power >= 0.8)


def test_power_far_in_the_noncentral_tail_is_a_number() -> None:
    # scipy's nct.cdf(-crit, df, nc) is NaN at df ~1,830 and nc ~10 (the mini HellaSwag margin row showed "–"):
    # the power is then ~1, not missing.
    res = stats.paired_power(0.599, n=2000, sd=2.0, design_effect=1.0935)
    assert res.power == pytest.approx(1.0, abs=1e-6)
    assert stats.paired_power(0.01, n=2000, sd=2.0).power < 0.1


def test_length_interaction_aa_and_power() -> None:
    lengths = [4096, 8192, 16384, 32768]
    sims = 300
    rng = np.random.default_rng(6)
    pvals, covered, slopes = [], [], []
    for i in range(sims):
        refs, cands = [], []
        for _ in lengths:  # a constant advantage of +5 points at every length: no interaction
            ref, cand = ruler_scores(rng, 1, 120)
            refs.append(ref[0])
            cands.append(np.clip(cand[0] + 0.05 * (rng.random(120) < 0.5) * 2 * 0.5, 0, 1))
        res = stats.length_interaction(refs, cands, lengths, n_resamples=299, rng=i)
        pvals.append(res.pvalue)
        covered.append(0.0 in res.confidence_interval)
        slopes.append(res.statistic)
    print(f"\nA/A length interaction: {_rate(pvals):.3f}, coverage {np.mean(covered):.3f}")
    assert _rate(pvals) <= binomial_bound(sims)
    assert np.mean(covered) >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / sims)
    # A delta that grows by 10 points per doubling is found.
    refs = [ruler_scores(np.random.default_rng(7 + k), 1, 200)[0][0] for k in range(4)]
    cands = [np.clip(r + 0.10 * k, 0, 1) for k, r in enumerate(refs)]
    res = stats.length_interaction(refs, cands, lengths, n_resamples=999, rng=0)
    assert res.pvalue < 0.001 and res.confidence_interval.low > 0.03
    assert res.deltas[0] == pytest.approx(0.0) and len(res.deltas) == 4


def test_length_interaction_needs_three_lengths() -> None:
    with pytest.raises(RecordError, match="three or more"):
        stats.length_interaction([[0.1], [0.2]], [[0.1], [0.3]], [4096, 8192], n_resamples=10, rng=0)
