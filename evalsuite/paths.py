"""Where local benchmark data lives: an explicit option beats ``EVALSUITE_DATA``."""

from __future__ import annotations

import os
from pathlib import Path

from evalsuite.errors import DataError

ENV_VAR = "EVALSUITE_DATA"


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
