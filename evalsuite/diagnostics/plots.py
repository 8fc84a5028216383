"""PNG plots of diagnostics results for several models (the paper's figure 2 and its gate histogram).

Each function takes ``{model name: DiagnosticsResult JSON}`` (as stored in a
unit record's ``extra``) and a path, and draws with matplotlib's object API
(no pyplot, so no global backend or figure state is touched).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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


# One colour per attention variant on every plot of a page (matplotlib's tab10 blue, orange, green).
VARIANT_COLORS = {"baseline": "#1f77b4", "headwise": "#ff7f0e", "elementwise": "#2ca02c"}


def variant_of(name: str, result: Mapping[str, Any] | None = None) -> str:
    """``baseline``/``headwise``/``elementwise``: the gate kind the diagnostics measured, else the name's word."""
    kind = ((result or {}).get("gates") or {}).get("kind")
    if kind in VARIANT_COLORS:
        return str(kind)
    lowered = name.lower()
    return next((v for v in ("elementwise", "headwise") if v in lowered), "baseline")


def _panels(names: list[str], groups: Sequence[Sequence[str]] | None) -> tuple[Figure, Any, list[list[str]]]:
    """A figure with one stacked panel per non-empty group of ``names`` (all in one panel without groups)."""
    panels = [[n for n in g if n in names] for g in (groups or [names])]
    panels = [g for g in panels if g] or [names]
    fig = Figure(figsize=(7, 2.6 * len(panels) + 0.6))
    return fig, fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0], panels


def _per_layer(results: ResultsJson, key: str, mean_key: str, *, ylabel: str, title: str, log: bool,
               path: str | os.PathLike[str], groups: Sequence[Sequence[str]] | None = None) -> Path:
    """One panel per group (a baseline and its gated models), colour by variant, legend right of each panel."""
    if not results:
        raise ValueError("no results to plot")
    fig, axes, panels = _panels(list(results), groups)
    for ax, names in zip(axes, panels, strict=True):
        _mark_linear_layers(ax, {name: results[name] for name in names})
        for name in names:
            res = results[name]
            values = [float("nan") if v is None else v for v in res[key]]  # None: a layer with no softmax attention
            mean = res[mean_key]
            ax.plot(range(len(values)), values, marker="o", markersize=3, color=VARIANT_COLORS[variant_of(name, res)],
                    label=f"{name} (mean {mean:.4g})" if mean is not None else name)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[-1].set_xlabel("layer")
    axes[0].set_title(title)
    return _save(fig, path)


def plot_first_token_share(results: ResultsJson, path: str | os.PathLike[str],
                           groups: Sequence[Sequence[str]] | None = None) -> Path:
    """Attention probability on position 0 per layer (mean over heads and queries 1..T-1), one line per model,
    one panel per group of models."""
    return _per_layer(results, "first_token_share", "first_token_share_mean", ylabel="attention share on token 0",
                      title="First-token attention per layer", log=False, path=path, groups=groups)


def plot_max_activation(results: ResultsJson, path: str | os.PathLike[str],
                        groups: Sequence[Sequence[str]] | None = None) -> Path:
    """Max |hidden state| output by each layer, log scale, one line per model, one panel per group of models."""
    return _per_layer(results, "max_abs_hidden", "max_abs_hidden_mean", ylabel="max |hidden state|",
                      title="Max activation per layer", log=True, path=path, groups=groups)


def plot_gate_histogram(results: ResultsJson, path: str | os.PathLike[str],
                        groups: Sequence[Sequence[str]] | None = None) -> Path | None:
    """Distribution of sigmoid gate values (fraction per bin) for the gated models, one panel per group; None
    (no file) if none is gated."""
    gated = {name: res["gates"] for name, res in results.items() if res.get("gates")}
    if not gated:
        return None
    fig, axes, panels = _panels(list(gated), groups)
    for ax, names in zip(axes, panels, strict=True):
        for name in names:
            gates = gated[name]
            counts, total = gates["histogram_counts"], max(1, sum(gates["histogram_counts"]))
            ax.stairs([c / total for c in counts], gates["histogram_edges"], linewidth=1.5,
                      color=VARIANT_COLORS.get(gates["kind"]),
                      label=f"{name} ({gates['kind']}, mean {gates['mean']:.3f})")
        ax.axvline(0.1, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("fraction of gate values")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[0].set_xlim(0, 1)
    axes[-1].set_xlabel("gate score sigmoid(gate)")
    axes[0].set_title("Gate score distribution")
    return _save(fig, path)
