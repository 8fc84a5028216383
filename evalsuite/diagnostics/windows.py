"""Cut texts into token windows that each start the way the model's tokenizer starts a sequence.

Every text is tokenized once without special tokens and cut into consecutive,
non-overlapping pieces; each window is the tokenizer's own prefix (its BOS, if
it adds one; nothing for Qwen- and SmolLM2-style tokenizers) followed by up to
``window - len(prefix)`` text tokens. So position 0 of every window is what
position 0 of a fresh input would be. A text's last piece may be shorter; a
window needs at least 2 tokens (one query besides position 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from evalsuite.errors import DataError

_PROBE = "Hello world"


def special_prefix(tokenizer: Any) -> list[int]:
    """The ids the tokenizer puts before a text's own tokens (e.g. ``[bos]``), found by tokenizing a probe."""
    with_special = list(tokenizer(_PROBE, add_special_tokens=True)["input_ids"])
    plain = list(tokenizer(_PROBE, add_special_tokens=False)["input_ids"])
    for start in range(len(with_special) - len(plain) + 1):
        if with_special[start:start + len(plain)] == plain:
            return with_special[:start]
    return []  # a tokenizer that rewrites the text itself: use no prefix rather than guess


def iter_windows(tokenizer: Any, texts: Iterable[str], *, window: int,
                 max_windows: int | None = None) -> Iterator[list[int]]:
    """Token windows of at most ``window`` ids over ``texts``, in order, stopping after ``max_windows``."""
    prefix = special_prefix(tokenizer)
    body = window - len(prefix)
    if body < 1:
        raise DataError(f"window={window} leaves no room for text after the tokenizer's {len(prefix)} prefix tokens")
    made = 0
    for text in texts:
        if max_windows is not None and made >= max_windows:
            return
        ids = list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
        for start in range(0, len(ids), body):
            if max_windows is not None and made >= max_windows:
                return
            piece = prefix + ids[start:start + body]
            if len(piece) >= 2:
                made += 1
                yield piece
