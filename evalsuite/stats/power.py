"""Power of the paired tests for a given true delta, and the verdict "could this run have seen it?".

The MDE (:func:`~evalsuite.stats.paired.minimum_detectable_effect`) answers
"what is the smallest delta this run detects with 80 % power"; a reader of the
paper asks the converse: "the paper reports +0.51 MMLU points; had our two
models differed by that much, how often would this run have said so?". Both use
this pair's own nuisance parameters — the observed discordance of a 0/1 metric,
the observed spread of a continuous one — and the effective sample size
``n / design_effect`` when items come in clusters.

* 0/1 metrics (McNemar): Connor's (1987) approximation,
  ``power = Phi((|delta| sqrt(n) - z_{1-alpha/2} sqrt(psi)) / sqrt(psi - delta^2))``;
* continuous metrics (sign-flip / t): the noncentral t,
  ``P(|T| > t_{1-alpha/2, n-1})`` with ``T ~ nct(n - 1, |delta| sqrt(n) / sd)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from evalsuite.stats import _inputs
from evalsuite.stats.paired import minimum_detectable_effect


@dataclass(frozen=True, kw_only=True)
class PowerResult:
    """The power of a two-sided paired test at ``alpha`` to detect ``delta`` (in the test's units)."""

    delta: float
    power: float
    mde: float  # the |delta| detected with 80 % power
    n_effective: float  # n / design effect
    alpha: float

    @property
    def detectable(self) -> bool:
        """True when the run had at least 80 % power for ``delta``."""
        return self.power >= 0.8


def paired_power(
    delta: float,
    *,
    n: int,
    discordance: float | None = None,
    sd: float | None = None,
    design_effect: float = 1.0,
    alpha: float = 0.05,
) -> PowerResult:
    """Power to detect a true paired ``delta``; give ``discordance`` (0/1 metrics) or ``sd`` (continuous).

    A design effect below 1 is not credited (``n`` stays the item count); NaN
    power when the nuisance parameter says nothing (sd 0, no discordant pair).
    """
    _inputs.options(alpha=alpha)
    if (discordance is None) == (sd is None):
        raise ValueError("give exactly one of discordance= (binary) or sd= (continuous)")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n!r}")
    deff = design_effect if math.isfinite(design_effect) else 1.0
    n_eff = n / max(deff, 1.0)
    size = abs(float(delta))
    n_mde = max(2, int(round(n_eff)))
    if sd is not None:
        if not sd > 0:
            return PowerResult(delta=delta, power=math.nan, mde=math.nan, n_effective=n_eff, alpha=alpha)
        df = n_eff - 1
        crit = stats.t.ppf(1 - alpha / 2, df)
        nc = size * math.sqrt(n_eff) / sd
        upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
        # scipy's noncentral t gives NaN far out in a tail (cdf(-1.96, 1834, 10) is NaN): there the tail is
        # ~0 (lower) or the normal approximation holds (upper), and a verdict must not vanish for it.
        lower = lower if math.isfinite(lower) else 0.0
        upper = upper if math.isfinite(upper) else float(stats.norm.sf(crit - nc))
        power = upper + lower
        return PowerResult(delta=delta, power=power, mde=minimum_detectable_effect(n_mde, sd=sd),
                           n_effective=n_eff, alpha=alpha)
    if not 0.0 <= discordance <= 1.0:
        raise ValueError(f"discordance must be a fraction in [0, 1], got {discordance!r}")
    mde = minimum_detectable_effect(n_mde, discordance=discordance)
    if discordance <= size**2:  # fewer discordant pairs than the delta needs: only a one-way table
        power = math.nan if discordance == 0 else 1.0
    else:
        z_a = stats.norm.ppf(1 - alpha / 2)
        power = float(stats.norm.cdf((size * math.sqrt(n_eff) - z_a * math.sqrt(discordance))
                                     / math.sqrt(discordance - size**2)))
    return PowerResult(delta=delta, power=power, mde=mde, n_effective=n_eff, alpha=alpha)
