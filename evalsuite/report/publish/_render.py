"""Render the leaderboard's jinja2 templates (``evalsuite/report/publish/templates/*.j2``) to markdown.

Autoescaping is HTML's, so it is off; instead every dynamic string goes through
the ``md`` filter (markdown escaping, tags as entities) or ``code`` (an inline
code span, whose contents markdown shows literally).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from evalsuite.compare.format import code_span, escape_markdown
from evalsuite.report.publish._collect import Leaderboard, RunSummary
from evalsuite.compare.paper import CITATION
from evalsuite.compare.table import TREND
from evalsuite.report.publish._tables import Table
from evalsuite.report.publish._verdicts import task_paragraphs

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["md"] = escape_markdown
    env.filters["code"] = code_span
    return env


def _versions(provenance: dict[str, Any]) -> str:
    versions = provenance.get("versions") or {}
    return ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "not recorded"


def _hardware(provenance: dict[str, Any]) -> str:
    hw = provenance.get("hardware") or {}
    parts = []
    if hw.get("gpus"):
        gpus = list(hw["gpus"])
        parts.append(", ".join(f"{gpus.count(g)}× {g}" for g in dict.fromkeys(gpus)))
    if hw.get("cpu"):
        parts.append(f"{hw['cpu']} ({hw.get('cpu_count', '?')} CPUs)")
    for key in ("platform", "python", "cuda"):
        if hw.get(key):
            parts.append(f"{key} {hw[key]}")
    return "; ".join(parts) or "not recorded"


def _data(run: RunSummary) -> str:
    parts = []
    for d in run.data:
        what = f"{d.n_files} files, sha256 {d.digest}" if d.n_files else "no local files recorded"
        parts.append(f"{d.task}: {what}" + ("" if d.same_for_all_models else " (DIFFERS between models)"))
    return "; ".join(parts) or "no data files recorded"


def _run_context(run: RunSummary) -> dict[str, Any]:
    return {"run_id": run.run_id, "suite": run.suite, "status": run.status, "complete": run.complete,
            "problems": list(run.problems), "created": run.created, "finished": run.finished,
            "n_units": run.n_units, "commit": run.provenance.get("evalsuite_commit") or "unknown",
            "versions": _versions(run.provenance), "hardware": _hardware(run.provenance), "data": _data(run)}


def render_leaderboard(lb: Leaderboard, tables: dict[str, Table], plots: dict[str, str]) -> str:
    runs = [_run_context(r) for r in lb.runs]
    context = {
        "title": f"{', '.join(lb.suites)} leaderboard", "complete": lb.complete, "runs": runs,
        "incomplete": [r for r in runs if not r["complete"]], "suites": list(lb.suites), "tables": tables,
        "plots": {k: plots.get(k) for k in ("ruler", "first_token", "max_activation", "gate", "forest")},
        "verdicts": task_paragraphs(lb.comparison), "has_trend": any(r.metric == TREND for r in lb.comparison.rows),
        "notes": list(lb.notes), "ppl_unit": lb.ppl_unit, "citation": CITATION,
        "n_resamples": lb.comparison.n_resamples,
        "correction_name": "Holm" if lb.comparison.correction == "holm" else "Benjamini-Hochberg",
    }
    return environment().get_template("leaderboard.md.j2").render(**context)
