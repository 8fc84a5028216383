"""evalsuite: reproduce the benchmarks of *Gated Attention for LLMs* with paired statistics.

The public surface is the verbs of the pipeline (load a model, run a suite,
compare, publish, check) and the spec/record/result types. Names are imported
lazily so ``evalsuite --help`` does not pay for torch and transformers.

No exported name is also a subpackage (``tests/test_public_api.py``): importing
``evalsuite.report.publish`` sets the attribute ``evalsuite.report``, never
``evalsuite.publish``, so ``evalsuite.publish(...)`` and ``evalsuite.check(...)``
are the functions whatever was imported before.
"""

from __future__ import annotations

from evalsuite import lazy

__version__ = "0.1.0"

_EXPORTS = {
    # spec → models → run → records → compare → report (publish / check)
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
    "publish": "evalsuite.report.publish",
    "check": "evalsuite.report.check",
    "EvalsuiteError": "evalsuite.errors",
    "tasks_dir": "evalsuite.packaged",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS)
