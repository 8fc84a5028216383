"""RULER's aggregation tasks: common words (``cwe``) and frequent words (``fwe``).

Scope, following lm-eval's ``cwe_utils.py`` / ``fwe_utils.py`` (RULER's
``common_words_extraction.py`` / ``freq_words_extraction.py``):

* ``cwe``: a numbered list in which 10 words appear 30 times and the others 3
  times (6 and 1 below 4096 tokens), after one worked example (40 words, 10
  and 3 times; 20 words, 3 and 1 below 4096), as in RULER; lm-eval builds that
  example but leaves it out of the prompt. Words come from the essay
  vocabulary (see :mod:`evalsuite.families.ruler.wordlist`).
* ``fwe``: random 6-letter "coded" words drawn from a Zipf distribution
  (alpha 2) over ``length // 50`` words, the top-ranked one replaced by
  ``...``; the answer is ranks 2-4.

Sizes come from token arithmetic (number labels and words counted once per
tokenizer), so neither task loops at short lengths: a length too short for the
fixed part is a :class:`~evalsuite.errors.SpecError`, never a division by zero.
"""

from __future__ import annotations

import logging
import math
import random
import string

import numpy as np

from evalsuite.errors import SpecError
from evalsuite.families.ruler.tokens import Draft, Pieces, Recipe, TokenCounter, fit_largest

log = logging.getLogger(__name__)

CWE_MAX_GEN_TOKS = 120
CWE_TEMPLATE = (
    "Below is a numbered list of words. In these words, some appear more often than others. "
    "Memorize the ones that appear most often.\n{context}\n"
    "Question: What are the 10 most common words in the above list?"
)
CWE_GEN_PREFIX = "Answer: The top 10 words that appear most often in the list are:"
NUM_COMMON = 10

FWE_MAX_GEN_TOKS = 50
FWE_TEMPLATE = (
    "Read the following coded text and track the frequency of each coded word. "
    "Find the three most frequently appeared coded words. {context}\n"
    "Question: Do not provide any explanation. Please ignore the dots '....'. "
    "What are the three most frequently appeared words in the above coded text?"
)
FWE_GEN_PREFIX = "Answer: According to the coded text above, the three most frequently appeared words are:"
FWE_ALPHA = 2.0
FWE_ZETA = math.pi**2 / 6  # zeta(FWE_ALPHA)
FWE_WORD_LETTERS = 6
DELIMITER = " "


def _framed(head: str, c_head: int, body: str, tail: str, c_close: int, *, planned: int, gen_prefix: str,
            outputs: tuple[str, ...]) -> Draft:
    """A word-list prompt: the instruction head (its junction marked), the list, the question tail; the list's
    tokens are what the plan leaves after the head and the closing part."""
    pieces = Pieces()
    pieces.add(head, c_head, mark=True)
    pieces.add(body, planned - c_head - c_close)
    pieces.mark_here()
    return Draft(input=pieces.text() + tail, gen_prefix=gen_prefix, delimiter=DELIMITER, planned=planned,
                 marks=tuple(pieces.marks), outputs=outputs)


def _numbered(words: list[str]) -> str:
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))


# ---------------------------------------------------------------- cwe


class _Labels:
    """The list labels "1.", " 2.", ... and the prefix sums of their token counts, grown on demand."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.text = np.asarray([], dtype=object)
        self.cum = np.zeros(1, dtype=np.int64)  # cum[n]: tokens of the first n labels

    def upto(self, n: int) -> _Labels:
        if len(self.cum) <= n:
            start, stop = len(self.cum), max(n + 1, 2 * len(self.cum), 4096)
            labels = [("" if i == 1 else " ") + f"{i}." for i in range(start, stop)]
            costs = np.asarray(self.counter.counts(labels), dtype=np.int64)
            self.text = np.concatenate([self.text, np.asarray(labels, dtype=object)])
            self.cum = np.concatenate([self.cum, self.cum[-1] + np.cumsum(costs)])
        return self


class _WordPool:
    """The cwe word pool with each word's token count after a space (counted once per tokenizer)."""

    def __init__(self, counter: TokenCounter, pool: tuple[str, ...]) -> None:
        self.words = pool
        self.spaced = np.asarray([" " + w for w in pool], dtype=object)
        self.costs = np.asarray(counter.counts(list(self.spaced)), dtype=np.int64)


def _cwe_recipe(counter: TokenCounter, pool: _WordPool, length: int, rng: random.Random) -> Recipe:
    if length < 4096:  # RULER's frequencies for short contexts
        ex_words, ex_common, ex_rare, freq_common, freq_rare = 20, 3, 1, 6, 1
    else:
        ex_words, ex_common, ex_rare, freq_common, freq_rare = 40, 10, 3, 30, 3
    draw = np.random.default_rng(rng.getrandbits(64)).permutation(len(pool.words))
    example = [pool.words[i] for i in draw[:ex_words]]
    ex_list = example[:NUM_COMMON] * ex_common + example[NUM_COMMON:] * ex_rare
    rng.shuffle(ex_list)
    head_t, tail_t = CWE_TEMPLATE.split("{context}")
    block = head_t + _numbered(ex_list) + tail_t + " " + CWE_GEN_PREFIX + " " + _numbered(example[:NUM_COMMON])
    head = block + "\n" + head_t
    c_head = counter.count(head)
    c_close = counter.short_one(tail_t + DELIMITER + CWE_GEN_PREFIX)
    words = draw[ex_words:]  # the main list's words, independent of the example's
    common = words[:NUM_COMMON]
    rare_cum = np.concatenate([[0], np.cumsum(pool.costs[words[NUM_COMMON:]])])
    c_common = freq_common * int(pool.costs[common].sum())
    labels = counter.cached(("cwe_labels",), lambda: _Labels(counter))
    order_seed = rng.getrandbits(64)
    k_max = len(words)

    def n_entries(k: int) -> int:
        return NUM_COMMON * freq_common + (k - NUM_COMMON) * freq_rare

    def plan(k: int) -> int:
        cum = labels.upto(n_entries(k)).cum
        return c_head + c_close + int(cum[n_entries(k)]) + c_common + freq_rare * int(rare_cum[k - NUM_COMMON])

    def recipe(budget: int) -> Draft:
        k = fit_largest(plan, NUM_COMMON, k_max, budget)
        if k < NUM_COMMON:
            raise SpecError(
                f"cwe: a prompt budget of {budget} tokens cannot hold the example and "
                f"{NUM_COMMON} words x {freq_common}; use a longer length"
            )
        if k == k_max:
            log.warning("cwe: the word pool (%d words) ran out before %d tokens", len(pool.words), budget)
        listed = np.concatenate([np.tile(common, freq_common), np.tile(words[NUM_COMMON:k], freq_rare)])
        listed = listed[np.random.default_rng(order_seed).permutation(len(listed))]
        parts = np.empty(2 * len(listed), dtype=object)
        parts[0::2] = labels.upto(len(listed)).text[: len(listed)]
        parts[1::2] = pool.spaced[listed]
        return _framed(head, c_head, "".join(parts), tail_t, c_close, planned=plan(k), gen_prefix=CWE_GEN_PREFIX,
                       outputs=tuple(pool.words[i] for i in common))

    return recipe


def cwe_recipes(
    *, counter: TokenCounter, pool: tuple[str, ...], length: int, n_samples: int, seed: int
) -> list[Recipe]:
    """One recipe per ``cwe`` sample; ``pool`` is the word list (see wordlist.essay_vocabulary)."""
    if len(pool) < 64:
        raise SpecError(f"cwe: word pool has only {len(pool)} words")
    wp = counter.cached(("cwe_pool", pool), lambda: _WordPool(counter, pool))
    return [_cwe_recipe(counter, wp, length, random.Random(f"{seed}:cwe:{length}:{i}")) for i in range(n_samples)]


# ---------------------------------------------------------------- fwe


def _coded_pool(counter: TokenCounter, length: int, seed: int, size: int) -> tuple[list[str], np.ndarray]:
    """Distinct random coded words with their token counts (after a space), counted once.

    RULER draws a fresh vocabulary per sample; each sample here draws its
    vocabulary from this pool, four times its size, so words are counted once.
    """

    def build() -> tuple[list[str], np.ndarray]:
        rng = random.Random(f"{seed}:fwe:{length}:pool")
        words: dict[str, None] = {}
        while len(words) < size:
            words["".join(rng.choices(string.ascii_lowercase, k=FWE_WORD_LETTERS))] = None
        pool = list(words)
        return pool, np.asarray(counter.counts([" " + w for w in pool]), dtype=np.int64)

    return counter.cached(("fwe_pool", length, seed, size), build)


def _fwe_recipe(
    counter: TokenCounter, pool: tuple[list[str], np.ndarray], vocab_size: int, rng: random.Random
) -> Recipe:
    words, costs = pool
    chosen = rng.sample(range(len(words)), vocab_size)
    vocab = ["..."] + [words[i] for i in chosen[1:]]  # RULER: the top rank is noise
    w_cost = np.asarray([counter.short_one(" ...")] + [int(costs[i]) for i in chosen[1:]], dtype=np.int64)
    share = np.arange(1, vocab_size + 1, dtype=np.float64) ** -FWE_ALPHA / FWE_ZETA
    head_t, tail_t = FWE_TEMPLATE.split(" {context}")
    c_head = counter.short_one(head_t)
    c_close = counter.short_one(tail_t + DELIMITER + FWE_GEN_PREFIX)
    order_seed = rng.getrandbits(64)

    def repeats(n_words: int) -> np.ndarray:
        return np.floor(n_words * share).astype(np.int64)

    def plan(n_words: int) -> int:
        return c_head + c_close + int(repeats(n_words) @ w_cost)

    def recipe(budget: int) -> Draft:
        n_words = fit_largest(plan, 1, 2 * budget, budget)  # each word costs at least one token
        if n_words < 1:
            raise SpecError(f"fwe: a prompt budget of {budget} tokens is too short; use a longer length")
        reps = repeats(n_words)
        if not (reps[1] > reps[2] > reps[3] > (reps[4] if vocab_size > 4 else 0)):
            raise SpecError(f"fwe: a prompt budget of {budget} tokens is too short to rank 3 words")
        spaced = np.asarray([" " + w for w in vocab], dtype=object)
        text = spaced[np.repeat(np.arange(vocab_size), reps)]
        text = text[np.random.default_rng(order_seed).permutation(len(text))]
        return _framed(head_t, c_head, "".join(text), tail_t, c_close, planned=plan(n_words),
                       gen_prefix=FWE_GEN_PREFIX, outputs=tuple(vocab[1:4]))

    return recipe


def fwe_recipes(*, counter: TokenCounter, length: int, n_samples: int, seed: int) -> list[Recipe]:
    """One recipe per ``fwe`` sample at ``length`` (vocabulary of ``length // 50`` words, as RULER)."""
    vocab_size = max(length // 50, 8)
    pool = _coded_pool(counter, length, seed, 4 * vocab_size)
    return [_fwe_recipe(counter, pool, vocab_size, random.Random(f"{seed}:fwe:{length}:{i}")) for i in range(n_samples)]
