"""Every paired test and every gate test refuses NaN and infinity by name and count, never a p-value over them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalsuite import stats
from evalsuite.errors import NonFiniteRecordError

ONES = np.ones(10)


def _with(value: float, n_bad: int = 2) -> np.ndarray:
    out = np.ones(10)
    out[3:3 + n_bad] = value
    return out


TESTS = {
    "mcnemar_exact": lambda r, c, w: stats.mcnemar_exact(r, c, n_resamples=20, rng=0),
    "paired_bootstrap_mean": lambda r, c, w: stats.paired_bootstrap_mean(r, c, n_resamples=20, rng=0),
    "paired_bootstrap_log_ppl": lambda r, c, w: stats.paired_bootstrap_log_ppl(r, c, w, n_resamples=20, rng=0),
    "worse_by_margin_binary": lambda r, c, w: stats.worse_by_margin_binary(r, c, margin=0.01),
    "worse_by_margin_mean": lambda r, c, w: stats.worse_by_margin_mean(r, c, margin=0.01, n_resamples=20, rng=0),
    "worse_by_margin_log_ppl": lambda r, c, w: stats.worse_by_margin_log_ppl(r, c, w, margin=0.01, n_resamples=20,
                                                                             rng=0),
}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name, side", [(n, s) for n in TESTS for s in ("reference", "candidate", "counts")
                                        if s != "counts" or "log_ppl" in n])  # only perplexity takes counts
def test_non_finite_inputs_are_refused(name: str, side: str, value: float) -> None:
    args = {"reference": ONES, "candidate": ONES, "counts": ONES}
    args[side] = _with(value)
    with pytest.raises(NonFiniteRecordError) as info:
        TESTS[name](args["reference"], args["candidate"], args["counts"])
    message = str(info.value)
    assert "has 2 non-finite values (NaN or infinity) among 10 items (first at item 3" in message
    assert "no statistic is computed over them" in message and len(message.splitlines()) == 1
