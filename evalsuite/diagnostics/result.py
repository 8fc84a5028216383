"""The diagnostics' result types: what one pass over a text set measured, per layer.

Frozen and JSON round-trippable, so a run record can store them (``to_json``)
and the publisher can plot them later without loading a model (``from_json``).
The exact definitions of the numbers are in :mod:`evalsuite.diagnostics.probe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalsuite.errors import RecordError

SCHEMA_VERSION = 2  # 2: layer kinds (hybrid models), the window's source, shares vs uniform and per head
READABLE_VERSIONS = (1, 2)  # version 1 records (softmax attention in every layer) read with the new fields empty
GATE_BINS = 20  # fixed equal-width bins on [0, 1] for the gate histogram


@dataclass(frozen=True)
class GateStats:
    """Sigmoid gate values over every gate element of every gated layer (headwise: one per head and token).

    Per-layer entries are None for layers without a gate (the linear-attention layers of a hybrid model).
    """

    kind: str  # "headwise" or "elementwise"
    mean_per_layer: tuple[float | None, ...]
    frac_below_0_1_per_layer: tuple[float | None, ...]
    mean: float  # over all gate elements of all gated layers (each has the same count)
    frac_below_0_1: float
    histogram_edges: tuple[float, ...]  # GATE_BINS + 1 edges; the last bin includes 1.0
    histogram_counts: tuple[int, ...]
    n_values: int
    layout: str = "paper"  # q_proj rows: "paper" (per KV group) or "per_head" (Qwen3-Next / Qwen3.5 built-in)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean_per_layer": list(self.mean_per_layer),
                "frac_below_0_1_per_layer": list(self.frac_below_0_1_per_layer), "mean": self.mean,
                "frac_below_0_1": self.frac_below_0_1, "histogram_edges": list(self.histogram_edges),
                "histogram_counts": list(self.histogram_counts), "n_values": self.n_values, "layout": self.layout}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GateStats:
        return cls(kind=d["kind"], mean_per_layer=tuple(d["mean_per_layer"]),
                   frac_below_0_1_per_layer=tuple(d["frac_below_0_1_per_layer"]), mean=d["mean"],
                   frac_below_0_1=d["frac_below_0_1"], histogram_edges=tuple(d["histogram_edges"]),
                   histogram_counts=tuple(int(c) for c in d["histogram_counts"]), n_values=int(d["n_values"]),
                   layout=d.get("layout", "paper"))


@dataclass(frozen=True)
class DiagnosticsResult:
    """Per-layer first-token attention share and max |hidden|, their summaries, and gate statistics.

    Per-layer sequences are indexed by decoder layer (0 = the layer nearest the
    embeddings). ``gates`` is None for a model without an output gate. A layer
    without softmax attention (``layer_kinds[i] == "linear_attention"``) has None
    for its first-token share and head shares: it has no softmax to measure.
    """

    first_token_share: tuple[float | None, ...]
    max_abs_hidden: tuple[float, ...]
    first_token_share_mean: float | None  # mean over softmax-attention layers (None: the model has none)
    max_abs_hidden_mean: float  # mean over layers of the per-layer max
    max_abs_hidden_max: float  # max over layers
    gates: GateStats | None
    n_tokens: int  # tokens run through the model, prefix (BOS) tokens included
    n_windows: int
    window: int  # the window length asked for; the last window of a text may be shorter
    layer_kinds: tuple[str, ...] = ()  # "attention" or "linear_attention" per layer; () in version-1 records
    window_source: str = ""  # why that window: "asked", "training context (...)" or "default (...)"
    head_first_token_share: tuple[tuple[float, ...] | None, ...] = ()  # per layer, per head
    frac_heads_above_0_3_per_layer: tuple[float | None, ...] = ()
    uniform_share: float | None = None  # the share uniform attention gives over the same queries
    first_token_share_vs_uniform: float | None = None  # first_token_share_mean / uniform_share
    frac_heads_above_0_3: float | None = None  # over every (softmax layer, head)

    @property
    def n_layers(self) -> int:
        return len(self.first_token_share)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "n_layers": self.n_layers,
                "first_token_share": list(self.first_token_share), "max_abs_hidden": list(self.max_abs_hidden),
                "first_token_share_mean": self.first_token_share_mean,
                "max_abs_hidden_mean": self.max_abs_hidden_mean, "max_abs_hidden_max": self.max_abs_hidden_max,
                "gates": self.gates.to_json() if self.gates is not None else None,
                "n_tokens": self.n_tokens, "n_windows": self.n_windows, "window": self.window,
                "layer_kinds": list(self.layer_kinds), "window_source": self.window_source,
                "head_first_token_share": [list(h) if h is not None else None for h in self.head_first_token_share],
                "frac_heads_above_0_3_per_layer": list(self.frac_heads_above_0_3_per_layer),
                "uniform_share": self.uniform_share, "first_token_share_vs_uniform": self.first_token_share_vs_uniform,
                "frac_heads_above_0_3": self.frac_heads_above_0_3}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DiagnosticsResult:
        found = d.get("schema_version")
        if found not in READABLE_VERSIONS:
            raise RecordError(f"diagnostics schema_version {found!r}; this code reads {READABLE_VERSIONS}")
        heads = d.get("head_first_token_share", [])
        return cls(first_token_share=tuple(d["first_token_share"]), max_abs_hidden=tuple(d["max_abs_hidden"]),
                   first_token_share_mean=d["first_token_share_mean"], max_abs_hidden_mean=d["max_abs_hidden_mean"],
                   max_abs_hidden_max=d["max_abs_hidden_max"],
                   gates=GateStats.from_json(d["gates"]) if d.get("gates") is not None else None,
                   n_tokens=int(d["n_tokens"]), n_windows=int(d["n_windows"]), window=int(d["window"]),
                   layer_kinds=tuple(d.get("layer_kinds", ())), window_source=d.get("window_source", ""),
                   head_first_token_share=tuple(tuple(h) if h is not None else None for h in heads),
                   frac_heads_above_0_3_per_layer=tuple(d.get("frac_heads_above_0_3_per_layer", ())),
                   uniform_share=d.get("uniform_share"),
                   first_token_share_vs_uniform=d.get("first_token_share_vs_uniform"),
                   frac_heads_above_0_3=d.get("frac_heads_above_0_3"))

    def kinds(self) -> tuple[str, ...]:
        """Per-layer kinds; a version-1 record (no kinds stored) had softmax attention in every layer."""
        return self.layer_kinds or ("attention",) * self.n_layers
