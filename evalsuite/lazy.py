"""Lazy re-exports for a package's ``__init__``: each name is imported on first use.

``evalsuite --help`` must not pay for torch and transformers, and the report
stage draws the diagnostics' plots without loading their torch-bound probe;
so ``evalsuite`` and ``evalsuite.diagnostics`` name their exports here instead
of importing them. Usage, in a package's ``__init__``::

    __getattr__, __dir__ = lazy.exports(__name__, {"name": "package.module", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` (PEP 562) that resolve ``names`` ({name: module})."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
