"""The length x model interaction on real RULER records: the A/A of the trend test and its ``power.md`` section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalsuite.lab.bench.power.simulate import ALPHA, binomial_upper
from evalsuite.lab.bench.power.table import _pct
from evalsuite.records import load_run


INTERACTION_HEADING = "## The length × model interaction: A/A on real RULER records"


def interaction_aa(run_dir: Path, reference: str, candidate: str, *, sims: int, n_resamples: int,
                   seed: int) -> tuple[list[int], list[int], float]:
    """(lengths, items per length, A/A rejection rate) of the RULER trend test on two models' real per-item
    RULER scores, each item's pair swapped by a fair coin (the null "the same delta at every length" holds
    exactly; the real score distribution, mostly 0/1 and few items per length, is kept)."""
    from evalsuite import stats
    from evalsuite.compare.join import pair_units
    from evalsuite.compare.metrics import paired_metrics

    run = load_run(run_dir)
    unit = next(t for (m, t) in run.units if m == reference and "ruler" in t)
    rows = [m for m in paired_metrics(pair_units(run.units[(reference, unit)], run.units[(candidate, unit)]))
            if m.spec.family == "ruler"]
    lengths = [int(m.spec.key.removeprefix("ruler_")) for m in rows]
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(sims):
        refs, cands = [], []
        for m in rows:
            swap = rng.random(m.reference.size) < 0.5
            refs.append(np.where(swap, m.candidate, m.reference))
            cands.append(np.where(swap, m.reference, m.candidate))
        res = stats.length_interaction(refs, cands, lengths, strata=[m.strata for m in rows],
                                       n_resamples=n_resamples, rng=i)
        hits += res.pvalue < ALPHA
    return lengths, [m.reference.size for m in rows], hits / sims


def interaction_section(run_dir: Path, reference: str, candidate: str, *, sims: int, n_resamples: int,
                        seed: int, command: str) -> str:
    """``power.md``'s section on :func:`interaction_aa`: the rate, its binomial bound and how it was made."""
    lengths, sizes, rate = interaction_aa(run_dir, reference, candidate, sims=sims, n_resamples=n_resamples,
                                          seed=seed)
    bound = binomial_upper(sims)
    return "\n".join([
        INTERACTION_HEADING, "",
        f"Made by `{command}`. The trend test the leaderboard runs for RULER with three or more lengths (slope of "
        "the paired Δ on log2 length, per-length bootstrap, Student-t p-value with the smallest length's n - 1 "
        "degrees of freedom) on the real per-item RULER scores of "
        f"`{candidate}` and `{reference}` in `{run_dir}` (lengths {', '.join(map(str, lengths))}; "
        f"{', '.join(map(str, sizes))} items), each item's two scores swapped by a fair coin in each of {sims} "
        f"draws ({n_resamples} bootstrap resamples): A/A rejection rate at α = 0.05 **{_pct(rate)}** (a test of "
        f"exact size 5 % rejects at most {_pct(bound)} of them, the 95 % binomial quantile). Its A/A on synthetic RULER scores with 120 "
        "items per length is in `tests/stats/test_clustered.py`.", ""])
