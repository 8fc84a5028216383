"""PNG plots beside LEADERBOARD.md: RULER score vs length, and the diagnostics' per-layer curves.

The diagnostics plots are :mod:`evalsuite.diagnostics.plots`' own. Every PNG is
drawn to a temporary name and renamed into place, so a reader never sees a
half-written file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from matplotlib.figure import Figure

from evalsuite.compare._format import length_label
from evalsuite.publish._collect import Leaderboard, ruler_lengths

RULER_PNG = "ruler_by_length.png"
FIRST_TOKEN_PNG = "first_token_share.png"
MAX_ACTIVATION_PNG = "max_activation.png"
GATE_PNG = "gate_scores.png"


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


def write_plots(lb: Leaderboard, out_dir: Path) -> dict[str, str]:
    """Write the PNGs that have data (removing ours that no longer have any); returns ``{kind: file
    name}`` for the page to link."""
    written: dict[str, str] = {}
    for name in (RULER_PNG, FIRST_TOKEN_PNG, MAX_ACTIVATION_PNG, GATE_PNG):  # no stale plot from an older page
        (out_dir / name).unlink(missing_ok=True)
    if _atomic_png(out_dir / RULER_PNG, lambda p: _ruler_plot(lb, p)):
        written["ruler"] = RULER_PNG
    diag = {_label(m.name): m.diagnostics_extra for m in lb.models if m.diagnostics_extra}
    if diag:
        plots = diagnostics_plots_module()
        for kind, name, draw in (("first_token", FIRST_TOKEN_PNG, plots.plot_first_token_share),
                                 ("max_activation", MAX_ACTIVATION_PNG, plots.plot_max_activation),
                                 ("gate", GATE_PNG, plots.plot_gate_histogram)):
            if _atomic_png(out_dir / name, lambda p, draw=draw: draw(diag, p)):
                written[kind] = name
    return written
