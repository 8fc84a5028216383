"""Text for humans: markdown escaping and the number formats every table shares.

Shared by ``evalsuite compare``, ``publish`` and ``check`` so that a delta, a
p-value or a model name reads the same on the leaderboard and in a pull-request
comment.
"""

from __future__ import annotations

import math

# Characters that change meaning inside a line of GitHub markdown: table cells (|), emphasis
# (* _), strikethrough (~), code (`), links and images ([ ]; "(" only matters after "]"), math ($)
# and the escape itself. Block syntax (#, -, 1.) only acts at the start of a line, where our names
# never stand. '<', '>' and '&' become HTML entities so that no tag (``<script>``) survives.
_BACKSLASHED = set("\\`*_[]|~$")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def escape_markdown(text: object) -> str:
    """``text`` as literal markdown: safe in a table cell, a heading or running text.

    Newlines become spaces (a newline would end a table row).
    """
    out = []
    for ch in str(text):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in "\r\n\t":
            out.append(" ")
        elif ch in _BACKSLASHED:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def code_span(text: object) -> str:
    """``text`` as an inline code span, fenced with more backticks than it contains."""
    body = " ".join(str(text).split())
    runs, current = [0], 0
    for ch in body:
        current = current + 1 if ch == "`" else 0
        runs.append(current)
    longest = max(runs)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def stars(p_adjusted: float | None) -> str:
    """``***`` p_adj < 0.001, ``**`` < 0.01, ``*`` < 0.05, else empty."""
    if p_adjusted is None or not math.isfinite(p_adjusted):
        return ""
    return "***" if p_adjusted < 0.001 else "**" if p_adjusted < 0.01 else "*" if p_adjusted < 0.05 else ""


def fmt_p(p: float | None) -> str:
    """Three decimals down to 0.001, then two significant digits in scientific notation."""
    if p is None or not math.isfinite(p):
        return "–"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_num(value: float | None, digits: int, *, signed: bool = False) -> str:
    """A fixed-point number, ``–`` for missing; ``signed`` puts ``+`` on positives."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return "+0." + "0" * digits if signed and text == "-0." + "0" * digits else text
