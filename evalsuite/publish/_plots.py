"""PNG plots beside LEADERBOARD.md: RULER score vs length, and the diagnostics' per-layer curves.

The diagnostics plots are :mod:`evalsuite.diagnostics.plots`' own. Every PNG is
drawn to a temporary name and renamed into place, so a reader never sees a
half-written file.
"""

from __future__ import annotations

import importlib
import math
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalsuite.compare._choices import is_margin
from evalsuite.compare._format import length_label
from evalsuite.compare._table import ComparisonRow
from evalsuite.publish._collect import Leaderboard, ruler_lengths

RULER_PNG = "ruler_by_length.png"
FIRST_TOKEN_PNG = "first_token_share.png"
MAX_ACTIVATION_PNG = "max_activation.png"
GATE_PNG = "gate_scores.png"
FOREST_PNG = "deltas_forest.png"


def _atomic_png(path: Path, draw: Callable[[Path], Path | None]) -> bool:
    """Run ``draw(tmp)``; True (and the file in place) when it wrote one."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        if draw(tmp) is None or not tmp.exists():
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def diagnostics_plots_module() -> ModuleType:
    """:mod:`evalsuite.diagnostics.plots`, without importing its package when that is not loaded yet.

    The package's ``__init__`` imports torch and transformers for the probe
    (about 9 s); its plots need only matplotlib, and publishing never touches a
    model. So the file is loaded on its own unless the package is already in.
    """
    name = "evalsuite.diagnostics.plots"
    if name in sys.modules or "evalsuite.diagnostics" in sys.modules:
        return importlib.import_module(name)
    private = "_evalsuite_publish_diagnostics_plots"
    if private in sys.modules:
        return sys.modules[private]
    path = Path(__file__).resolve().parents[1] / "diagnostics" / "plots.py"
    spec = importlib.util.spec_from_file_location(private, path)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    spec.loader.exec_module(module)
    return module


def _label(name: str) -> str:
    """A model name as literal legend text (a "$" would start matplotlib's mathtext)."""
    return name.replace("$", r"\$")


def _ruler_plot(lb: Leaderboard, path: Path) -> Path | None:
    lengths = ruler_lengths(lb.models)
    models = [m for m in lb.models if any(f"ruler_{n}" in m.scores for n in lengths)]
    if not models:
        return None
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for m in models:
        xs = [n for n in lengths if f"ruler_{n}" in m.scores]
        est = [m.scores[f"ruler_{n}"] for n in xs]
        ys = [100 * e.value for e in est]
        err = [[100 * (e.value - e.low) for e in est], [100 * (e.high - e.value) for e in est]]
        ax.errorbar(xs, ys, yerr=err, marker="o", markersize=4, capsize=3, label=_label(m.name))
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [length_label(n) for n in lengths])
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("RULER score (mean over tasks, %)")
    ax.set_ylim(0, 100)
    ax.set_title("RULER score vs length (95% bootstrap CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def comparison_groups(lb: Leaderboard) -> list[list[str]]:
    """A baseline and the models compared with it, one list per baseline (models in page order); a model
    in no comparison is a group of its own."""
    groups: dict[str, list[str]] = {}
    for cand, base in lb.comparison.pairs:
        groups.setdefault(base, [base]).append(cand)
    placed = {n for g in groups.values() for n in g}
    order = [m.name for m in lb.models]
    out = [sorted(g, key=order.index) for g in groups.values()]
    return out + [[n] for n in order if n not in placed]


def _forest_plot(lb: Leaderboard, path: Path) -> Path | None:
    """Every delta with its CI, one panel per task family (each in its own units), one colour per variant,
    the paper's delta marked; the legend outside the data."""
    plots = diagnostics_plots_module()
    rows = [r for r in lb.comparison.rows if math.isfinite(r.ci_low) and math.isfinite(r.ci_high)]
    def panel(r: ComparisonRow) -> str:  # a margin row is in nats: a panel of its own beside its family's points
        return f"{r.family} margin" if is_margin(r.metric) else r.family
    families = list(dict.fromkeys(panel(r) for r in rows))
    if not families:
        return None
    heights = [sum(panel(r) == f for r in rows) for f in families]
    fig = Figure(figsize=(8, 0.32 * sum(heights) + 1.0 * len(families) + 0.5))
    axes = fig.subplots(len(families), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    marked = False
    for ax, family in zip(axes, families, strict=True):
        mine = [r for r in rows if panel(r) == family]
        nats = family == "wikitext" or family.endswith(" margin")
        scale = 1.0 if nats else 100.0
        for y, r in enumerate(mine):
            colour = plots.VARIANT_COLORS[plots.variant_of(r.candidate)]
            ax.errorbar(scale * r.delta, y, xerr=[[scale * (r.delta - r.ci_low)], [scale * (r.ci_high - r.delta)]],
                        fmt="o", markersize=4, capsize=3, color=colour)
            if r.paper_delta is not None:
                ax.plot(scale * r.paper_delta, y, marker="x", color="crimson", markersize=7, linestyle="none")
                marked = True
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(range(len(mine)), [_label(f"{r.candidate}: {r.label}") for r in mine], fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel("Δ log-PPL (nats)" if family == "wikitext" else "Δ margin (nats)" if nats else "Δ (points)")
        ax.grid(True, axis="x", alpha=0.3)
    handles = [Line2D([], [], color=c, marker="o", linestyle="none", label=v)
               for v, c in plots.VARIANT_COLORS.items() if v != "baseline"]
    if marked:
        handles.append(Line2D([], [], color="crimson", marker="x", linestyle="none", label="paper's Δ"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    axes[0].set_title("Model − baseline, 95% paired-bootstrap CI")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def write_plots(lb: Leaderboard, out_dir: Path) -> dict[str, str]:
    """Write the PNGs that have data (removing ours that no longer have any); returns ``{kind: file
    name}`` for the page to link."""
    written: dict[str, str] = {}
    for name in (RULER_PNG, FIRST_TOKEN_PNG, MAX_ACTIVATION_PNG, GATE_PNG, FOREST_PNG):  # no stale plot
        (out_dir / name).unlink(missing_ok=True)
    if _atomic_png(out_dir / RULER_PNG, lambda p: _ruler_plot(lb, p)):
        written["ruler"] = RULER_PNG
    if _atomic_png(out_dir / FOREST_PNG, lambda p: _forest_plot(lb, p)):
        written["forest"] = FOREST_PNG
    diag = {_label(m.name): m.diagnostics_extra for m in lb.models if m.diagnostics_extra}
    if diag:
        plots = diagnostics_plots_module()
        for kind, name, draw in (("first_token", FIRST_TOKEN_PNG, plots.plot_first_token_share),
                                 ("max_activation", MAX_ACTIVATION_PNG, plots.plot_max_activation),
                                 ("gate", GATE_PNG, plots.plot_gate_histogram)):
            groups = [[_label(n) for n in g] for g in comparison_groups(lb)]
            if _atomic_png(out_dir / name, lambda p, draw=draw: draw(diag, p, groups)):
                written[kind] = name
    return written
