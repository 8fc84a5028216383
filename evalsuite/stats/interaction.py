"""Does the candidate's advantage grow with context length? A paired test of the length x model interaction.

The paper's long-context claim is a trend, not a point: gating degrades less as
length grows (RULER 31.65 -> 58.82 at 128K with YaRN). With per-length paired
deltas ``Delta_L = mean_i(cand_i - ref_i)`` at three or more lengths, the
interaction is the least-squares slope of ``Delta_L`` on ``log2 L`` (each length
one point, as in the paper's table):

    slope = sum_L c_L Delta_L,   c_L = (x_L - mean x) / sum_K (x_K - mean x)^2,   x_L = log2 L,

in the delta's units per doubling of the length. Lengths are separate item sets,
so the per-length deltas are independent: the interval is the percentile
interval of the slope over paired bootstrap resamples drawn per length
(stratified, e.g. by RULER task), and the p-value is two-sided Student's t from
the bootstrap standard error (each length's plug-in variance scaled by n/(n-1)),
with the smallest length's n - 1 degrees of freedom: at ~10 items per length the
normal reference was liberal (8.0 % A/A on real RULER records); at the paper's
hundreds of items per length the two agree. The null is "the delta is the same at every
length" (not "no delta"): a constant advantage has slope 0, which the sign-flip
test of each length cannot say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from evalsuite.errors import RecordError
from evalsuite.stats import _inputs
from evalsuite.stats._resample import RNGLike, as_generator, bootstrap_sums, percentile_interval
from evalsuite.stats.results import ConfidenceInterval, readonly


@dataclass(frozen=True, kw_only=True)
class InteractionResult:
    """``statistic``: the slope of the paired delta per doubling of the length (delta units)."""

    metric: str
    method: str
    n: int  # items over all lengths
    statistic: float
    pvalue: float
    confidence_interval: ConfidenceInterval
    standard_error: float
    lengths: tuple[int, ...]
    deltas: tuple[float, ...]  # the per-length paired deltas
    n_resamples: int
    bootstrap_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)


def length_interaction(
    reference: Sequence[ArrayLike],
    candidate: Sequence[ArrayLike],
    lengths: Sequence[int],
    *,
    strata: Sequence[ArrayLike | None] | None = None,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    rng: RNGLike = None,
    metric: str = "length_interaction",
) -> InteractionResult:
    """Slope of the paired delta on log2(length), one (reference, candidate[, strata]) per length."""
    _inputs.options(n_resamples=n_resamples, level=confidence_level)
    if not len(reference) == len(candidate) == len(lengths):
        raise RecordError(f"one reference and one candidate array per length: got {len(reference)}, "
                          f"{len(candidate)} for {len(lengths)} lengths")
    if len(set(lengths)) < 3 or min(lengths) <= 0:
        raise RecordError(f"a length trend needs three or more distinct positive lengths, got {list(lengths)}")
    x = np.log2(np.asarray(lengths, dtype=np.float64))
    weights = (x - x.mean()) / float(((x - x.mean()) ** 2).sum())  # (L,) c_L
    generator = as_generator(rng)
    deltas, draws, n_total, variance, smallest = [], np.zeros(n_resamples), 0, 0.0, None
    for i, length in enumerate(lengths):
        ref = _inputs.vector(f"reference[{length}]", reference[i])
        cand = _inputs.vector(f"candidate[{length}]", candidate[i])
        n = _inputs.same_length(reference=ref, candidate=cand)
        codes, _ = _inputs.strata_codes(None if strata is None else strata[i], n)
        diffs = cand - ref
        deltas.append(float(diffs.mean()))
        part = weights[i] * bootstrap_sums(diffs[:, None], codes=codes, n_resamples=n_resamples,
                                           rng=generator)[:, 0] / n
        draws += part
        # The bootstrap variance of a mean is the plug-in one, short by (n - 1) / n: undone per length.
        variance += float(part.var(ddof=1)) * n / max(n - 1, 1) if n_resamples > 1 else math.nan
        n_total, smallest = n_total + n, n if smallest is None else min(smallest, n)
    slope = float(weights @ np.asarray(deltas))
    se = math.sqrt(variance) if variance == variance else math.nan
    # Student's t with the smallest length's n - 1 degrees of freedom, not the normal: with ~10 items per length
    # the normal Wald test rejected 8.0 % of real A/A pairs at alpha 0.05 (results/stats/power.md).
    df = max((smallest or 2) - 1, 1)
    pvalue = float(2 * stats.t.sf(abs(slope) / se, df)) if se > 0 else (1.0 if slope == 0 else 0.0)
    return InteractionResult(
        metric=metric,
        method="least-squares slope of the paired delta on log2(length); per-length paired bootstrap "
               "percentile CI; t p-value (df = smallest length's n - 1) from the bootstrap SE",
        n=n_total, statistic=slope, pvalue=pvalue,
        confidence_interval=ConfidenceInterval(*percentile_interval(draws, confidence_level), confidence_level),
        standard_error=se, lengths=tuple(int(v) for v in lengths), deltas=tuple(deltas),
        n_resamples=n_resamples, bootstrap_distribution=readonly(draws))
