"""Strict JSON for everything evalsuite writes and reads back: no ``NaN``, no ``Infinity``.

Python's ``json`` writes ``float("nan")`` as the bare token ``NaN`` (and infinities as ``Infinity``), which is
not JSON: other tools reject the file, and Python itself reads it back as a number that then flows into a mean,
a p-value or a leaderboard. Here a writer refuses a non-finite number with an error naming the file and the key
that holds it, and a reader refuses the tokens with one line naming the file (and the line, for JSONL), so a
non-finite number can neither be written nor taken for a score. Standard library only: any module may use it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from evalsuite.errors import EvalsuiteError, NonFiniteRecordError


class _NonFiniteToken(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _refuse(token: str) -> Any:
    raise _NonFiniteToken(token)  # json calls this for NaN, Infinity and -Infinity only


def _first_nonfinite(obj: Any, path: str = "") -> tuple[str, Any] | None:
    """(key path, value) of the first non-finite number in ``obj`` (dicts, lists, tuples, numpy/torch scalars)."""
    if hasattr(obj, "item") and not isinstance(obj, (dict, list, tuple, str)):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            return None
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path or "the value", obj)
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for key, value in items:
        found = _first_nonfinite(value, f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]")
        if found is not None:
            return found
    return None


def dumps(obj: Any, *, where: str, **kwargs: Any) -> str:
    """``json.dumps(obj, allow_nan=False, **kwargs)``; a non-finite number raises :class:`NonFiniteRecordError`
    naming ``where`` (the file) and the key path of the first one."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        found = _first_nonfinite(obj)
        what = f"{found[0]} is {found[1]}" if found else "a value is NaN or infinite"
        raise NonFiniteRecordError(f"{where}: {what}; a non-finite number is never written as a result "
                                   "(NaN and Infinity are not JSON)") from None


def loads(text: str, *, source: str, error: type[EvalsuiteError] = NonFiniteRecordError) -> Any:
    """``json.loads(text)`` refusing ``NaN``/``Infinity``/``-Infinity`` with ``error`` naming ``source``.

    Malformed JSON still raises ``json.JSONDecodeError`` for the caller to word."""
    try:
        return json.loads(text, parse_constant=_refuse)
    except _NonFiniteToken as exc:
        raise error(f"{source}: holds {exc.token}, which is not a finite number (nor valid JSON); a result "
                    "file with a non-finite number is refused, never read as a score") from None


def read(path: str | Path, *, error: type[EvalsuiteError] = NonFiniteRecordError) -> Any:
    """The JSON file at ``path``, strictly (see :func:`loads`)."""
    return loads(Path(path).read_text(encoding="utf-8"), source=str(path), error=error)


def write(path: str | Path, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> None:
    """``path`` <- ``obj`` as strict JSON plus a newline (a plain write; records use their atomic writer)."""
    Path(path).write_text(dumps(obj, where=str(path), indent=indent, **kwargs) + "\n", encoding="utf-8")


def frame_json(frame: Any, *, where: str, **kwargs: Any) -> str:
    """``frame.to_json(**kwargs)`` for a pandas DataFrame, refusing ±inf (pandas writes a missing value, NaN, as
    ``null``, which is JSON and means "absent"; an infinity is a number that went wrong)."""
    import numpy as np

    numeric = frame.select_dtypes(include="number")
    bad = np.isinf(numeric.to_numpy(dtype=np.float64)) if numeric.size else np.zeros((0, 0), bool)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise NonFiniteRecordError(f"{where}: column {numeric.columns[col]!r} is infinite in row {row} "
                                   f"({int(bad.sum())} infinite values); a non-finite number is never written "
                                   "as a result")
    return frame.to_json(**kwargs)
