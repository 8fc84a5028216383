"""The table `evalsuite run` prints at the end: one row per (model, task) with its headline metric."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from evalsuite.families import FAMILIES
from evalsuite.records import load_run

# The number a reader looks for first, per task family (RULER prints its per-length means).
HEADLINE = {**{f.name: f.headline for f in FAMILIES if f.headline}, "diagnostics": "first_token_share_mean"}


def print_summary(run_dir: Path) -> bool:
    """Print the results table; True when no unit failed (each is complete, not run for missing data, or
    pending: left to another invocation, e.g. ``--model other``).

    A unit that failed (a model that would not load, a malformed data file, a bug caught in the unit) makes
    the CLI exit 2, after every other unit has finished; so does a finished unit kept despite a failure on
    this rerun (``rerun_error``: the record is intact, but what was asked for did not run).
    """
    run = load_run(run_dir, with_samples=False)
    table = Table(title=f"{run.manifest.suite} — {run.manifest.run_id}")
    for col in ("model", "task", "status", "metric", "value", "±stderr", "n", "seconds"):
        table.add_column(col)
    ok = True
    for key, info in run.manifest.units.items():
        model, task = key.split("/", 1)
        unit = run.units.get((model, task))
        status = info.get("status", "pending")
        ok &= status in ("complete", "not_run", "pending") and "rerun_error" not in info
        if "rerun_error" in info:
            status = "complete (kept)"
        if unit is None or unit.status != "complete" or "rerun_error" in info:
            err = info.get("rerun_error") or (unit.error if unit else info.get("error")) or ""
            table.add_row(model, task, status, "", err[:60], "", "", "")
            continue
        if task.startswith("ruler_es"):
            table.add_row(model, task, status, "mean over tasks", _ruler_means(unit), "", str(unit.n_samples),
                          f"{unit.seconds:.1f}" if unit.seconds else "")
            continue
        name = HEADLINE.get(task) or next((m.name for m in unit.metrics if m.task == task), "")
        m = unit.metric(name, task) or unit.metric(name)
        if m is None:
            m = next((x for x in unit.metrics if x.task == task), None)
        value = f"{m.value:.4f}" if m and m.value is not None else "–"
        stderr = f"{m.stderr:.4f}" if m and m.stderr is not None else ""
        n = m.n if m and m.n is not None else unit.n_samples
        table.add_row(model, task, status, m.name if m else "", value, stderr, str(n),
                      f"{unit.seconds:.1f}" if unit.seconds else "")
    Console(width=max(140, Console().width)).print(table)
    return ok


def _ruler_means(unit) -> str:
    """'1024: 0.42  2048: 0.31' — per length, the mean over RULER tasks of each task's score (the paper's layout)."""
    by_length: dict[str, list[float]] = {}
    for m in unit.metrics:
        if m.name.isdigit() and m.task.startswith("ruler_es_") and m.value is not None:
            by_length.setdefault(m.name, []).append(m.value)
    return "  ".join(f"{k}: {sum(v) / len(v):.3f}" for k, v in sorted(by_length.items(), key=lambda kv: int(kv[0])))
