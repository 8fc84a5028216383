"""Validation of the arrays and options the paired tests take.

Bad data (lengths that differ, NaN or infinite scores, non-binary values in a
binary metric, non-positive counts) means the run records do not match or are
incomplete, so it raises :class:`~evalsuite.errors.RecordError` naming the
argument (for NaN or infinity its :class:`~evalsuite.errors.NonFiniteRecordError`
form: no statistic is ever computed over a non-finite number). Bad options
(a confidence level of 95 instead of 0.95) are programming errors: ``ValueError``,
as in scipy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from evalsuite.errors import NonFiniteRecordError, RecordError


def vector(name: str, values: ArrayLike) -> np.ndarray:
    """A finite 1-D float64 array with at least one element."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise RecordError(f"{name} must be one value per item (1-D), got shape {array.shape}")
    if array.size == 0:
        raise RecordError(f"{name} is empty: there are no paired items to compare")
    if array.dtype.kind not in "biuf":
        raise RecordError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():  # the one place every test's inputs pass: never a p-value or an interval over NaN or inf
        first = int(np.flatnonzero(bad)[0])
        raise NonFiniteRecordError(f"{name} has {int(bad.sum())} non-finite values (NaN or infinity) among "
                                   f"{array.size} items (first at item {first}: {array[first]}); no statistic "
                                   "is computed over them")
    return array


def binary(name: str, values: ArrayLike) -> np.ndarray:
    """A 1-D bool array from bools or 0/1 numbers."""
    array = vector(name, values)
    bad = (array != 0.0) & (array != 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise RecordError(
            f"{name} must be 0/1 per item (correct or not), got {array[first]!r} at item {first}"
        )
    return array.astype(bool)


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays; RecordError naming them when they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise RecordError(f"paired inputs must have one value per shared item; lengths {lengths}")
    return next(iter(lengths.values()))


def strata_codes(strata: ArrayLike | None, n: int) -> tuple[np.ndarray | None, int]:
    """Integer codes 0..S-1 for the stratum labels, and S (``None, 1`` when unstratified); strata of one item
    are pooled (DESIGN: one-item strata)."""
    if strata is None:
        return None, 1
    labels = np.asarray(strata)
    if labels.shape != (n,):
        raise RecordError(f"strata must give one label per item ({n}), got shape {labels.shape}")
    uniques, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() >= 2 or uniques.size == 1:
        return codes.astype(np.intp), len(uniques)
    # A one-item stratum has no resampling variability (RULER at one sample per task gave zero-width intervals
    # and a Wald p of 0): such strata are pooled into one, and a pool of one joins the largest stratum.
    small = counts < 2
    target = int(np.argmax(counts)) if small.sum() < 2 else int(np.flatnonzero(small)[0])
    merged = np.where(small, target, np.arange(uniques.size))  # (S,) old stratum -> merged stratum
    _, dense = np.unique(merged[codes], return_inverse=True)
    return dense.astype(np.intp), int(dense.max()) + 1


def options(*, n_resamples: int | None = None, level: float | None = None,
            alpha: float | None = None) -> None:
    """Check the common keyword options."""
    if n_resamples is not None and (int(n_resamples) != n_resamples or n_resamples < 1):
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if level is not None and not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), e.g. 0.95; got {level!r}")
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05; got {alpha!r}")
