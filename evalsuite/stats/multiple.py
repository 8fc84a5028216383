"""Multiple-comparison control over a family of p-values (one per metric).

Holm (default) controls the family-wise error rate under any dependence, which
fits a benchmark table whose metrics share a model pair; Benjamini-Hochberg
(``"fdr_bh"``) controls the false discovery rate under independence or positive
dependence. Names follow ``statsmodels.stats.multitest.multipletests``, whose
values these match (including ``reject = adjusted p <= alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from evalsuite.stats.results import AdjustedResult, readonly

METHODS = ("holm", "fdr_bh")


def adjust_pvalues(
    pvalues: ArrayLike,
    *,
    method: str = "holm",
    alpha: float = 0.05,
    labels: Sequence[str] | None = None,
) -> AdjustedResult:
    """Adjusted p-values and reject flags for a family, in the input's order.

    Holm: the i-th smallest p gets ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    BH: the i-th smallest p gets ``min_{j>=i} min(1, m p_(j) / j)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05; got {alpha!r}")
    raw = np.asarray(pvalues, dtype=np.float64)
    if raw.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got shape {raw.shape}")
    if np.isnan(raw).any() or (raw < 0).any() or (raw > 1).any():
        raise ValueError(f"pvalues must be in [0, 1] without NaN, got {raw.tolist()}")
    if labels is not None and len(labels) != raw.size:
        raise ValueError(f"{len(labels)} labels for {raw.size} p-values")
    m = raw.size
    order = np.argsort(raw, kind="stable")
    ranked = raw[order]  # ascending
    rank = np.arange(1, m + 1)
    if method == "holm":
        stepped = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ranked))
    else:
        stepped = np.minimum.accumulate((m * ranked / rank)[::-1])[::-1]
        stepped = np.minimum(1.0, stepped)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return AdjustedResult(
        method=method,
        alpha=alpha,
        pvalues=readonly(raw.copy()),
        pvalues_adjusted=readonly(adjusted),
        reject=readonly(adjusted <= alpha),
        labels=tuple(labels) if labels is not None else None,
    )
