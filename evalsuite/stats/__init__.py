"""Paired statistics for model comparison: tests, intervals, multiplicity, the gate's test.

Pure numpy/scipy, no I/O. Every test returns a frozen result type with
scipy.stats' names (``statistic``, ``pvalue``, ``confidence_interval``); every
random draw takes a keyword-only ``rng``.
"""

from __future__ import annotations

from evalsuite.stats.clustered import ClusteredResult, clustered_mcnemar, design_effect, paired_score_test
from evalsuite.stats.interaction import InteractionResult, length_interaction
from evalsuite.stats.multiple import adjust_pvalues
from evalsuite.stats.noninferiority import (
    worse_by_margin_binary,
    worse_by_margin_log_ppl,
    worse_by_margin_mean,
)
from evalsuite.stats.paired import (
    mcnemar_exact,
    mcnemar_exact_pvalue,
    minimum_detectable_effect,
    paired_bootstrap_log_ppl,
    paired_bootstrap_mean,
)
from evalsuite.stats.power import PowerResult, paired_power
from evalsuite.stats._resample import signflip_pvalue  # the exact sign-flip test the clustered tests are built on
from evalsuite.stats.results import (
    AdjustedResult,
    ConfidenceInterval,
    LogPerplexityResult,
    NonInferiorityResult,
    PairedResult,
)

__all__ = [
    "AdjustedResult",
    "ClusteredResult",
    "InteractionResult",
    "PowerResult",
    "clustered_mcnemar",
    "design_effect",
    "length_interaction",
    "paired_power",
    "paired_score_test",
    "ConfidenceInterval",
    "LogPerplexityResult",
    "NonInferiorityResult",
    "PairedResult",
    "adjust_pvalues",
    "mcnemar_exact",
    "mcnemar_exact_pvalue",
    "minimum_detectable_effect",
    "paired_bootstrap_log_ppl",
    "paired_bootstrap_mean",
    "signflip_pvalue",
    "worse_by_margin_binary",
    "worse_by_margin_log_ppl",
    "worse_by_margin_mean",
]
