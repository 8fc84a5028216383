"""Run a suite: each (model, task) unit through lm-eval with the evalsuite adapter, resumably."""

from evalsuite.run.runner import RunOptions, run_suite

__all__ = ["RunOptions", "run_suite"]
