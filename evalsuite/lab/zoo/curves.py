"""Loss spikes and loss-curve plots.

A **loss spike** is a step whose training loss exceeds the median of the
previous ``window`` (50) steps' losses by more than ``threshold_nats``
(0.2 nats by default, a 22 % jump in perplexity). Steps before the window is
full are never spikes. The count is reported for the default threshold and,
to show its sensitivity, for 0.1 and 0.5 nats too. The definition was fixed
before any run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SPIKE_WINDOW = 50
SPIKE_THRESHOLD_NATS = 0.2
SENSITIVITY_NATS = (0.1, 0.2, 0.5)


def spike_steps(losses: Sequence[float], *, window: int = SPIKE_WINDOW,
                threshold_nats: float = SPIKE_THRESHOLD_NATS) -> list[int]:
    """Steps ``t >= window`` with ``loss[t] > median(loss[t-window:t]) + threshold_nats`` (non-finite counts)."""
    x = np.asarray(losses, dtype=np.float64)
    if len(x) <= window:
        return []
    views = np.lib.stride_tricks.sliding_window_view(x[:-1], window)  # (n - window, window): rows end at t-1
    medians = np.median(views, axis=1)
    current = x[window:]
    over = ~np.isfinite(current) | (current > medians + threshold_nats)
    return [int(i) + window for i in np.flatnonzero(over)]


def spike_summary(losses: Sequence[float]) -> dict[str, object]:
    """Spike counts at each sensitivity threshold, and the steps at the default one."""
    return {"definition": f"loss[t] > median(loss[t-{SPIKE_WINDOW}..t-1]) + X nats, t >= {SPIKE_WINDOW}",
            "threshold_nats": SPIKE_THRESHOLD_NATS, "steps": spike_steps(losses),
            "count_by_threshold": {str(x): len(spike_steps(losses, threshold_nats=x)) for x in SENSITIVITY_NATS}}


def plot_losses(curves: Mapping[str, Sequence[float]], path: Path, *, title: str,
                grad_norms: Mapping[str, Sequence[float]] | None = None,
                tokens_per_step: int | None = None) -> Path:
    """One PNG: training loss per step for each variant (spikes marked), grad norms below if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if grad_norms else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 3.4 * rows), sharex=True, squeeze=False)
    ax = axes[0][0]
    for name, losses in curves.items():
        y = np.asarray(losses, dtype=float)
        steps = np.arange(len(y))
        spikes = spike_steps(y)
        line, = ax.plot(steps, y, lw=0.8, label=f"{name} ({len(spikes)} spikes)")
        if spikes:
            ax.scatter(spikes, y[spikes], s=14, color=line.get_color(), marker="x", zorder=3)
    finite = np.concatenate([np.asarray(v, float)[np.isfinite(v)] for v in curves.values()])
    if finite.size:
        tail = np.concatenate([np.asarray(v, float)[len(v) // 10:] for v in curves.values()])
        ax.set_ylim(np.nanmin(finite) - 0.1, float(np.nanmax(tail[np.isfinite(tail)])) + 0.5)
    ax.set_ylabel("train loss (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if grad_norms:
        gx = axes[1][0]
        for name, norms in grad_norms.items():
            gx.plot(np.arange(len(norms)), norms, lw=0.6, label=name)
        gx.set_yscale("log")
        gx.set_ylabel("grad norm (before clip)")
        gx.grid(alpha=0.3)
    axes[-1][0].set_xlabel("step" + (f" ({tokens_per_step:,} tokens each)" if tokens_per_step else ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
