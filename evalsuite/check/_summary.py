"""The gate's verdict as markdown for a pull-request comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalsuite.compare._choices import is_margin
from evalsuite.compare._format import code_span, escape_markdown, fmt_num, fmt_p

if TYPE_CHECKING:
    from evalsuite.check._gate import CheckResult, CheckRow


def _value(row: CheckRow, value: float) -> str:
    return fmt_num(value, 3) if row.metric == "log_ppl" or is_margin(row.metric) else fmt_num(100 * value, 2)


def _delta(row: CheckRow, value: float, *, signed: bool = True) -> str:
    if row.metric == "log_ppl" or is_margin(row.metric):
        return f"{fmt_num(value, 4, signed=signed)} nats"
    return f"{fmt_num(100 * value, 2, signed=signed)} pt"


def _cells(row: CheckRow) -> list[str]:
    model = row.model if row.model == row.reference_model else f"{row.model} (ref: {row.reference_model})"
    label = "WikiText PPL" if row.metric == "log_ppl" else row.label
    verdict = "❌ worse" if row.worse else "✅ ok"
    return [model, f"{label} ({row.metric})", _value(row, row.reference_value), _value(row, row.candidate_value),
            _delta(row, row.delta), _delta(row, row.margin, signed=False), fmt_p(row.pvalue_adjusted), verdict]


def summary_markdown(result: CheckResult) -> str:
    n = len(result.rows)
    if result.passed:
        head = ("## evalsuite check: ✅ pass\n\n"
                f"No metric is significantly worse than the reference by more than its margin ({n} tested).")
    else:
        head = (f"## evalsuite check: ❌ FAIL\n\n**{len(result.failures)} of {n} metrics are significantly worse than "
                "the reference by more than their margin.**")
    if result.missing:
        head += (f"\n\n**⚠ Not everything was checked (--allow-missing): the candidate lacks {len(result.missing)} "
                 "piece(s) of evidence the reference has:** " + escape_markdown("; ".join(result.missing)) + ".")
    adjust = f"Holm-adjusted over all {n} tests" if result.correction == "holm" else "not adjusted"
    method = (f"Candidate {code_span(result.candidate_run)} vs reference {code_span(result.reference_run)}. "
              + escape_markdown(f"One-sided paired tests of \"worse by more than the margin\" at "
                                f"α = {result.alpha:g}, p-values {adjust}: Tango's score test for accuracies, "
                                + ("a shifted sign-flip test for RULER, perplexity and the accuracies' continuous "
                                   "companions (the regression signal of multiple-choice tasks here; log-likelihood margins in nats)"
                                   if result.signal != "accuracy" else
                                   "a shifted sign-flip test for RULER and perplexity")
                                + ". Scores in points; perplexity "
                                "as PPL, its Δ and margin in log-PPL (nats)."))
    columns = ["Model", "Metric", "Ref", "Cand", "Δ", "Margin", "p", "Verdict"]
    lines = [head, "", method, "",
             "| " + " | ".join(columns) + " |", "|:---|:---|---:|---:|---:|---:|---:|:---|"]
    lines += ["| " + " | ".join(escape_markdown(c) for c in _cells(r)) + " |" for r in result.rows]
    if result.notes:
        lines += ["", "Notes:", *(f"- {escape_markdown(n)}" for n in result.notes)]
    return "\n".join(lines) + "\n"
