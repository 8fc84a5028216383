"""Haystacks for RULER: the repeated noise sentence and the Paul Graham essays.

Scope: load the essay file (a local path, never downloaded), normalise it the
way RULER does (runs of whitespace become one space), find its word and
sentence boundaries, and, once per tokenizer, the token count of every prefix
that ends at a word boundary, so a haystack of any size is cut from one
tokenization by binary search instead of re-tokenizing it in a loop.

Sentence boundaries come from a regular expression (a full stop, question or
exclamation mark, optional closing quote or bracket, one space, then a capital
letter, digit or opening quote) instead of RULER's nltk ``punkt`` model, whose
data is a download.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from evalsuite.errors import DataError, SpecError
from evalsuite.families.ruler.tokens import TokenCounter

# RULER's noise haystack (niah_single_1, vt).
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]* (?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_TAIL_GUARD_CHARS = 256  # cuts this close to the end of a partial encoding are not trusted


@dataclass(frozen=True, eq=False)
class Essay:
    """The essay haystack: normalised text and its boundaries (character offsets)."""

    path: Path
    text: str
    spaces: np.ndarray  # offsets of the spaces between words, ascending
    sentence_spaces: np.ndarray  # the spaces that end a sentence, ascending


@cache
def load_essay(path: Path) -> Essay:
    """Read RULER's ``PaulGrahamEssays.json`` (``{"text": ...}``) from a local path."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: essay haystack file not found (RULER's PaulGrahamEssays.json)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))["text"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise DataError(f'{path}: not a JSON object with a "text" field ({e})') from e
    if not isinstance(raw, str) or not raw.strip():
        raise DataError(f'{path}: "text" is empty or not a string')
    text = re.sub(r"\s+", " ", raw).strip()
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    spaces = np.flatnonzero(codes == 32).astype(np.int64)
    sentence_spaces = np.fromiter((m.end() - 1 for m in _SENTENCE_END.finditer(text)), dtype=np.int64)
    return Essay(path=path, text=text, spaces=spaces, sentence_spaces=sentence_spaces)


@dataclass(frozen=True, eq=False)
class EssayIndex:
    """Token counts of essay prefixes for one tokenizer.

    ``cuts`` are the word-boundary offsets ``c`` at which ``text[:c]`` ends on a
    token boundary of the essay's own tokenization; ``tokens_before[i]`` is the
    token count of ``text[:cuts[i]]``. ``sentence_cuts`` are the sentence
    boundaries among them (where needles go).
    """

    essay: Essay
    cuts: np.ndarray
    tokens_before: np.ndarray
    sentence_cuts: np.ndarray
    lead_space_extra: int  # count(" " + start of text) - count(start of text)
    complete: bool  # the whole essay was tokenized

    @property
    def max_tokens(self) -> int:
        return int(self.tokens_before[-1]) if len(self.tokens_before) else 0

    def tokens_at(self, cut: int) -> int:
        """Token count of ``text[:cut]`` for ``cut`` 0 or one of ``cuts``."""
        if cut == 0:
            return 0
        i = int(np.searchsorted(self.cuts, cut))
        assert i < len(self.cuts) and self.cuts[i] == cut, f"{cut} is not a valid cut"
        return int(self.tokens_before[i])


def essay_index(counter: TokenCounter, essay: Essay, min_tokens: int) -> EssayIndex:
    """The (cached) index of ``essay`` for ``counter``, covering at least ``min_tokens``."""
    key = ("essay_index", str(essay.path))
    index: EssayIndex | None = counter.memo.get(key)
    if index is not None and (index.max_tokens >= min_tokens or index.complete):
        _require(index, min_tokens)
        return index
    chars = len(essay.text)
    # Tokenize only the prefix needed: characters per token measured on a sample, plus 10 %.
    sample = essay.text[:32768]
    per_token = len(sample) / max(counter.count(sample), 1)
    span = min(chars, int(1.1 * per_token * min_tokens) + 4 * _TAIL_GUARD_CHARS + 4096)
    while True:
        index = _build_index(counter, essay, span)
        if index.max_tokens >= min_tokens or span >= chars:
            break
        span = min(chars, int(span * 1.5))
    counter.memo[key] = index
    _require(index, min_tokens)
    return index


def _require(index: EssayIndex, min_tokens: int) -> None:
    if index.max_tokens < min_tokens:
        raise SpecError(
            f"the essay haystack {index.essay.path} has only {index.max_tokens} tokens with this "
            f"tokenizer; a length needing {min_tokens} tokens of haystack is too long for it"
        )


def _build_index(counter: TokenCounter, essay: Essay, span: int) -> EssayIndex:
    text = essay.text[:span]
    starts, ends = counter.offsets(text)
    limit = span if span >= len(essay.text) else span - _TAIL_GUARD_CHARS
    spaces = essay.spaces[essay.spaces < limit]
    before = np.searchsorted(ends, spaces, side="right")  # tokens ending at or before the space
    # A token that starts before the space but ends after it straddles the cut.
    clean = np.searchsorted(starts, spaces, side="left") == before
    cuts, tokens_before = spaces[clean], before[clean]
    sentence_cuts = np.intersect1d(essay.sentence_spaces, cuts, assume_unique=True)
    first = int(cuts[0]) if len(cuts) else len(text)
    head = essay.text[:first]
    lead_space_extra = counter.count(" " + head) - counter.count(head)
    return EssayIndex(
        essay, cuts, tokens_before.astype(np.int64), sentence_cuts, lead_space_extra, span >= len(essay.text)
    )
