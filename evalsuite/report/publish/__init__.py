"""Publish run records as LEADERBOARD.md (jinja2 templates), PNG plots and CSV/JSON tables.

Tables follow the paper's layout (models as rows: PPL, MMLU, HellaSwag, RULER
32K/128K), then the deltas against each model's baseline with CIs and adjusted
p-values, RULER by length, diagnostics, what did not run and why, the paper's
own numbers (labelled as such) and the runs' provenance.
"""

from __future__ import annotations

from evalsuite.report.publish._publish import LEADERBOARD, main_publish, publish

__all__ = ["LEADERBOARD", "main_publish", "publish"]
