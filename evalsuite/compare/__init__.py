"""Paired comparison of models across runs: join items by doc hash, test, control multiplicity.

``pair_units`` joins two models' records of one task and refuses anything that
is not the same items; ``compare_runs`` tests each candidate against its
baseline on every metric (see :mod:`evalsuite.compare._metrics` for the test
per metric) and adjusts the p-values over the whole table.
"""

from __future__ import annotations

from evalsuite.compare._cli import main_compare
from evalsuite.compare._format import escape_markdown
from evalsuite.compare._join import PairedItems, pair_units
from evalsuite.compare._metrics import FIXED_METRICS, MetricArrays, MetricSpec, metric_spec, paired_metrics
from evalsuite.compare._table import ComparisonRow, ComparisonTable, compare_runs
from evalsuite.compare._tests import ScoreEstimate, score_estimate

__all__ = [
    "FIXED_METRICS", "ComparisonRow", "ComparisonTable", "MetricArrays", "MetricSpec", "PairedItems",
    "ScoreEstimate", "compare_runs", "escape_markdown", "main_compare", "metric_spec", "pair_units",
    "paired_metrics", "score_estimate",
]
