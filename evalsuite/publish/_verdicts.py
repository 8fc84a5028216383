"""One short paragraph per task: which paired test decides the comparison, and why (from the rows' power).

The accuracy is the paper's estimand, but at the paper's effect sizes McNemar
often lacks the power to see it; the accuracy's continuous companion (the
log-likelihood margin for acc, p(gold) for acc_norm: ``results/stats/power.md``
chose them) asks a different, finer-grained question (does the model move its
scores toward the right answer?) and usually has far more power for the same
underlying change. The paragraph says which of the two was powered for the
paper's delta in this run, so a reader knows whether "not significant" means
"no effect" or "could not have told".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evalsuite.compare._choices import is_margin
from evalsuite.compare._display import delta_text
from evalsuite.compare._table import TREND, ComparisonRow, ComparisonTable

_TITLES = {"wikitext": "WikiText perplexity", "mmlu": "MMLU", "hellaswag": "HellaSwag", "ruler": "RULER"}


def _pct(power: float) -> str:
    return "–" if not math.isfinite(power) else f"{100 * power:.0f}%"


def _powered(row: ComparisonRow | None) -> bool:
    return row is not None and math.isfinite(row.paper_power) and row.paper_power >= 0.8


def _companion_name(row: ComparisonRow) -> str:
    return "margin" if is_margin(row.metric) else "p(gold)"


def _pairs(rows: Sequence[ComparisonRow]) -> str:
    return ", ".join(f"{r.candidate} {_pct(r.paper_power)}" for r in rows)


def _accuracy_paragraph(accs: Sequence[ComparisonRow], comps: Sequence[ComparisonRow | None]) -> str:
    first = accs[0]
    text = (f"{first.label}: McNemar's power for the paper's {delta_text(first, first.paper_delta or 0)} points — "
            f"{_pairs(accs)}")
    have = [c for c in comps if c is not None]
    name = _companion_name(have[0]) if have else ""
    if have:
        text += f"; the {name} companion's power for the same gold-score shift — {_pairs(have)}"
    n_acc, n_comp = sum(map(_powered, accs)), sum(map(_powered, comps))
    if n_acc == len(accs):
        verdict = "McNemar is decisive: it is powered for the paper's delta on the paper's own estimand"
    elif have and n_comp > n_acc:
        what = ("moves its log-likelihood toward the right answers" if name == "margin"
                else "moves probability onto the right answers")
        verdict = (f"the {name} test is decisive (powered in {n_comp} of {len(accs)} pairs, McNemar in {n_acc}): "
                   "the accuracy row stays the paper's estimand, but where it is underpowered a non-significant "
                   f"Δ says nothing, while the {name} row tells whether the gate {what}")
    else:
        verdict = (f"McNemar is powered in {n_acc} of {len(accs)} pairs; where neither test is, a non-significant Δ "
                   "is not evidence of no effect")
    return f"{text}. {verdict[0].upper()}{verdict[1:]}."


def task_paragraphs(table: ComparisonTable) -> list[tuple[str, str]]:
    """(task title, paragraph) for each task family with comparisons, in table order."""
    out: list[tuple[str, str]] = []
    for family, title in _TITLES.items():
        rows = [r for r in table.rows if r.family == family]
        sentences = []
        if family in ("mmlu", "hellaswag"):
            for metric in dict.fromkeys(r.metric for r in rows if r.paper_delta is not None and r.companion_of is None):
                accs = [r for r in rows if r.metric == metric]
                comps = [next((c for c in rows if c.companion_of == metric and c.candidate == a.candidate), None)
                         for a in accs]
                sentences.append(_accuracy_paragraph(accs, comps))
        else:
            for metric in dict.fromkeys(r.metric for r in rows if r.paper_delta is not None):
                mine = [r for r in rows if r.metric == metric]
                sentences.append(f"{mine[0].label}: the paired sign-flip test's power for the paper's Δ "
                                 f"{delta_text(mine[0], mine[0].paper_delta or 0)} — {_pairs(mine)}; "
                                 f"powered in {sum(map(_powered, mine))} of {len(mine)} pairs.")
        if family == "ruler" and rows:
            trends = [r for r in rows if r.metric == TREND]
            sentences += [f"{r.candidate}: the length × model interaction (Δ per doubling of length, the paper's "
                          f"long-context claim) is {delta_text(r, r.delta)} points [{delta_text(r, r.ci_low)}, "
                          f"{delta_text(r, r.ci_high)}], p = {r.pvalue:.3f}; it, not one length, decides that claim."
                          for r in trends]
            if not trends:
                sentences.append("Fewer than three lengths: the length × model interaction (the paper's long-context "
                                 "claim) cannot be tested.")
        if sentences:
            out.append((title, " ".join(sentences)))
    return out
