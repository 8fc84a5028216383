"""The paper's diagnostics (its table 4 and figure 2), per layer: first-token attention share,
max |hidden state|, and the sigmoid gate scores of gated models.

``diagnose`` runs a model over text windows without changing its attention
implementation; ``run_diagnostics_unit`` is the suite runner's entry;
:mod:`evalsuite.diagnostics.plots` draws the results (imported on demand:
matplotlib is slow to import) and :mod:`evalsuite.diagnostics.cli` is
``evalsuite diagnose``.
"""

from __future__ import annotations

from evalsuite.diagnostics.attention import first_token_probs, project_qk
from evalsuite.diagnostics.probe import diagnose, diagnose_windows
from evalsuite.diagnostics.result import DiagnosticsResult, GateStats
from evalsuite.diagnostics.unit import run_diagnostics_unit
from evalsuite.diagnostics.windows import iter_windows

__all__ = [
    "DiagnosticsResult",
    "GateStats",
    "diagnose",
    "diagnose_windows",
    "first_token_probs",
    "iter_windows",
    "project_qk",
    "run_diagnostics_unit",
]
