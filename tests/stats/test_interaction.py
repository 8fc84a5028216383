"""The RULER length trend test (stats/interaction.py) is calibrated on real records with few items per length."""

from __future__ import annotations

from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "results" / "ruler-trend" / "cpu-ruler-trend"  # SmolLM2-135M vs the tiny baseline, 11 items a length


def test_trend_aa_on_real_ruler_records_is_within_the_binomial_bound():
    """Each item's two real scores swapped by a fair coin: the null holds exactly. With the normal reference
    (Wald) this rejected 8.0 % at alpha 0.05; a test of size 5 % rejects at most the 95 % binomial quantile."""
    from evalsuite.lab.bench.power import interaction_aa

    sims = 400
    lengths, sizes, rate = interaction_aa(RUN, "tiny-baseline", "smollm2-135m", sims=sims, n_resamples=199, seed=0)
    assert len(lengths) >= 3 and min(sizes) >= 10
    assert rate <= stats.binom.ppf(0.95, sims, 0.05) / sims, rate
