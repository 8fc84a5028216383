"""The regression gate's test: significantly worse than the reference by more than a margin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from evalsuite.stats import (
    worse_by_margin_binary,
    worse_by_margin_log_ppl,
    worse_by_margin_mean,
)
from evalsuite.stats.noninferiority import _tango_z

from .simulate import binary_pairs, documents, mc_bound, ruler_scores

POINT = 0.01  # one accuracy point as a fraction


def _degrade(rng: np.random.Generator, correct: np.ndarray, points: float) -> np.ndarray:
    """A copy that loses ``points`` of accuracy: wrongs out a random share of its right answers."""
    right = np.flatnonzero(correct)
    lost = rng.choice(right, size=round(points * correct.size), replace=False)
    degraded = correct.copy()
    degraded[lost] = False
    return degraded


def test_identical_copy_is_not_worse() -> None:
    rng = np.random.default_rng(200)
    reference, _ = (a[0] for a in binary_pairs(rng, 1, 2000))
    binary = worse_by_margin_binary(reference, reference.copy(), margin=POINT)
    assert not binary.worse and binary.delta == 0.0 and binary.lower_bound <= POINT
    scores, _ = (a[0] for a in ruler_scores(rng, 1, 500))
    mean = worse_by_margin_mean(scores, scores.copy(), margin=POINT, rng=0)
    assert not mean.worse and mean.pvalue == 1.0
    nll, _, counts = (a[0] for a in documents(rng, 1, 62))
    ppl = worse_by_margin_log_ppl(nll, nll.copy(), counts, margin=math.log(1.01), rng=0)
    assert not ppl.worse and ppl.pvalue == 1.0 and ppl.degradation == 0.0


def test_five_points_worse_with_a_one_point_margin_is_worse() -> None:
    rng = np.random.default_rng(201)
    reference, candidate = (a[0] for a in binary_pairs(rng, 1, 2000))
    degraded = _degrade(rng, candidate, 0.05)
    result = worse_by_margin_binary(reference, degraded, margin=POINT)
    assert result.worse and result.pvalue < 1e-3
    assert result.delta == pytest.approx(np.mean(degraded) - np.mean(reference))
    assert result.degradation == -result.delta > 0.03
    assert result.lower_bound > POINT and result.higher_is_better
    # the same data as continuous per-item scores
    mean = worse_by_margin_mean(reference.astype(float), degraded.astype(float), margin=POINT,
                                rng=1)
    assert mean.worse and mean.lower_bound > POINT


def test_direction_for_lower_is_better_metrics() -> None:
    rng = np.random.default_rng(202)
    nll, _, counts = (a[0] for a in documents(rng, 1, 62))
    margin = math.log(1.01)  # a 1 % perplexity increase is tolerated
    worse_ppl = nll + 0.05 * counts  # +0.05 nats per word: PPL x1.05
    better_ppl = nll - 0.05 * counts
    assert worse_by_margin_log_ppl(nll, worse_ppl, counts, margin=margin, rng=0).worse
    better = worse_by_margin_log_ppl(nll, better_ppl, counts, margin=margin, rng=0)
    assert not better.worse and better.delta == pytest.approx(-0.05)
    assert not better.higher_is_better
    # A binary *error* indicator: lower is better, so more errors is the degradation.
    errors, _ = (~a[0] for a in binary_pairs(rng, 1, 2000))
    more_errors = ~_degrade(rng, ~errors, 0.05)
    assert worse_by_margin_binary(errors, more_errors, margin=POINT, higher_is_better=False).worse
    assert not worse_by_margin_binary(more_errors, errors, margin=POINT,
                                      higher_is_better=False).worse
    assert not worse_by_margin_binary(errors, more_errors, margin=POINT).worse
    # Continuous, lower is better (e.g. a per-item loss).
    loss = rng.random(500)
    assert worse_by_margin_mean(loss, loss + 0.1, margin=0.02, higher_is_better=False, rng=0).worse
    assert not worse_by_margin_mean(loss, loss + 0.1, margin=0.02, rng=0).worse


def test_tango_at_zero_margin_is_mcnemars_z() -> None:
    for b, c, n in [(40, 25, 1000), (3, 9, 50), (300, 310, 14_000)]:
        assert _tango_z(b, c, n, 0.0) == pytest.approx((b - c) / math.sqrt(b + c))


@pytest.mark.parametrize("b, c, n, d0", [(80, 50, 1000, 0.01), (10, 2, 100, -0.05),
                                         (5, 30, 400, 0.02), (0, 12, 300, 0.01)])
def test_tango_variance_uses_the_restricted_mle(b: int, c: int, n: int, d0: float) -> None:
    # Maximise the multinomial likelihood under p_b - p_c = d0 numerically.
    rest = n - b - c

    def negative_loglik(p_c: float) -> float:
        terms = [(b, p_c + d0), (c, p_c), (rest, 1.0 - 2.0 * p_c - d0)]
        return -sum(k * math.log(p) for k, p in terms if k)

    fit = optimize.minimize_scalar(negative_loglik, bounds=(max(0.0, -d0) + 1e-12,
                                   (1.0 - d0) / 2 - 1e-12), method="bounded",
                                   options={"xatol": 1e-13})
    expected = (b - c - n * d0) / math.sqrt(n * (2 * fit.x + d0 * (1 - d0)))
    assert _tango_z(b, c, n, d0) == pytest.approx(expected, rel=1e-5)


def test_decision_equals_bound_above_margin() -> None:
    rng = np.random.default_rng(203)
    for i in range(30):
        lift = rng.uniform(-0.05, 0.01)
        reference, candidate = (a[0] for a in binary_pairs(rng, 1, 800, lift=max(lift, 0)))
        if lift < 0:
            candidate = _degrade(rng, candidate, -lift)
        margin = rng.uniform(0.0, 0.03)
        for result in (
            worse_by_margin_binary(reference, candidate, margin=margin),
            worse_by_margin_mean(reference.astype(float), candidate.astype(float), margin=margin,
                                 n_resamples=999, rng=i),
        ):
            assert result.worse == (result.pvalue < 0.05) == (result.lower_bound > margin)
        nll_r, nll_c, counts = (a[0] for a in documents(rng, 1, 62, shift_nats=lift))
        ppl = worse_by_margin_log_ppl(nll_r, nll_c, counts, margin=margin, n_resamples=999, rng=i)
        assert ppl.worse == (ppl.pvalue < 0.05) == (ppl.lower_bound > margin)


def test_size_at_the_margin_boundary() -> None:
    # True degradation exactly = margin: "worse" may fire at most alpha (+3 MC SE).
    sims, margin = 1000, POINT
    rng = np.random.default_rng(204)
    p10 = 0.08  # reference right / candidate wrong; p01 = p10 - margin
    cells = rng.choice(4, size=(sims, 1000), p=[p10, p10 - margin, 0.55, 0.45 - 2 * p10 + margin])
    reference, candidate = (cells == 0) | (cells == 2), (cells == 1) | (cells == 2)
    binary = np.mean([worse_by_margin_binary(reference[i], candidate[i], margin=margin).worse
                      for i in range(sims)])
    nll_r, nll_c, counts = documents(rng, sims, 62, shift_nats=margin)
    ppl = np.mean([worse_by_margin_log_ppl(nll_r[i], nll_c[i], counts[i], margin=margin,
                                           n_resamples=499, rng=i).worse for i in range(sims)])
    print(f"\nrate of 'worse' at the boundary: binary {binary:.4f}, log-PPL (62 docs) {ppl:.4f}")
    assert binary <= mc_bound(0.05, sims) and ppl <= mc_bound(0.05, sims)


def test_same_seed_same_decision_and_bound() -> None:
    rng = np.random.default_rng(205)
    nll_r, nll_c, counts = (a[0] for a in documents(rng, 1, 62, shift_nats=0.01))
    first = worse_by_margin_log_ppl(nll_r, nll_c, counts, margin=0.0, rng=7)
    assert first == worse_by_margin_log_ppl(nll_r, nll_c, counts, margin=0.0,
                                            rng=np.random.default_rng(7))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="margin"):
        worse_by_margin_binary([1, 0], [1, 0], margin=math.nan)
    with pytest.raises(ValueError, match="alpha"):
        worse_by_margin_mean([1.0, 0.0], [1.0, 0.0], margin=0.01, alpha=5)
    with pytest.raises(TypeError):
        worse_by_margin_binary([1, 0], [1, 0], 0.01)  # margin is keyword-only
