"""Token counting for the RULER generator.

Scope: wrap one Hugging Face tokenizer (a ``transformers`` fast tokenizer or a
bare ``tokenizers.Tokenizer``) behind a counting interface; memoise the counts
of short strings that recur (needle templates, words, numbers); and check
finished prompts, either by re-tokenizing all of them (``verify="full"``) or
by re-tokenizing the first prompt of a batch (all of them if its count was
off) and, in every other prompt, a small window around each place where an
inserted piece meets its neighbours (``verify="spot"``).

How prompts are counted without re-tokenizing them: a prompt is assembled from
pieces (template head, haystack chunks, needles, template tail) joined where
the tokenizer's pre-tokenizer always splits (before a space followed by a word,
after a newline). There the count of the whole is the sum of the counts of the
pieces, so the haystack is tokenized once and sized by prefix sums. Where that
assumption fails for some tokenizer, verification finds it and the sample is
re-fitted with the measured count (see :func:`verify_drafts`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evalsuite.errors import SpecError

log = logging.getLogger(__name__)

Verify = Literal["full", "spot"]
VERIFY_MODES: tuple[str, ...] = ("full", "spot")
_WINDOW_CHARS = 48  # each side of a junction in a spot check: a few words


class TokenCounter:
    """Counts tokens of text for one tokenizer, without special tokens.

    ``n_special`` is the number of special tokens (BOS/EOS) the tokenizer adds
    to a single sequence by default; a prompt's full length is the text count
    plus ``n_special``.
    """

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None and hasattr(tokenizer, "encode_batch"):
            backend = tokenizer  # a bare `tokenizers.Tokenizer`
        if backend is None:
            raise SpecError(
                f"RULER generation needs a fast tokenizer (one backed by the `tokenizers` library); "
                f"got {type(tokenizer).__name__}. Load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
            )
        self.tokenizer = tokenizer
        self._backend = backend
        self._fast = getattr(backend, "encode_batch_fast", backend.encode_batch)
        with_special = len(backend.encode("a", add_special_tokens=True).ids)
        self.n_special: int = with_special - len(backend.encode("a", add_special_tokens=False).ids)
        self.name: str = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        self._short: dict[str, int] = {}
        # Per-tokenizer tables built by the task modules (essay prefix counts, word costs ...).
        self.memo: dict[Hashable, Any] = {}

    def count(self, text: str) -> int:
        return len(self._fast([text], add_special_tokens=False)[0].ids)

    def counts(self, texts: Sequence[str]) -> list[int]:
        """Counts of many texts in one call (parallel in the Rust backend)."""
        if not texts:
            return []
        return [len(e.ids) for e in self._fast(list(texts), add_special_tokens=False)]

    def short(self, texts: Sequence[str]) -> list[int]:
        """Memoised counts of short strings that recur across samples."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._short))
        for t, n in zip(missing, self.counts(missing), strict=True):
            self._short[t] = n
        return [self._short[t] for t in texts]

    def short_one(self, text: str) -> int:
        return self.short([text])[0]

    def offsets(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Character (start, end) of every token of ``text``, as two int64 arrays."""
        enc = self._backend.encode(text, add_special_tokens=False)
        spans = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        return spans[:, 0], spans[:, 1]

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]


_COUNTERS: dict[int, TokenCounter] = {}


def counter_for(tokenizer: Any) -> TokenCounter:
    """The (cached) counter of ``tokenizer``; accepts a TokenCounter as well."""
    if isinstance(tokenizer, TokenCounter):
        return tokenizer
    found = _COUNTERS.get(id(tokenizer))
    if found is None or found.tokenizer is not tokenizer:
        found = _COUNTERS[id(tokenizer)] = TokenCounter(tokenizer)
    return found


@dataclass
class Pieces:
    """A prompt under assembly: text pieces, their summed token count, and junctions.

    ``marks`` are character offsets where an inserted piece (needle, template,
    chain link ...) meets its neighbours: the places a spot check re-tokenizes.
    """

    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    chars: int = 0
    marks: list[int] = field(default_factory=list)

    def add(self, text: str, tokens: int, *, mark: bool = False) -> None:
        if mark:
            self.marks.append(self.chars)
        self.parts.append(text)
        self.tokens += tokens
        self.chars += len(text)
        if mark:
            self.marks.append(self.chars)

    def mark_here(self) -> None:
        self.marks.append(self.chars)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Draft:
    """One prompt, fitted to a budget by its planned (summed) token count."""

    input: str
    gen_prefix: str
    delimiter: str
    planned: int  # text tokens of `prompt`, from the sum over pieces
    marks: tuple[int, ...]  # junction offsets in `prompt`
    outputs: tuple[str, ...]
    depths: tuple[float, ...] = ()

    @property
    def prompt(self) -> str:
        return self.input + self.delimiter + self.gen_prefix


# A recipe holds one sample's random choices and fits them to a token budget.
Recipe = Callable[[int], Draft]


def fit_largest(plan: Callable[[int], int], lo: int, hi: int, budget: int) -> int:
    """Largest size in [lo, hi] with plan(size) <= budget (plan non-decreasing); lo-1 if none."""
    if plan(lo) > budget:
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def spot_ok(counter: TokenCounter, prompt: str, marks: Sequence[int]) -> bool:
    """Whether tokens are additive across every marked junction (local windows)."""
    texts: list[str] = []
    for j in sorted(set(marks)):
        if j <= 0 or j >= len(prompt):
            continue
        left, right = prompt[max(0, j - _WINDOW_CHARS) : j], prompt[j : j + _WINDOW_CHARS]
        texts += [left + right, left, right]
    n = counter.counts(texts)
    return all(n[i] == n[i + 1] + n[i + 2] for i in range(0, len(n), 3))


def verify_drafts(
    counter: TokenCounter,
    recipes: Sequence[Recipe],
    drafts: list[Draft],
    budget: int,
    *,
    verify: Verify,
    max_refits: int = 6,
) -> list[int]:
    """Check each draft's planned count; re-fit the ones that were wrong.

    Returns the verified text-token count of every prompt (drafts are replaced
    in place when re-fitted). ``full`` re-tokenizes every prompt; ``spot``
    re-tokenizes the first prompt and any whose junction windows are not
    additive. A re-fit asks the recipe for the budget shifted by the error
    measured, and repeats until the measured count fits.
    """
    if verify not in VERIFY_MODES:
        raise SpecError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    if verify == "full":
        measured: list[int | None] = list(counter.counts([d.prompt for d in drafts]))
    else:
        measured = [None] * len(drafts)
        if drafts:
            measured[0] = counter.count(drafts[0].prompt)
        if drafts and measured[0] != drafts[0].planned:
            # The pieces do not add up for this tokenizer somewhere they all share: check every prompt.
            measured = list(counter.counts([d.prompt for d in drafts]))
        for i, d in enumerate(drafts[1:], start=1):
            if measured[i] is None and not spot_ok(counter, d.prompt, d.marks):
                measured[i] = counter.count(d.prompt)
    out: list[int] = []
    for i, d in enumerate(drafts):
        true = measured[i]
        if true is None or true == d.planned:
            out.append(d.planned if true is None else true)
            continue
        log.debug("sample %d: planned %d tokens, measured %d; re-fitting", i, d.planned, true)
        best: tuple[int, Draft] | None = None
        prev_err: int | None = None
        for _ in range(max_refits + 1):
            err = true - d.planned  # what the sum over pieces misses for this tokenizer
            if true <= budget and (best is None or true > best[0]):
                best = (true, d)
            if true <= budget and err in (0, prev_err):
                break
            prev_err = err
            d = recipes[i](budget - err)
            true = counter.count(d.prompt)
        if best is None:
            raise SpecError(
                f"could not fit a prompt into {budget} tokens with this tokenizer "
                f"(measured {true} after {max_refits} re-fits); use a longer length"
            )
        out.append(best[0])
        drafts[i] = best[1]
    return out
