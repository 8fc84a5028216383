"""PNG plots of diagnostics results for several models (the paper's figure 2 and its gate histogram).

Each function takes ``{model name: DiagnosticsResult JSON}`` (as stored in a
unit record's ``extra``) and a path, and draws with matplotlib's object API
(no pyplot, so no global backend or figure state is touched).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

ResultsJson = Mapping[str, Mapping[str, Any]]


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=120, bbox_inches="tight")
    return out


def _mark_linear_layers(ax: Any, results: ResultsJson) -> None:
    """Grey bands on the layers without softmax attention (hybrid models; the first such model's kinds)."""
    for res in results.values():
        kinds = res.get("layer_kinds") or []
        linear = [i for i, kind in enumerate(kinds) if kind != "attention"]
        for n, i in enumerate(linear):
            ax.axvspan(i - 0.5, i + 0.5, color="grey", alpha=0.15, linewidth=0,
                       label="linear attention (no softmax)" if n == 0 else None)
        if linear:
            return


def _per_layer(results: ResultsJson, key: str, mean_key: str, *, ylabel: str, title: str, log: bool,
               path: str | os.PathLike[str]) -> Path:
    if not results:
        raise ValueError("no results to plot")
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    _mark_linear_layers(ax, results)
    for name, res in results.items():
        values = [float("nan") if v is None else v for v in res[key]]  # None: a layer with no softmax attention
        mean = res[mean_key]
        ax.plot(range(len(values)), values, marker="o", markersize=3,
                label=f"{name} (mean {mean:.4g})" if mean is not None else name)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_first_token_share(results: ResultsJson, path: str | os.PathLike[str]) -> Path:
    """Attention probability on position 0 per layer (mean over heads and queries 1..T-1), one line per model."""
    return _per_layer(results, "first_token_share", "first_token_share_mean", ylabel="attention share on token 0",
                      title="First-token attention per layer", log=False, path=path)


def plot_max_activation(results: ResultsJson, path: str | os.PathLike[str]) -> Path:
    """Max |hidden state| output by each layer, log scale, one line per model."""
    return _per_layer(results, "max_abs_hidden", "max_abs_hidden_mean", ylabel="max |hidden state|",
                      title="Max activation per layer", log=True, path=path)


def plot_gate_histogram(results: ResultsJson, path: str | os.PathLike[str]) -> Path | None:
    """Distribution of sigmoid gate values (fraction per bin) for the gated models; None (no file) if none is gated."""
    gated = {name: res["gates"] for name, res in results.items() if res.get("gates")}
    if not gated:
        return None
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for name, gates in gated.items():
        counts, total = gates["histogram_counts"], max(1, sum(gates["histogram_counts"]))
        ax.stairs([c / total for c in counts], gates["histogram_edges"],
                  label=f"{name} ({gates['kind']}, mean {gates['mean']:.3f})", linewidth=1.5)
    ax.axvline(0.1, color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("gate score sigmoid(gate)")
    ax.set_ylabel("fraction of gate values")
    ax.set_title("Gate score distribution")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)
