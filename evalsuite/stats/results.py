"""Result types of the paired statistics: frozen, typed, with scipy.stats' names.

Every test in :mod:`evalsuite.stats` returns one of these. As in scipy, the
tested quantity is ``statistic`` (here always the paired delta, candidate minus
reference, in the metric's natural units), the p-value is ``pvalue`` and the
interval is ``confidence_interval`` with ``low``/``high``. Resampling results keep
their distribution (like scipy's ``BootstrapResult``); arrays are stored
read-only so a frozen result really is immutable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def readonly(array: np.ndarray) -> np.ndarray:
    """Return ``array`` with its write flag cleared (arrays inside frozen results)."""
    array = np.asarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class ConfidenceInterval:
    """A confidence interval; ``level`` is its nominal coverage (0.95 = 95 %)."""

    low: float
    high: float
    level: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True, kw_only=True)
class PairedResult:
    """One paired comparison of a candidate against a reference on the same items.

    ``statistic`` is the delta ``candidate - reference`` in natural units
    (accuracy as a fraction, 0.005 = +0.5 points; mean per-item score; log-PPL in
    nats). ``confidence_interval`` is the bootstrap interval of that delta and
    ``bootstrap_distribution`` the resampled deltas it came from.
    ``mde`` is the minimum detectable effect: the smallest |delta| this ``n`` and
    the observed discordance (binary) or spread of paired differences
    (continuous) detect with 80 % power at two-sided alpha 0.05.
    """

    metric: str
    method: str
    n: int
    statistic: float
    pvalue: float
    confidence_interval: ConfidenceInterval
    standard_error: float
    mde: float
    reference_value: float
    candidate_value: float
    n_resamples: int
    n_strata: int = 1
    # Discordant pairs of a binary metric: n10 = reference right, candidate wrong;
    # n01 = reference wrong, candidate right (table rows = reference). None otherwise.
    n10: int | None = None
    n01: int | None = None
    bootstrap_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def delta(self) -> float:
        """Candidate minus reference (same as ``statistic``)."""
        return self.statistic

    @property
    def estimate(self) -> float:
        """Point estimate of the delta (same as ``statistic``)."""
        return self.statistic


@dataclass(frozen=True, kw_only=True)
class LogPerplexityResult(PairedResult):
    """A paired perplexity comparison; ``statistic`` is the delta in log-PPL (nats).

    Perplexity is a ratio of sums over documents, ``PPL = exp(sum(nll) /
    sum(count))``; ``reference_value``/``candidate_value`` are those log-PPLs, so
    ``statistic == log(ppl_candidate) - log(ppl_reference)`` and
    ``ppl_ratio == exp(statistic)`` (< 1: the candidate is better).
    """

    ppl_reference: float
    ppl_candidate: float
    ppl_ratio: float
    ppl_ratio_confidence_interval: ConfidenceInterval
    total_count: float


@dataclass(frozen=True, kw_only=True)
class AdjustedResult:
    """Multiplicity-adjusted p-values for a family of tests (order of the input)."""

    method: str
    alpha: float
    pvalues: np.ndarray
    pvalues_adjusted: np.ndarray
    reject: np.ndarray
    labels: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, tuple[float, bool]]:
        """``{label: (adjusted p, reject)}``; needs ``labels``."""
        if self.labels is None:
            raise ValueError("as_dict() needs labels; pass labels= to the adjustment")
        return {
            label: (float(p), bool(r))
            for label, p, r in zip(self.labels, self.pvalues_adjusted, self.reject, strict=True)
        }


@dataclass(frozen=True, kw_only=True)
class NonInferiorityResult:
    """One-sided test that the candidate is worse than the reference by more than ``margin``.

    ``degradation`` is how much worse the candidate is, in natural units and
    oriented so that positive = worse (``-delta`` when higher is better,
    ``+delta`` when lower is better). H0: ``degradation <= margin``; H1:
    ``degradation > margin``. ``pvalue`` is one-sided, ``lower_bound`` the
    one-sided ``1 - alpha`` lower confidence bound of the degradation, and
    ``worse`` is ``pvalue < alpha`` (equivalently ``lower_bound > margin``).
    """

    metric: str
    method: str
    n: int
    delta: float
    degradation: float
    margin: float
    higher_is_better: bool
    statistic: float
    pvalue: float
    lower_bound: float
    alpha: float
    worse: bool

    @property
    def confidence_interval(self) -> ConfidenceInterval:
        """The one-sided interval ``[lower_bound, inf)`` of the degradation."""
        return ConfidenceInterval(self.lower_bound, math.inf, 1.0 - self.alpha)
