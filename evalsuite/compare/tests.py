"""Dispatch each metric's arrays to its test in :mod:`evalsuite.stats`, with reproducible streams.

Also the one adapter the leaderboard needs that ``evalsuite.stats`` has no verb
for: a single model's score with its bootstrap interval
(:func:`score_estimate`). It is the paired machinery with an all-zero
reference, so the interval is the same (stratified) percentile bootstrap the
deltas use: ``mean(score - 0)`` for accuracies and RULER, and for perplexity
the log-PPL "delta" against zero nll, whose exp is the model's PPL.

Random streams: every test gets its own generator derived from one seed and
the labels of the row (models, metric), so a row's interval does not move when
another model or metric is added to the table.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from evalsuite import stats
from evalsuite.compare.metrics import MetricArrays

RNGLike = np.random.Generator | np.random.SeedSequence | int | None


def seed_of(rng: RNGLike) -> int:
    """One integer seed from any rng-like argument (a Generator is drawn from once)."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(2, np.uint64)[0])
    if rng is None:
        return int(np.random.SeedSequence().generate_state(2, np.uint64)[0])
    return int(rng)


def row_rng(seed: int, *labels: str) -> np.random.Generator:
    """The generator of one table row: ``seed`` mixed with a stable hash of the row's labels."""
    digest = hashlib.sha256("\0".join(labels).encode()).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([seed % 2**63, *words]))


def paired_test(data: MetricArrays, *, n_resamples: int, confidence_level: float,
                rng: np.random.Generator) -> stats.PairedResult:
    """The two-sided paired test and bootstrap CI of ``candidate - reference`` for the metric."""
    common = dict(n_resamples=n_resamples, confidence_level=confidence_level, rng=rng, metric=data.spec.key)
    if data.spec.kind == "binary" and data.clusters is not None:
        return stats.clustered_mcnemar(data.reference, data.candidate, clusters=data.clusters, strata=data.strata,
                                       **common)
    if data.spec.kind == "binary":
        return stats.mcnemar_exact(data.reference, data.candidate, strata=data.strata, **common)
    if data.spec.kind == "score":
        return stats.paired_score_test(data.reference, data.candidate, strata=data.strata, clusters=data.clusters,
                                       **common)
    if data.spec.kind == "mean":
        return stats.paired_bootstrap_mean(data.reference, data.candidate, strata=data.strata, **common)
    return stats.paired_bootstrap_log_ppl(data.reference, data.candidate, data.counts, strata=data.strata, **common)


def worse_by_margin(data: MetricArrays, *, margin: float, alpha: float, n_resamples: int,
                    rng: np.random.Generator) -> stats.NonInferiorityResult:
    """The one-sided test that the candidate is worse than the reference by more than ``margin``."""
    if data.spec.kind == "binary":
        return stats.worse_by_margin_binary(data.reference, data.candidate, margin=margin, alpha=alpha,
                                            higher_is_better=data.spec.higher_is_better, metric=data.spec.key)
    if data.spec.kind in ("mean", "score"):
        return stats.worse_by_margin_mean(data.reference, data.candidate, margin=margin, alpha=alpha,
                                          higher_is_better=data.spec.higher_is_better, n_resamples=n_resamples,
                                          rng=rng, metric=data.spec.key)
    return stats.worse_by_margin_log_ppl(data.reference, data.candidate, data.counts, margin=margin, alpha=alpha,
                                         n_resamples=n_resamples, rng=rng, metric=data.spec.key)


def power_at(data: MetricArrays, result: stats.PairedResult, delta: float | None) -> stats.PowerResult | None:
    """The test's power for ``delta`` (the paper's, in this metric's units) with this pair's discordance or
    spread of paired differences and design effect; None without a delta."""
    if delta is None or result.n < 2:
        return None
    deff = getattr(result, "design_effect", 1.0)
    if result.n10 is not None and result.n01 is not None:
        return stats.paired_power(delta, n=result.n, discordance=(result.n10 + result.n01) / result.n,
                                  design_effect=deff)
    if data.spec.kind == "log_ppl":
        weight = data.counts / data.counts.mean()  # the linearised ratio's per-document terms (as its MDE)
        z = (data.candidate - data.reference) / data.counts.mean() - result.statistic * weight
        return stats.paired_power(delta, n=result.n, sd=float(z.std(ddof=1)))
    return stats.paired_power(delta, n=result.n, sd=float((data.candidate - data.reference).std(ddof=1)),
                              design_effect=deff)


def point_values(data: MetricArrays) -> tuple[float, float]:
    """(reference, candidate) in display units: mean score, or PPL for log_ppl."""
    if data.spec.kind == "log_ppl":
        total = float(data.counts.sum())
        return math.exp(data.reference.sum() / total), math.exp(data.candidate.sum() / total)
    return float(data.reference.mean()), float(data.candidate.mean())


@dataclass(frozen=True)
class ScoreEstimate:
    """One model's value of a metric with its bootstrap interval (PPL for log_ppl, else a fraction)."""

    metric: str
    value: float
    low: float
    high: float
    n: int
    confidence_level: float
    count_unit: str | None = None  # "token" / "word" for perplexity


def score_estimate(data: MetricArrays, *, n_resamples: int, confidence_level: float,
                   rng: np.random.Generator) -> ScoreEstimate:
    """The candidate side's own value and percentile CI (see the module docstring)."""
    zeros = np.zeros_like(data.candidate)
    common = dict(n_resamples=n_resamples, confidence_level=confidence_level, rng=rng, metric=data.spec.key)
    if data.spec.kind == "log_ppl":
        res = stats.paired_bootstrap_log_ppl(zeros, data.candidate, data.counts, strata=data.strata, **common)
        ci = res.ppl_ratio_confidence_interval  # exp(log-PPL - 0) = PPL
        return ScoreEstimate(data.spec.key, res.ppl_ratio, ci.low, ci.high, res.n, confidence_level,
                             data.count_unit)
    res = stats.paired_bootstrap_mean(zeros, data.candidate, strata=data.strata, **common)
    ci = res.confidence_interval
    return ScoreEstimate(data.spec.key, res.statistic, ci.low, ci.high, res.n, confidence_level)
