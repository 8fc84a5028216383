"""The plots are PNG files with something in them; the gate histogram only exists for gated models."""

from __future__ import annotations

from dataclasses import replace

from evalsuite.diagnostics.plots import plot_first_token_share, plot_gate_histogram, plot_max_activation
from evalsuite.diagnostics.result import DiagnosticsResult, GateStats

_BASE = DiagnosticsResult(first_token_share=(0.4, 0.5, 0.45), max_abs_hidden=(10.0, 900.0, 1100.0),
                          first_token_share_mean=0.45, max_abs_hidden_mean=670.0, max_abs_hidden_max=1100.0,
                          gates=None, n_tokens=100, n_windows=1, window=100)
_GATES = GateStats(kind="elementwise", mean_per_layer=(0.1, 0.12, 0.13), frac_below_0_1_per_layer=(0.6, 0.5, 0.5),
                   mean=0.116, frac_below_0_1=0.53, histogram_edges=tuple(k / 20 for k in range(21)),
                   histogram_counts=tuple([50, 30, 10] + [1] * 17), n_values=107)


def _png(path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000


def test_plots_are_written(tmp_path):
    gated = replace(_BASE, first_token_share=(0.05, 0.04, 0.05), max_abs_hidden=(10.0, 90.0, 94.0), gates=_GATES)
    results = {"baseline": _BASE.to_json(), "gated": gated.to_json()}
    assert _png(plot_first_token_share(results, tmp_path / "share.png"))
    assert _png(plot_max_activation(results, tmp_path / "deep" / "max.png"))
    assert _png(plot_gate_histogram(results, tmp_path / "gates.png"))


def test_no_gate_histogram_without_a_gated_model(tmp_path):
    assert plot_gate_histogram({"baseline": _BASE.to_json()}, tmp_path / "gates.png") is None
    assert not (tmp_path / "gates.png").exists()
