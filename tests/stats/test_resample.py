"""The two implementations of each resampling draw give the same distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalsuite.stats._resample import (
    _bootstrap_gather,
    _groups,
    bootstrap_sums,
    signflip_pvalue,
    signflip_sums,
)
from evalsuite.stats.paired import mcnemar_exact_pvalue


def test_count_based_and_index_bootstrap_agree() -> None:
    rng = np.random.default_rng(300)
    n, draws = 3000, 20_000
    values = rng.choice([-1.0, 0.0, 1.0], size=n, p=[0.06, 0.86, 0.08])[:, None]
    codes = rng.integers(0, 5, n)
    for strata in (None, codes):
        counted = bootstrap_sums(values, codes=strata, n_resamples=draws, rng=rng)[:, 0]
        groups = [np.arange(n)] if strata is None else _groups(strata)
        gathered = _bootstrap_gather(values, groups, draws, rng)[:, 0]
        assert counted.mean() == pytest.approx(values.sum(), abs=0.05 * counted.std())
        assert gathered.mean() == pytest.approx(values.sum(), abs=0.05 * gathered.std())
        assert counted.std() == pytest.approx(gathered.std(), rel=0.03)
        assert stats.ks_2samp(counted, gathered).pvalue > 1e-3


def test_stratified_bootstrap_keeps_stratum_sizes() -> None:
    rng = np.random.default_rng(301)
    n = 2000
    codes = rng.integers(0, 4, n)
    indicator = np.column_stack([(codes == s).astype(float) for s in range(4)]
                                + [rng.normal(size=n)])  # many distinct rows: index path
    sums = bootstrap_sums(indicator, codes=codes, n_resamples=50, rng=rng)
    np.testing.assert_array_equal(sums[:, :4], np.tile(np.bincount(codes), (50, 1)))


def test_count_based_and_bit_sign_flips_agree() -> None:
    rng = np.random.default_rng(302)
    few = rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5], size=4000)  # few magnitudes
    many = rng.normal(size=100)  # all distinct
    for diffs in (few, many):
        flips = signflip_sums(diffs, n_resamples=20_000, rng=rng)
        assert flips.mean() == pytest.approx(0.0, abs=0.05 * flips.std())
        assert flips.std() == pytest.approx(np.sqrt((diffs**2).sum()), rel=0.03)


def test_sign_flip_on_binary_differences_is_mcnemar() -> None:
    rng = np.random.default_rng(303)
    diffs = np.r_[np.ones(30), -np.ones(15), np.zeros(500)]
    flipped = signflip_pvalue(diffs, n_resamples=100_000, rng=rng)
    assert flipped == pytest.approx(mcnemar_exact_pvalue(15, 30), abs=0.003)
