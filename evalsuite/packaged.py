"""Where the files evalsuite ships live: lm-eval task YAML and the suite files.

``tasks/`` stays at the repository's top level (lm-eval's layout: one folder per
task family, code beside its YAML). A wheel carries the same folder as the
package data of ``evalsuite._tasks`` (``pyproject.toml`` maps it), so an installed
evalsuite finds its tasks with :mod:`importlib.resources`, from any directory; a
checkout (editable install or ``PYTHONPATH``) has no ``evalsuite/_tasks`` and
reads ``./tasks`` itself, so an edit to a task YAML takes effect without a rebuild.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

_CHECKOUT_TASKS = Path(__file__).resolve().parents[1] / "tasks"


@functools.cache
def tasks_dir() -> Path:
    """The folder of lm-eval task YAML (``--include_path`` for lm-eval): the wheel's copy, else the checkout's."""
    shipped = resources.files("evalsuite").joinpath("_tasks")
    if shipped.is_dir():
        # A wheel unpacks into site-packages, so the traversable is a real folder lm-eval can walk.
        return Path(str(shipped))
    return _CHECKOUT_TASKS


def suites_dir() -> Path:
    return tasks_dir() / "suites"


def shipped_suites() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in suites_dir().glob("*.yaml")))


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file: the path as given when it exists, else a shipped suite by name (``quick`` or
    ``quick.yaml``; ``tasks/suites/quick.yaml`` also resolves, so the README's commands work from any
    directory with an installed package). Returns the path as given when nothing matches, so the
    caller's "does not exist" names what the user typed."""
    path = Path(name_or_path)
    if path.exists():
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    shipped = suites_dir() / f"{stem}.yaml"
    if shipped.exists() and (len(path.parts) == 1 or path.parent.as_posix() in ("tasks/suites", "suites")):
        return shipped
    return path
