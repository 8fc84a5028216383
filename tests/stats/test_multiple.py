"""Holm and Benjamini-Hochberg adjustment against hand values and independent references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from evalsuite.stats import adjust_pvalues

HAND = [0.01, 0.04, 0.03, 0.005]
# Holm: sorted 0.005 0.01 0.03 0.04 times 4 3 2 1 -> 0.02 0.03 0.06 0.04, running max
# -> 0.02 0.03 0.06 0.06; back in input order:
HOLM = [0.03, 0.06, 0.06, 0.02]
# BH: m p / rank -> 0.02 0.02 0.04 0.04, running min from the top; input order:
BH = [0.02, 0.04, 0.04, 0.02]


@pytest.mark.parametrize("method, expected", [("holm", HOLM), ("fdr_bh", BH)])
def test_hand_computed(method: str, expected: list[float]) -> None:
    result = adjust_pvalues(HAND, method=method, alpha=0.05)
    np.testing.assert_allclose(result.pvalues_adjusted, expected, rtol=1e-12)
    np.testing.assert_array_equal(result.reject, np.asarray(expected) <= 0.05)
    np.testing.assert_array_equal(result.pvalues, HAND)


def test_holm_is_default_and_labels_round_trip() -> None:
    result = adjust_pvalues(HAND, labels=["mmlu", "hellaswag", "wikitext", "ruler_128k"])
    assert result.method == "holm"
    assert result.as_dict()["ruler_128k"] == (pytest.approx(0.02), True)
    assert result.as_dict()["hellaswag"] == (pytest.approx(0.06), False)


def _holm_by_closed_testing(p: np.ndarray) -> np.ndarray:
    """Holm = closed testing with Bonferroni local tests: max over sets S that hold i."""
    m = len(p)
    adjusted = np.zeros(m)
    for size in range(1, m + 1):
        for subset in itertools.combinations(range(m), size):
            local = min(1.0, size * p[list(subset)].min())
            for i in subset:
                adjusted[i] = max(adjusted[i], local)
    return adjusted


@pytest.mark.parametrize("seed", range(5))
def test_against_independent_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.02, 3), rng.uniform(0, 1, 4)])
    p[rng.integers(7)] = p[0]  # a tie
    holm = adjust_pvalues(p, method="holm")
    np.testing.assert_allclose(holm.pvalues_adjusted, _holm_by_closed_testing(p), rtol=1e-12)
    bh = adjust_pvalues(p, method="fdr_bh")
    np.testing.assert_allclose(bh.pvalues_adjusted, stats.false_discovery_control(p, method="bh"),
                               rtol=1e-12)


def test_against_statsmodels_when_installed() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(9).uniform(0, 0.1, 12)
    for method in ("holm", "fdr_bh"):
        reject, adjusted, _, _ = multitest.multipletests(p, alpha=0.05, method=method)
        ours = adjust_pvalues(p, method=method)
        np.testing.assert_allclose(ours.pvalues_adjusted, adjusted, rtol=1e-12)
        np.testing.assert_array_equal(ours.reject, reject)


def test_single_and_extreme_pvalues() -> None:
    assert adjust_pvalues([0.03]).pvalues_adjusted.tolist() == [0.03]
    assert adjust_pvalues([0.9, 0.8], method="holm").pvalues_adjusted.tolist() == [1.0, 1.0]
    assert adjust_pvalues([0.0, 1.0], method="fdr_bh").reject.tolist() == [True, False]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues(HAND, method="bonferroni-ish")
    with pytest.raises(ValueError, match="NaN"):
        adjust_pvalues([0.1, float("nan")])
    with pytest.raises(ValueError, match="labels"):
        adjust_pvalues(HAND, labels=["a"])
