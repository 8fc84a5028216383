"""evalsuite: reproduce the benchmarks of *Gated Attention for LLMs* with paired statistics.

The public surface is the verbs of the pipeline (load a model, run a suite,
compare, publish, check) and the spec/record/result types. Names are imported
lazily so ``evalsuite --help`` does not pay for torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # spec → models → run → records → compare → publish / check
    "load_suite": "evalsuite.spec",
    "SuiteSpec": "evalsuite.spec",
    "ModelSpec": "evalsuite.spec",
    "TaskSpec": "evalsuite.spec",
    "SourceSpec": "evalsuite.spec",
    "EngineConfig": "evalsuite.spec",
    "load_model": "evalsuite.models.loader",
    "YarnSpec": "evalsuite.spec",
    "EvalsuiteLM": "evalsuite.engine.lm",
    "run_suite": "evalsuite.run",
    "RunOptions": "evalsuite.run",
    "load_run": "evalsuite.records",
    "RunRecord": "evalsuite.records",
    "UnitRecord": "evalsuite.records",
    "SampleRecord": "evalsuite.records",
    "MetricRecord": "evalsuite.records",
    "diagnose": "evalsuite.diagnostics",
    "compare_runs": "evalsuite.compare",
    "publish": "evalsuite.publish",
    "check": "evalsuite.check",
    "EvalsuiteError": "evalsuite.errors",
    "tasks_dir": "evalsuite.packaged",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'evalsuite' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
