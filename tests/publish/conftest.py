"""Synthetic run folders (tests/conftest_records.py) as fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:  # conftest_records lives in tests/, beside this package
    sys.path.insert(0, _TESTS)

from conftest_records import BASE, GATED, write_run  # noqa: E402


@pytest.fixture(scope="session")
def two_model_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run of a baseline and a gated model on every task (read-only: copy before editing)."""
    return write_run(tmp_path_factory.mktemp("runs"), [BASE, GATED])
