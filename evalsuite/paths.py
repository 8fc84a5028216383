"""Where evalsuite reads local benchmark data and keeps its caches, for every stage.

Generic on purpose: the task families read data below the folder found here,
the run stage records the folder in its manifest, the diagnostics and the lab
read it too, and the model loader and the families cache files under
:func:`cache_root`. It imports nothing of evalsuite but its errors, so any
stage may import it without an arrow running backwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from evalsuite.errors import DataError

ENV_VAR = "EVALSUITE_DATA"
CACHE_ENV_VAR = "EVALSUITE_CACHE"


def data_dir_from(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The local data folder to use, or None when the hub is the source.

    An empty string counts as unset, so `EVALSUITE_DATA=` in a Makefile means "hub".
    """
    raw = explicit if explicit not in (None, "") else os.environ.get(ENV_VAR, "")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {path} does not exist (from {'option' if explicit else ENV_VAR})")
    return path.resolve()


def resolve_data_dir(data_dir: Path, *parts: str) -> Path:
    """A file below the data folder, with an error naming exactly what is missing."""
    path = data_dir.joinpath(*parts)
    if not path.exists():
        raise DataError(f"data directory {data_dir} is missing {Path(*parts)}")
    return path


def cache_root() -> Path:
    """evalsuite's cache folder: ``$EVALSUITE_CACHE``, else ``~/.cache/evalsuite`` (an empty value counts as
    unset, as for the data folder). Miniature data, fetched RULER QA files and tiny models live below it."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "evalsuite")
