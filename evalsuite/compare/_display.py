"""The comparison table as strings for people: the CLI's table and the leaderboard's deltas.

Accuracies, p(gold) and RULER scores are shown in points (percent); perplexity
values as PPL while its delta, interval and MDE are in log-PPL (nats), the scale
the test works on (``exp(delta)`` is the PPL ratio); a margin companion in its
own units (nats of log-likelihood).
"""

from __future__ import annotations

import math

import pandas as pd

from evalsuite.compare._choices import ESTIMAND, is_margin
from evalsuite.compare._format import fmt_num, fmt_p
from evalsuite.compare._table import ComparisonRow, ComparisonTable


def value_text(row: ComparisonRow, value: float) -> str:
    return fmt_num(value, 3) if row.metric == "log_ppl" or is_margin(row.metric) else fmt_num(100 * value, 2)


def delta_text(row: ComparisonRow, value: float, *, signed: bool = True) -> str:
    if row.metric == "log_ppl":
        return fmt_num(value, 4, signed=signed)
    if is_margin(row.metric):
        return fmt_num(value, 3, signed=signed)
    return fmt_num(100 * value, 2, signed=signed)


def metric_text(row: ComparisonRow) -> str:
    if row.metric == "log_ppl":
        return f"WikiText PPL (per {row.count_unit or 'word'}; Δ in log-PPL)"
    if row.companion_of is not None:
        return f"{row.label} (estimand: {ESTIMAND['margin' if is_margin(row.metric) else 'pgold']})"
    return row.label


def power_text(row: ComparisonRow) -> str:
    """"yes (93%)" / "no (41%)": would this test have detected the paper's delta with 80 % power?"""
    if row.paper_delta is None or not math.isfinite(row.paper_power):
        return "–"
    return f"{'yes' if row.paper_power >= 0.8 else 'no'} ({100 * row.paper_power:.0f}%)"


def design_text(row: ComparisonRow) -> str:
    return "–" if row.design_effect == 1.0 or not math.isfinite(row.design_effect) else f"{row.design_effect:.2f}"


def deltas_frame(table: ComparisonTable) -> pd.DataFrame:
    """One display row per comparison (strings, unescaped)."""
    level = f"{round(100 * table.confidence_level)}% CI"
    adj = "p_adj (Holm)" if table.correction == "holm" else "p_adj (BH)"
    rows = []
    for r in table.rows:
        rows.append({
            "Model": r.candidate, "vs": r.baseline, "Metric": metric_text(r),
            "Baseline": value_text(r, r.reference_value), "Model value": value_text(r, r.candidate_value),
            "Δ": delta_text(r, r.delta),
            level: f"[{delta_text(r, r.ci_low)}, {delta_text(r, r.ci_high)}]",
            "p": fmt_p(r.pvalue), adj: fmt_p(r.pvalue_adjusted), "sig": r.stars,
            "MDE": delta_text(r, r.mde, signed=False), "n": str(r.n), "deff": design_text(r),
            "Paper Δ": "–" if r.paper_delta is None else delta_text(r, r.paper_delta),
            "Detects paper Δ? (power)": power_text(r),
        })
    columns = ["Model", "vs", "Metric", "Baseline", "Model value", "Δ", level, "p", adj, "sig", "MDE", "n", "deff",
               "Paper Δ", "Detects paper Δ? (power)"]
    return pd.DataFrame(rows, columns=columns)
