"""The package's public verbs are always the functions, whatever subpackages were imported first."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import evalsuite

REPO = Path(__file__).resolve().parents[1]


def test_no_public_name_is_also_a_subpackage_or_module() -> None:
    """``evalsuite.<name>`` is set to the submodule once it is imported, hiding a lazily exported name."""
    submodules = {m.name for m in pkgutil.iter_modules(evalsuite.__path__)}
    assert set(evalsuite.__all__) & submodules == set()


def test_verbs_after_their_subpackages_are_imported() -> None:
    """In a fresh interpreter: import the report, compare, run and diagnostics packages first, then use the
    verbs. Before report/ they were ``evalsuite.publish`` / ``evalsuite.check``, and the second access
    returned the subpackage instead of the function."""
    code = (
        "import types, evalsuite.report.publish, evalsuite.report.check, evalsuite.compare, evalsuite.run, "
        "evalsuite.diagnostics, evalsuite.records\n"
        "import evalsuite\n"
        "assert evalsuite.publish is evalsuite.report.publish.publish, evalsuite.publish\n"
        "assert evalsuite.check is evalsuite.report.check.check, evalsuite.check\n"
        "assert evalsuite.publish is evalsuite.publish and evalsuite.check is evalsuite.check\n"
        "bad = [n for n in evalsuite.__all__ if isinstance(getattr(evalsuite, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_publishing_imports_no_model_code() -> None:
    """The report stage draws the diagnostics' curves with a plain import of their plots module; the
    diagnostics package must not pull torch in for that (it did, so publish loaded the file by path)."""
    code = ("import sys, evalsuite.report.publish._plots, evalsuite.report.check\n"
            "assert 'evalsuite.diagnostics.plots' in sys.modules\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
