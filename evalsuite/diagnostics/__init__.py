"""The paper's diagnostics (its table 4 and figure 2), per layer: first-token attention share,
max |hidden state|, and the sigmoid gate scores of gated models.

``diagnose`` runs a model over text windows without changing its attention
implementation; ``run_diagnostics_unit`` is the suite runner's entry;
:mod:`evalsuite.diagnostics.plots` draws the results and
:mod:`evalsuite.diagnostics.cli` is ``evalsuite diagnose``.

Names are imported lazily: the probe pulls in torch and transformers (about
9 s), and the report stage imports :mod:`evalsuite.diagnostics.plots` (matplotlib
only) to draw a published run's curves without ever touching a model.
"""

from __future__ import annotations

from evalsuite import lazy

_EXPORTS = {
    "DiagnosticsResult": "evalsuite.diagnostics.result",
    "GateStats": "evalsuite.diagnostics.result",
    "diagnose": "evalsuite.diagnostics.probe",
    "diagnose_windows": "evalsuite.diagnostics.probe",
    "first_token_probs": "evalsuite.diagnostics.attention",
    "iter_windows": "evalsuite.diagnostics.windows",
    "project_qk": "evalsuite.diagnostics.attention",
    "run_diagnostics_unit": "evalsuite.diagnostics.unit",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS)
