"""The result types are frozen, typed and use scipy's names."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from evalsuite.stats import (
    ConfidenceInterval,
    adjust_pvalues,
    mcnemar_exact,
    worse_by_margin_binary,
)


def test_results_are_immutable_and_keep_their_distribution() -> None:
    result = mcnemar_exact([1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1], n_resamples=300, rng=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pvalue = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.bootstrap_distribution[0] = 1.0
    assert result.confidence_interval.level == 0.95
    assert "bootstrap_distribution" not in repr(result)
    adjusted = adjust_pvalues([0.01, 0.2])
    with pytest.raises(ValueError):
        adjusted.reject[0] = False


def test_confidence_interval_contains() -> None:
    interval = ConfidenceInterval(-0.01, 0.02, 0.95)
    assert 0.0 in interval and 0.03 not in interval


def test_noninferiority_result_has_a_one_sided_interval() -> None:
    result = worse_by_margin_binary([1] * 50 + [0] * 50, [1] * 40 + [0] * 60, margin=0.01)
    assert result.confidence_interval.low == result.lower_bound
    assert result.confidence_interval.high == math.inf
    assert result.confidence_interval.level == pytest.approx(0.95)
    assert np.isclose(result.degradation, 0.10)
