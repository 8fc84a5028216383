"""lm-eval's ``(context, continuation)`` encoding for many pairs at once, with exactly the same tokens.

lm-eval's ``loglikelihood`` calls ``_encode_pair`` per request: it moves the
context's trailing whitespace into the continuation, encodes ``context +
continuation`` and ``context`` separately (one tokenizer call each, BOS added
unless the string already starts with the BOS text) and takes the whole's
tokens past the context's as the continuation. For MMLU 5-shot that is 56,168
pairs of ~3,000-character strings: minutes of single-threaded BPE.

:class:`PairEncoder` returns the same token lists, computed with:

* deduplication: each distinct context once, each distinct string once;
* one batched fast-tokenizer call per kind of string (Rust threads);
* for GPT-2-style byte-level BPE tokenizers (``ByteLevel`` pre-tokenizer with
  its regex, no normalizer, special tokens only prepended), a *safe cut*: if a
  string has a non-space character at ``c - 1`` and whitespace at ``c``, no
  pre-token spans ``c`` (the regex's letter, number and symbol runs never
  include whitespace, and a whitespace run cannot start inside a non-space
  character), and BPE never merges across pre-tokens, so ``encode(s) ==
  encode(s[:c]) + encode(s[c:], no specials)``. Contexts that share a long
  prefix (an MMLU subject's 5-shot block) encode it once and their tails apart;
  a continuation that starts with whitespace after a context that ends without
  it (``" A"``, ``" the man..."``) is encoded alone. Strings containing an
  added token's text are never cut. The first pairs of each call are checked
  against the plain path and a mismatch switches the cut off.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from evalsuite._env import temporary_env

CUT_WHITESPACE = frozenset(" \t\n\r\x0b\x0c")  # in every regex engine's \s
VERIFY_FIRST = 32  # pairs per call re-encoded the plain way as a guard


@dataclass
class EncodeStats:
    pairs: int = 0
    distinct_contexts: int = 0
    chars_stock: int = 0  # characters lm-eval's per-pair path would encode
    chars_encoded: int = 0  # characters actually encoded
    cut_contexts: int = 0  # contexts encoded as a shared prefix + tail
    cut_continuations: int = 0  # continuations encoded alone
    seconds: float = 0.0
    cut_enabled: bool = False
    notes: list[str] = field(default_factory=list)


def parallel_tokenizers() -> contextlib.AbstractContextManager[None]:
    """Let the Rust tokenizer use its threads for a batch (evalsuite's CLI turns them off by default)."""
    return temporary_env("TOKENIZERS_PARALLELISM", "true")


def byte_level_bpe(tokenizer: Any) -> bool:
    """True for a GPT-2-style pipeline: no normalizer, ``ByteLevel(use_regex, no prefix space)``, BPE."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    spec = json.loads(backend.to_str())
    pre = spec.get("pre_tokenizer") or {}
    return (spec.get("normalizer") is None and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False) and (spec.get("model") or {}).get("type") == "BPE")


def _lcp(a: str, b: str) -> int:
    """Longest common prefix length by binary search over C-level slice comparisons."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def safe_cut(s: str, limit: int) -> int:
    """Largest c < limit with s[c-1] not whitespace and s[c] whitespace (0 if none)."""
    for c in range(min(limit, len(s) - 1), 0, -1):
        if s[c] in CUT_WHITESPACE and not s[c - 1].isspace():
            return c
    return 0


class PairEncoder:
    """``encode_pairs`` = ``[lm._encode_pair(c, x) ...]`` (and lm-eval's empty-context rule), batched."""

    def __init__(self, tokenizer: Any, *, add_bos_token: bool | None, prefix_token_id: int,
                 min_shared_prefix: int = 256) -> None:
        self.tok = tokenizer
        self.add_bos_token = add_bos_token
        self.prefix_token_id = prefix_token_id
        self.bos_text = tokenizer.decode(prefix_token_id)
        self.min_shared_prefix = min_shared_prefix
        added = [t for t in getattr(tokenizer, "get_added_vocab", dict)().keys() if t]
        self._added = re.compile("|".join(map(re.escape, sorted(added, key=len, reverse=True)))) if added else None
        self.cut_enabled = byte_level_bpe(tokenizer) and self._specials_only_prepended()

    # -- lm-eval's tok_encode, for a batch -------------------------------------------------------------
    def _special(self, s: str) -> bool | None:
        """The add_special_tokens HFLM.tok_encode would pass (None: the tokenizer's default)."""
        if self.bos_text and s.startswith(self.bos_text):
            return False
        return self.add_bos_token

    def _encode(self, strings: Sequence[str], special: bool | None) -> list[list[int]]:
        """``[tokenizer.encode(s, add_special_tokens=special) for s in strings]`` in one Rust call."""
        if not strings:
            return []
        flag = True if special is None else special  # encode()'s default
        backend = getattr(self.tok, "backend_tokenizer", None)
        with parallel_tokenizers():
            if backend is None:  # a slow (Python) tokenizer
                return [self.tok.encode(s, add_special_tokens=flag) for s in strings]
            encode = getattr(backend, "encode_batch_fast", backend.encode_batch)  # no offsets: faster
            return [e.ids for e in encode(list(strings), add_special_tokens=flag)]

    def encode_many(self, strings: Sequence[str], special: dict[str, bool | None] | None = None) -> dict[str, list[int]]:
        """Distinct strings -> tokens, grouped by their add_special_tokens value."""
        groups: dict[bool | None, list[str]] = {}
        for s in dict.fromkeys(strings):
            groups.setdefault(self._special(s) if special is None else special[s], []).append(s)
        out: dict[str, list[int]] = {}
        for flag, items in groups.items():
            out.update(zip(items, self._encode(items, flag)))
        return out

    def _specials_only_prepended(self) -> bool:
        probes = ["a b", "Hello, world!\n\nAnswer: A", " x"]
        with_special = self._encode(probes, None)
        plain = self._encode(probes, False)
        head = self._encode([""], None)[0]
        return all(w == head + p for w, p in zip(with_special, plain))

    def _cuttable(self, s: str) -> bool:
        return self._added is None or self._added.search(s) is None

    # -- contexts ------------------------------------------------------------------------------------
    def _encode_contexts(self, contexts: list[str], stats: EncodeStats, cut: bool) -> dict[str, list[int]]:
        plain: list[str] = []
        pieces: list[tuple[str, str, str]] = []  # (context, shared head, tail)
        order = sorted(contexts)
        i = 0
        while i < len(order):
            j, shared = i + 1, len(order[i])
            while cut and j < len(order):
                lcp = _lcp(order[j - 1], order[j])
                if lcp < self.min_shared_prefix:
                    break
                shared, j = min(shared, lcp), j + 1
            group = order[i:j]
            c = safe_cut(group[0], shared) if len(group) > 1 else 0
            if c >= max(self.min_shared_prefix // 2, len(self.bos_text)) and all(map(self._cuttable, group)):
                pieces += [(s, s[:c], s[c:]) for s in group]
            else:
                plain += group
            i = j
        specials = {s: self._special(s) for s in plain}
        specials.update({head: self._special(ctx) for ctx, head, _ in pieces})
        tokens = self.encode_many(plain + [h for _, h, _ in pieces], specials)
        tails = self.encode_many([t for _, _, t in pieces], {t: False for _, _, t in pieces})
        out = {s: tokens[s] for s in plain}
        for ctx, head, tail in pieces:
            out[ctx] = tokens[head] + tails[tail]
        stats.cut_contexts += len(pieces)
        stats.chars_encoded += sum(map(len, plain)) + sum(len(t) for _, _, t in pieces) + \
            sum(len(h) for h in dict.fromkeys(h for _, h, _ in pieces))
        return out

    # -- pairs ---------------------------------------------------------------------------------------
    def encode_pairs(self, pairs: Sequence[tuple[str, str]], stats: EncodeStats | None = None
                     ) -> list[tuple[list[int], list[int]]]:
        t0 = time.perf_counter()
        stats = stats if stats is not None else EncodeStats()
        out = self._encode_pairs(pairs, stats, self.cut_enabled)
        if self.cut_enabled:
            check = list(range(min(VERIFY_FIRST, len(pairs))))
            reference = self._encode_pairs([pairs[i] for i in check], EncodeStats(), False)
            if any(out[i] != ref for i, ref in zip(check, reference)):
                self.cut_enabled = False
                stats.notes.append("safe-cut encoding disagreed with the plain path: switched off")
                out = self._encode_pairs(pairs, EncodeStats(), False)
        stats.cut_enabled = self.cut_enabled
        stats.pairs += len(pairs)
        stats.seconds += time.perf_counter() - t0
        return out

    def _encode_pairs(self, pairs: Sequence[tuple[str, str]], stats: EncodeStats, cut: bool):
        moved: list[tuple[str, str]] = []
        for context, continuation in pairs:
            if context:
                n = len(context) - len(context.rstrip())
                if n:
                    context, continuation = context[:-n], context[-n:] + continuation
            moved.append((context, continuation))
            stats.chars_stock += 2 * len(context) + len(continuation)
        contexts = list(dict.fromkeys(c for c, _ in moved if c))
        stats.distinct_contexts += len(contexts)
        ctx_tokens = self._encode_contexts(contexts, stats, cut)
        use_alone = [not c or (cut and x[:1] in CUT_WHITESPACE and len(c) >= len(self.bos_text)
                               and self._cuttable(c) and self._cuttable(x)) for c, x in moved]
        alone = [x for (_, x), a in zip(moved, use_alone) if a]
        whole = [c + x for (c, x), a in zip(moved, use_alone) if not a]
        alone_tokens = self.encode_many(alone, {x: False for x in alone})
        whole_tokens = self.encode_many(whole)
        stats.chars_encoded += sum(map(len, alone_tokens)) + sum(map(len, whole_tokens))
        out: list[tuple[list[int], list[int]]] = []
        for (c, x), a in zip(moved, use_alone):
            if not c:  # lm-eval: BOS/EOS as the context
                cont = alone_tokens[x]
                out.append(([self.prefix_token_id], cont) if self.prefix_token_id != cont[0] else (cont[:1], cont[1:]))
            elif a:
                stats.cut_continuations += 1
                out.append((ctx_tokens[c], alone_tokens[x]))
            else:
                w = whole_tokens[c + x]
                out.append((ctx_tokens[c], w[len(ctx_tokens[c]):]))
        return out
