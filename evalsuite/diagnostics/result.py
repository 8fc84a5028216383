"""The diagnostics' result types: what one pass over a text set measured, per layer.

Frozen and JSON round-trippable, so a run record can store them (``to_json``)
and the publisher can plot them later without loading a model (``from_json``).
The exact definitions of the numbers are in :mod:`evalsuite.diagnostics.probe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalsuite.errors import RecordError

SCHEMA_VERSION = 1
GATE_BINS = 20  # fixed equal-width bins on [0, 1] for the gate histogram


@dataclass(frozen=True)
class GateStats:
    """Sigmoid gate values over every gate element of every layer (headwise: one per head and token)."""

    kind: str  # "headwise" or "elementwise"
    mean_per_layer: tuple[float, ...]
    frac_below_0_1_per_layer: tuple[float, ...]
    mean: float  # over all gate elements of all layers (each layer has the same count)
    frac_below_0_1: float
    histogram_edges: tuple[float, ...]  # GATE_BINS + 1 edges; the last bin includes 1.0
    histogram_counts: tuple[int, ...]
    n_values: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean_per_layer": list(self.mean_per_layer),
                "frac_below_0_1_per_layer": list(self.frac_below_0_1_per_layer), "mean": self.mean,
                "frac_below_0_1": self.frac_below_0_1, "histogram_edges": list(self.histogram_edges),
                "histogram_counts": list(self.histogram_counts), "n_values": self.n_values}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GateStats:
        return cls(kind=d["kind"], mean_per_layer=tuple(d["mean_per_layer"]),
                   frac_below_0_1_per_layer=tuple(d["frac_below_0_1_per_layer"]), mean=d["mean"],
                   frac_below_0_1=d["frac_below_0_1"], histogram_edges=tuple(d["histogram_edges"]),
                   histogram_counts=tuple(int(c) for c in d["histogram_counts"]), n_values=int(d["n_values"]))


@dataclass(frozen=True)
class DiagnosticsResult:
    """Per-layer first-token attention share and max |hidden|, their summaries, and gate statistics.

    Per-layer sequences are indexed by decoder layer (0 = the layer nearest the
    embeddings). ``gates`` is None for a model without an output gate.
    """

    first_token_share: tuple[float, ...]
    max_abs_hidden: tuple[float, ...]
    first_token_share_mean: float  # mean over layers
    max_abs_hidden_mean: float  # mean over layers of the per-layer max
    max_abs_hidden_max: float  # max over layers
    gates: GateStats | None
    n_tokens: int  # tokens run through the model, prefix (BOS) tokens included
    n_windows: int
    window: int  # the window length asked for; the last window of a text may be shorter

    @property
    def n_layers(self) -> int:
        return len(self.first_token_share)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "n_layers": self.n_layers,
                "first_token_share": list(self.first_token_share), "max_abs_hidden": list(self.max_abs_hidden),
                "first_token_share_mean": self.first_token_share_mean,
                "max_abs_hidden_mean": self.max_abs_hidden_mean, "max_abs_hidden_max": self.max_abs_hidden_max,
                "gates": self.gates.to_json() if self.gates is not None else None,
                "n_tokens": self.n_tokens, "n_windows": self.n_windows, "window": self.window}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DiagnosticsResult:
        found = d.get("schema_version")
        if found != SCHEMA_VERSION:
            raise RecordError(f"diagnostics schema_version {found!r}; this code reads {SCHEMA_VERSION}")
        return cls(first_token_share=tuple(d["first_token_share"]), max_abs_hidden=tuple(d["max_abs_hidden"]),
                   first_token_share_mean=d["first_token_share_mean"], max_abs_hidden_mean=d["max_abs_hidden_mean"],
                   max_abs_hidden_max=d["max_abs_hidden_max"],
                   gates=GateStats.from_json(d["gates"]) if d.get("gates") is not None else None,
                   n_tokens=int(d["n_tokens"]), n_windows=int(d["n_windows"]), window=int(d["window"]))
