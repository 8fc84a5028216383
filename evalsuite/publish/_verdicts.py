"""One paragraph per task: which paired test decides the comparison, and why (from the rows' power).

The accuracy is the paper's estimand, but at the paper's effect sizes McNemar
often lacks the power to see it; the p(gold) companion asks a different,
finer-grained question (does the model put more probability on the right
answer?) and usually has far more power for the same underlying shift. The
paragraph says which of the two was powered for the paper's delta in this run,
so a reader knows whether "not significant" means "no effect" or "could not
have told".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evalsuite.compare._display import delta_text
from evalsuite.compare._table import TREND, ComparisonRow, ComparisonTable

_TITLES = {"wikitext": "WikiText perplexity", "mmlu": "MMLU", "hellaswag": "HellaSwag", "ruler": "RULER"}


def _pct(power: float) -> str:
    return f"{100 * power:.0f}%"


def _powered(row: ComparisonRow) -> bool:
    return math.isfinite(row.paper_power) and row.paper_power >= 0.8


def _accuracy_sentence(acc: ComparisonRow, comp: ComparisonRow | None) -> str:
    pair = f"{acc.candidate} vs {acc.baseline}"
    acc_part = (f"{acc.label}: exact McNemar{' over clusters' if acc.design_effect != 1.0 else ''} has "
                f"{_pct(acc.paper_power)} power for the paper's {delta_text(acc, acc.paper_delta or 0)} points "
                f"(MDE {delta_text(acc, acc.mde, signed=False)}, n = {acc.n:,})")
    if comp is None or not math.isfinite(comp.paper_power):
        verdict = "decisive" if _powered(acc) else "underpowered: a non-significant Δ is not evidence of no effect"
        return f"{pair} — {acc_part}; {verdict}."
    comp_part = (f"its companion {comp.label} (mean probability on the gold choice, a different estimand) has "
                 f"{_pct(comp.paper_power)} power for the same gold-score shift "
                 f"({delta_text(comp, comp.paper_delta or 0)} points of p(gold))")
    if _powered(acc):
        verdict = "McNemar is decisive: it is powered for the paper's delta on the paper's own estimand"
    elif _powered(comp):
        verdict = ("the p(gold) test is the decisive one for whether the gate helps at the paper's effect size; "
                   "the accuracy row stays the paper's estimand but this run could not have told its delta from 0")
    else:
        verdict = "neither test is powered for the paper's delta: a non-significant Δ is not evidence of no effect"
    return f"{pair} — {acc_part}; {comp_part}. {verdict.capitalize()}."


def _other_sentence(row: ComparisonRow) -> str:
    pair = f"{row.candidate} vs {row.baseline}"
    if row.paper_delta is None or not math.isfinite(row.paper_power):
        return ""
    verdict = "powered" if _powered(row) else "underpowered"
    return (f"{pair} — {row.label}: the paired sign-flip test has {_pct(row.paper_power)} power for the paper's "
            f"Δ {delta_text(row, row.paper_delta)} ({verdict}).")


def task_paragraphs(table: ComparisonTable) -> list[tuple[str, str]]:
    """(task title, paragraph) for each task family with comparisons, in table order."""
    out: list[tuple[str, str]] = []
    for family, title in _TITLES.items():
        rows: Sequence[ComparisonRow] = [r for r in table.rows if r.family == family]
        if not rows:
            continue
        sentences = []
        for acc in rows:
            if family in ("mmlu", "hellaswag") and acc.paper_delta is not None and acc.companion_of is None:
                comp = next((r for r in rows if r.companion_of == acc.metric and r.candidate == acc.candidate), None)
                sentences.append(_accuracy_sentence(acc, comp))
            elif family in ("wikitext", "ruler") and acc.metric != TREND:
                sentences.append(_other_sentence(acc))
        if family == "ruler":
            trends = [r for r in rows if r.metric == TREND]
            sentences += [f"{r.candidate} vs {r.baseline} — the paper's long-context claim is a trend: the "
                          f"length × model interaction (slope of Δ per doubling of length) is "
                          f"{delta_text(r, r.delta)} points [{delta_text(r, r.ci_low)}, {delta_text(r, r.ci_high)}]"
                          f", p = {r.pvalue:.3f}; it, not any single length, decides that claim." for r in trends]
            if not trends:
                sentences.append("Fewer than three lengths: the length × model interaction (the paper's long-context "
                                 "claim) cannot be tested.")
        text = " ".join(s for s in sentences if s)
        if text:
            out.append((title, text))
    return out
