"""Paired comparison of models across runs: join items by doc hash, test, control multiplicity.

``pair_units`` joins two models' records of one task and refuses anything that
is not the same items; ``compare_runs`` tests each candidate against its
baseline on every metric (see :mod:`evalsuite.compare.metrics` for the test
per metric) and adjusts the p-values over the whole table.

Its modules are public: the report stage (:mod:`evalsuite.report`) builds the
leaderboard and the CI gate from them, in pipeline order
:mod:`~evalsuite.compare.family` (a model's units of one task family as one view),
:mod:`~evalsuite.compare.join` (pair items by doc hash), :mod:`~evalsuite.compare.choices`
and :mod:`~evalsuite.compare.clusters` (what a multiple-choice record yields),
:mod:`~evalsuite.compare.metrics` (per-item arrays per metric),
:mod:`~evalsuite.compare.tests` (each metric's paired test, seeded per row),
:mod:`~evalsuite.compare.table` (every candidate against its baseline, corrected),
:mod:`~evalsuite.compare.paper` (the paper's own numbers), and for text
:mod:`~evalsuite.compare.format`, :mod:`~evalsuite.compare.display` and
:mod:`~evalsuite.compare.cli` (``evalsuite compare``; its ``parse_args`` holds the
options ``publish`` and ``check`` share).
"""

from __future__ import annotations

from evalsuite.compare.cli import main_compare
from evalsuite.compare.format import escape_markdown
from evalsuite.compare.join import PairedItems, pair_units
from evalsuite.compare.metrics import FIXED_METRICS, MetricArrays, MetricSpec, metric_spec, paired_metrics
from evalsuite.compare.table import ComparisonRow, ComparisonTable, compare_runs
from evalsuite.compare.tests import ScoreEstimate, score_estimate

__all__ = [
    "FIXED_METRICS", "ComparisonRow", "ComparisonTable", "MetricArrays", "MetricSpec", "PairedItems",
    "ScoreEstimate", "compare_runs", "escape_markdown", "main_compare", "metric_spec", "pair_units",
    "paired_metrics", "score_estimate",
]
