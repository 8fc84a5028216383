"""Is the candidate significantly worse than the reference by more than a margin?

This is the regression gate's test (``evalsuite check`` exits 1 "when a metric is
significantly worse than the reference by more than its margin"). With the
degradation ``D`` oriented so that positive = worse (``ref - cand`` when higher
is better, ``cand - ref`` when lower is better) the test is one-sided:

    H0: D <= margin    against    H1: D > margin,

and ``worse`` is True when H0 is rejected at ``alpha``, i.e. when the one-sided
``1 - alpha`` *lower* confidence bound of D exceeds the margin. The burden of
proof is on "worse": a noisy metric or a small sample passes the gate. (The
stricter classic non-inferiority test, which fails unless the *upper* bound of
D is below the margin, would fail every small-n run; that is not the gate the
issue asks for.)

Per metric shape:

* binary per item: Tango's (1998) score test for a paired difference of
  proportions, with the restricted maximum-likelihood variance under ``D =
  margin``; at margin 0 it is McNemar's z. The bound inverts the same test, so
  ``worse == (pvalue < alpha) == (lower_bound > margin)`` exactly.
* continuous per item and log-perplexity (a ratio of sums): the paired
  sign-flip test of :mod:`~evalsuite.stats.paired` shifted by the margin: flip
  the signs of ``worse_i - margin * weight_i`` (weight 1 for a mean, the
  document's count for log-PPL). Exact when those shifted differences are
  symmetric, asymptotically valid otherwise; chosen over a one-sided t-test
  because with WikiText's 62 documents of very unequal length the delta-method
  t-test rejected 6-7 % of the time at the boundary (nominal 5 %) and the
  sign-flip test 4-5 %. Its bound is an order statistic of the same draws, so
  again ``worse == (pvalue < alpha) == (lower_bound > margin)``.

``statistic`` is Tango's z for binary metrics and ``degradation - margin``
(natural units) for the sign-flip tests.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from evalsuite.errors import RecordError
from evalsuite.stats import _inputs
from evalsuite.stats._resample import RNGLike, as_generator, shifted_signflip
from evalsuite.stats.results import NonInferiorityResult


def worse_by_margin_binary(
    reference: ArrayLike,
    candidate: ArrayLike,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    metric: str = "accuracy",
) -> NonInferiorityResult:
    """Tango score test that the candidate's binary score is worse by more than ``margin``.

    ``margin`` is in fractions (0.01 = 1 accuracy point).
    """
    _check(margin, alpha)
    ref = _inputs.binary("reference", reference)
    cand = _inputs.binary("candidate", candidate)
    n = _inputs.same_length(reference=ref, candidate=cand)
    n10 = int(np.count_nonzero(ref & ~cand))  # reference right, candidate wrong
    n01 = int(np.count_nonzero(~ref & cand))
    # "worse" pairs b are the ones that push the degradation up.
    worse_pairs, better_pairs = (n10, n01) if higher_is_better else (n01, n10)
    z = _tango_z(worse_pairs, better_pairs, n, margin)
    critical = stats.norm.ppf(1.0 - alpha)
    lower = _bisect_decreasing(lambda d0: _tango_z(worse_pairs, better_pairs, n, d0) - critical)
    delta = (n01 - n10) / n
    pvalue = float(stats.norm.sf(z))
    return NonInferiorityResult(
        metric=metric, method="Tango score test (paired proportions), one-sided", n=n,
        delta=delta, degradation=(worse_pairs - better_pairs) / n, margin=float(margin),
        higher_is_better=higher_is_better, statistic=float(z), pvalue=pvalue,
        lower_bound=lower, alpha=alpha, worse=pvalue < alpha,
    )


def worse_by_margin_mean(
    reference: ArrayLike,
    candidate: ArrayLike,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    rng: RNGLike = None,
    metric: str = "mean",
) -> NonInferiorityResult:
    """Shifted sign-flip test that a continuous per-item score is worse by more than ``margin``."""
    _check(margin, alpha, n_resamples)
    ref = _inputs.vector("reference", reference)
    cand = _inputs.vector("candidate", candidate)
    n = _inputs.same_length(reference=ref, candidate=cand)
    diffs = cand - ref
    worse = -diffs if higher_is_better else diffs  # (n,) positive = candidate worse
    return _signflip_result(metric, "paired sign-flip test shifted by the margin, one-sided",
                            worse, np.ones(n), float(diffs.mean()), margin, higher_is_better,
                            alpha, n_resamples, rng)


def worse_by_margin_log_ppl(
    reference_nll: ArrayLike,
    candidate_nll: ArrayLike,
    counts: ArrayLike,
    *,
    margin: float,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    rng: RNGLike = None,
    metric: str = "log_perplexity",
) -> NonInferiorityResult:
    """Shifted sign-flip test that the candidate's log-PPL is higher by more than ``margin`` nats.

    Lower is better. ``margin = log(1.01)`` allows a 1 % perplexity increase.
    Inputs as in :func:`~evalsuite.stats.paired.paired_bootstrap_log_ppl`.
    """
    _check(margin, alpha, n_resamples)
    ref = _inputs.vector("reference_nll", reference_nll)
    cand = _inputs.vector("candidate_nll", candidate_nll)
    weight = _inputs.vector("counts", counts)
    _inputs.same_length(reference_nll=ref, candidate_nll=cand, counts=weight)
    if (weight <= 0).any():
        raise RecordError(
            f"counts must be > 0 per document, got {weight.min()!r} "
            f"at document {int(np.argmin(weight))}")
    diffs = cand - ref  # (n,) nats per document; positive = candidate worse
    delta = float(diffs.sum() / weight.sum())
    return _signflip_result(metric, "document sign-flip test shifted by the margin (ratio of "
                            "sums), one-sided", diffs, weight, delta, margin, False, alpha,
                            n_resamples, rng)


def _check(margin: float, alpha: float, n_resamples: int | None = None) -> None:
    _inputs.options(alpha=alpha, n_resamples=n_resamples)
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number in the metric's units, got {margin!r}")


def _signflip_result(metric: str, method: str, worse: np.ndarray, weights: np.ndarray,
                     delta: float, margin: float, higher_is_better: bool, alpha: float,
                     n_resamples: int, rng: RNGLike) -> NonInferiorityResult:
    degradation = float(worse.sum() / weights.sum())
    pvalue, lower = shifted_signflip(worse, weights, margin=margin, alpha=alpha,
                                     n_resamples=n_resamples, rng=as_generator(rng))
    return NonInferiorityResult(
        metric=metric, method=method, n=worse.size, delta=delta, degradation=degradation,
        margin=float(margin), higher_is_better=higher_is_better,
        statistic=degradation - float(margin), pvalue=pvalue, lower_bound=lower, alpha=alpha,
        worse=pvalue < alpha,
    )


def _tango_z(b: int, c: int, n: int, d0: float) -> float:
    """Tango's score z for H0: p_b - p_c = d0 from b "worse" and c "better" pairs of n.

    The variance of one pair's (1[b] - 1[c]) is ``2 p_c + d0 (1 - d0)``, with
    ``p_c`` the restricted MLE under the null, the positive root of
    ``2n p^2 + (-(b + c) + d0 (2n - b + c)) p - c d0 (1 - d0) = 0``.
    """
    quad_b = -(b + c) + d0 * (2 * n - b + c)
    quad_c = -c * d0 * (1.0 - d0)
    p_c = (-quad_b + math.sqrt(max(quad_b**2 - 8.0 * n * quad_c, 0.0))) / (4.0 * n)
    variance = n * (2.0 * p_c + d0 * (1.0 - d0))
    numerator = b - c - n * d0
    if variance <= 1e-300:
        return math.copysign(math.inf, numerator) if numerator != 0 else 0.0
    return numerator / math.sqrt(variance)


def _bisect_decreasing(f, low: float = -1.0, high: float = 1.0, steps: int = 80) -> float:
    """The root of a decreasing function on [low, high] by bisection (clamped to the ends)."""
    if f(low) <= 0.0:
        return low
    if f(high) >= 0.0:
        return high
    for _ in range(steps):
        mid = 0.5 * (low + high)
        if f(mid) > 0.0:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
