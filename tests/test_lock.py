"""The lock file pins every package `make setup` installs, inside pyproject's ranges, and setup uses it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "evalsuite" / "tools" / "requirements.lock"


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        assert m, f"not an exact pin: {line!r}"
        pins[canonicalize_name(m[1])] = Version(m[2])
    return pins


def test_every_declared_dependency_is_pinned_inside_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"],
                *project["optional-dependencies"]["smollm"]]
    pins = _pins()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is installed by make setup but not in the lock"
        assert spec.specifier.contains(pins[name], prereleases=True), f"lock pins {name}=={pins[name]} outside {spec}"
    assert pins["torch"] == Version("2.13.0")  # the CPU build on this disk (no +cpu: GPU boxes take their own)


def test_make_setup_installs_with_the_lock_as_constraints():
    makefile = (REPO / "Makefile").read_text()
    assert "LOCK := evalsuite/tools/requirements.lock" in makefile
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert installs and all("-c $(LOCK)" in line for line in installs), installs
