"""Where evalsuite keeps what it builds once and reuses (standard library only: every stage may import it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """evalsuite's cache (``$EVALSUITE_CACHE``, default ``~/.cache/evalsuite``): GGUF conversions, tiny models,
    the miniature data samples."""
    return Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite"))
