"""The GPU benchmark: evalsuite's lm-eval adapter against stock lm-eval's ``hf`` backend, side by side.

One process builds paper-shaped random models on the device, runs each
workload through both backends on the same model object and items, and
records wall time, requests/s, useful tokens/s, MFU (:mod:`.flops`), peak
memory and the agreement of the numbers (:mod:`.agreement`). ``evalsuite
bench --preset tiny`` runs the same path on CPU in seconds (CI).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported lazily, as the package root does: the roofline (.flops) and timing helpers are used by training and
# distributed code that must not pay for lm-eval, which .run and .config import.
_EXPORTS = {"BenchConfig": "evalsuite.lab.bench.config", "preset": "evalsuite.lab.bench.config",
            "run_bench": "evalsuite.lab.bench.harness"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'evalsuite.lab.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
