"""RULER's eight needle-in-a-haystack tasks (``niah_single_*``, ``niah_multi*``).

Scope: the needle, template and answer prefix of lm-eval's ``niah_utils.py`` /
``prepare_niah.py`` (RULER's ``niah.py``), built token-exactly:

* ``repeat`` haystack: the noise sentence, one per line; needles on their own
  lines at uniformly random line indices;
* ``essay`` haystack: the first words of the essays; needles inserted at
  sentence boundaries at depths drawn from RULER's 40 depths (0..100 %);
* ``needle`` haystack: lines that look like needles but carry other keys
  (multi-key distractors); the real needles at random line indices.

Each sample's random draws are fixed first; :func:`recipes` returns, per
sample, a function that fits those draws to a token budget.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evalsuite.errors import SpecError
from evalsuite.families.ruler.haystack import NOISE, Essay, EssayIndex, essay_index
from evalsuite.families.ruler.tokens import Draft, Pieces, Recipe, TokenCounter
from evalsuite.families.ruler.wordlist import needle_keys

MAX_GEN_TOKS = 128
TEMPLATE = (
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
    "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?"
)
NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
DELIMITER = " "  # lm-eval puts target_delimiter between the input and gen_prefix
# RULER's insertion depths: 40 points from 0 to 100 %.
DEPTHS: tuple[int, ...] = tuple(int(x) for x in np.round(np.linspace(0, 100, num=40)).astype(int))


@dataclass(frozen=True)
class NiahConfig:
    """One niah task, in lm-eval's terms (type_haystack, type_needle_k/v, num_needle_k/v/q)."""

    haystack: str  # "repeat" | "essay" | "needle"
    key_type: str  # "words" | "uuids"
    value_type: str  # "numbers" | "uuids"
    num_keys: int = 1
    num_values: int = 1
    num_queries: int = 1


CONFIGS: dict[str, NiahConfig] = {
    "niah_single_1": NiahConfig("repeat", "words", "numbers"),
    "niah_single_2": NiahConfig("essay", "words", "numbers"),
    "niah_single_3": NiahConfig("essay", "words", "uuids"),
    "niah_multikey_1": NiahConfig("essay", "words", "numbers", num_keys=4),
    "niah_multikey_2": NiahConfig("needle", "words", "numbers"),
    "niah_multikey_3": NiahConfig("needle", "uuids", "uuids"),
    "niah_multivalue": NiahConfig("essay", "words", "numbers", num_values=4),
    "niah_multiquery": NiahConfig("essay", "words", "numbers", num_queries=4),
}


def random_item(rng: random.Random, kind: str) -> str:
    """A random key or value: a 7-digit number, a uuid4, or an adjective-noun word."""
    if kind == "numbers":
        return str(rng.randint(10**6, 10**7 - 1))
    if kind == "uuids":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "words":
        keys = needle_keys()
        return keys[rng.randrange(len(keys))]
    raise ValueError(f"unknown needle type {kind!r}")


@dataclass(frozen=True)
class _Needles:
    texts: tuple[str, ...]  # in insertion order
    keys: tuple[str, ...]
    answers: tuple[str, ...]
    head: str  # template up to the context (ends with a newline)
    tail: str  # template after the context
    gen_prefix: str


def _draw_needles(cfg: NiahConfig, rng: random.Random) -> _Needles:
    num_keys = max(cfg.num_keys, cfg.num_queries)
    if cfg.key_type == "words":
        keys = rng.sample(needle_keys(), num_keys)  # distinct keys
    else:
        keys = [random_item(rng, cfg.key_type) for _ in range(num_keys)]
    values = [[random_item(rng, cfg.value_type) for _ in range(cfg.num_values)] for _ in keys]
    texts = [NEEDLE.format(type_needle_v=cfg.value_type, key=k, value=v) for k, vs in zip(keys, values) for v in vs]
    rng.shuffle(texts)
    chosen = rng.sample(range(num_keys), cfg.num_queries)
    queries = [keys[i] for i in chosen]
    answers = tuple(v for i in chosen for v in values[i])
    query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
    template, type_v = TEMPLATE, cfg.value_type
    if cfg.num_queries * cfg.num_values == 1:  # RULER's singular wording
        template = template.replace("Some", "A").replace("are all", "is").replace("are", "is")
        type_v = type_v[:-1]
        gen_prefix = f"The special magic {type_v} for {query} mentioned in the provided text is"
    else:
        gen_prefix = f"The special magic {type_v} for {query} mentioned in the provided text are"
    head_t, tail_t = template.split("{context}")
    return _Needles(
        texts=tuple(texts),
        keys=tuple(keys),
        answers=answers,
        head=head_t.format(type_needle_v=type_v),
        tail=tail_t.format(type_needle_v=type_v, query=query),
        gen_prefix=gen_prefix,
    )


def _draft(pieces: Pieces, nd: _Needles, closing_tokens: int, depths: list[float]) -> Draft:
    pieces.mark_here()
    planned = pieces.tokens + closing_tokens
    return Draft(
        input=pieces.text() + nd.tail,
        gen_prefix=nd.gen_prefix,
        delimiter=DELIMITER,
        planned=planned,
        marks=tuple(pieces.marks),
        outputs=nd.answers,
        depths=tuple(depths),
    )


def _too_short(task: str, budget: int) -> SpecError:
    return SpecError(
        f"{task}: a prompt budget of {budget} tokens leaves no room for the haystack; use a longer length"
    )


def _lines_recipe(
    task: str,
    counter: TokenCounter,
    nd: _Needles,
    rng: random.Random,
    unit_lines: Callable[[int], tuple[list[str], np.ndarray]],
) -> Recipe:
    """Needles on their own lines among haystack lines (``repeat`` and ``needle`` haystacks).

    ``unit_lines(n_max)`` gives this sample's haystack lines (each with its
    leading newline) and their token counts, at least enough to fill a budget.
    """
    head = nd.head[:-1]  # the newline before the first line travels with that line
    c_head = counter.short_one(head)
    c_close = counter.count(nd.tail + DELIMITER + nd.gen_prefix)
    lines_n = ["\n" + t for t in nd.texts]
    c_needles = counter.counts(lines_n)
    fixed = c_head + c_close + sum(c_needles)
    fracs = sorted(rng.random() for _ in lines_n)  # RULER: uniform random line indices

    def recipe(budget: int) -> Draft:
        units, costs = unit_lines(budget - fixed)
        n = int(np.searchsorted(np.cumsum(costs), budget - fixed, side="right"))
        if n < 1:
            raise _too_short(task, budget)
        at = [min(int(f * n), n - 1) for f in fracs]
        pieces = Pieces()
        pieces.add(head, c_head, mark=True)
        prev = 0
        for i, line, cost in zip(at, lines_n, c_needles):
            if i > prev:
                pieces.add("".join(units[prev:i]), int(costs[prev:i].sum()))
            pieces.add(line, cost, mark=True)
            prev = i
        pieces.add("".join(units[prev:n]), int(costs[prev:n].sum()))
        return _draft(pieces, nd, c_close, [i / n for i in at])

    return recipe


def _repeat_units(counter: TokenCounter) -> Callable[[int], tuple[list[str], np.ndarray]]:
    unit = "\n" + NOISE
    cost = counter.short_one(unit)

    def units(room: int) -> tuple[list[str], np.ndarray]:
        n = max(room // cost + 1, 1)
        return [unit] * n, np.full(n, cost, dtype=np.int64)

    return units


@dataclass(frozen=True, eq=False)
class _Pool:
    """Distractor lines (``needle`` haystack) shared by one task, length and seed."""

    lines: list[str]  # each with its leading newline
    keys: list[str]
    costs: np.ndarray


def _distractor_pool(
    counter: TokenCounter, task: str, cfg: NiahConfig, length: int, seed: int, room: int
) -> _Pool:
    """Enough distractor lines to fill ``room`` tokens 1.25 times over, tokenized once.

    RULER draws fresh random distractors for every sample; tokenizing all of
    them costs as much as the prompts themselves, so each sample draws its
    lines from this pool in its own random order instead.
    """

    def build() -> _Pool:
        rng = random.Random(f"{seed}:{task}:{length}:pool")
        lines: list[str] = []
        keys: list[str] = []
        costs: list[int] = []
        while sum(costs) < 1.25 * room + 4096:
            chunk_keys = [random_item(rng, cfg.key_type) for _ in range(512)]
            chunk = [
                "\n" + NEEDLE.format(type_needle_v=cfg.value_type, key=k, value=random_item(rng, cfg.value_type))
                for k in chunk_keys
            ]
            costs += counter.counts(chunk)
            lines += chunk
            keys += chunk_keys
        return _Pool(lines, keys, np.asarray(costs, dtype=np.int64))

    return counter.cached(("niah_pool", task, length, seed), build)


def _pool_units(pool: _Pool, nd: _Needles, rng: random.Random) -> Callable[[int], tuple[list[str], np.ndarray]]:
    banned = set(nd.keys)  # a distractor never carries a queried key
    perm = np.random.default_rng(rng.getrandbits(64)).permutation(len(pool.lines))
    order = [int(i) for i in perm if pool.keys[i] not in banned]
    lines = [pool.lines[i] for i in order]
    costs = pool.costs[order]

    def units(room: int) -> tuple[list[str], np.ndarray]:
        if int(costs.sum()) <= room:
            raise SpecError(f"distractor pool too small for {room} tokens (internal sizing error)")
        return lines, costs

    return units


def _essay_recipe(task: str, counter: TokenCounter, nd: _Needles, index: EssayIndex, rng: random.Random) -> Recipe:
    c_head = counter.short_one(nd.head)
    c_close = counter.count(nd.tail + DELIMITER + nd.gen_prefix)
    c_plain = counter.counts(list(nd.texts))
    c_spaced = counter.counts([" " + t for t in nd.texts])
    depths = sorted(rng.sample(DEPTHS, len(nd.texts)))  # RULER: distinct depths, in order
    fixed = c_head + c_close + sum(c_spaced)

    def assemble(k: int) -> tuple[Pieces, list[float]]:
        cut = int(index.cuts[k])
        n_sents = 1 + int(np.searchsorted(index.sentence_cuts, cut))
        positions = []
        for d in depths:
            s = int(n_sents * d / 100)
            positions.append(0 if s == 0 else cut if s >= n_sents else int(index.sentence_cuts[s - 1]))
        pieces = Pieces()
        pieces.add(nd.head, c_head, mark=True)
        prev, empty = 0, True
        for pos, needle, plain, spaced in zip(positions, nd.texts, c_plain, c_spaced):
            if pos > prev:
                _add_chunk(pieces, index, prev, pos, leading_space=not empty)
                empty = False
            pieces.add(needle if empty else " " + needle, plain if empty else spaced, mark=True)
            prev, empty = pos, False
        if cut > prev:
            _add_chunk(pieces, index, prev, cut, leading_space=not empty)
        return pieces, [d / 100 for d in depths]

    def recipe(budget: int) -> Draft:
        k = int(np.searchsorted(index.tokens_before, budget - fixed, side="right")) - 1
        while k >= 0:
            pieces, fracs = assemble(k)
            if pieces.tokens + c_close <= budget:
                return _draft(pieces, nd, c_close, fracs)
            k -= 1
        raise _too_short(task, budget)

    return recipe


def _add_chunk(pieces: Pieces, index: EssayIndex, a: int, b: int, *, leading_space: bool) -> None:
    """Add essay text[a:b]; a chunk from the very start gets a space if it follows a needle."""
    tokens = index.tokens_at(b) - index.tokens_at(a)
    chunk = index.essay.text[a:b]
    if a == 0 and leading_space:
        chunk, tokens = " " + chunk, tokens + index.lead_space_extra
    pieces.add(chunk, tokens)


def recipes(
    task: str,
    *,
    counter: TokenCounter,
    length: int,
    budget: int,
    n_samples: int,
    seed: int,
    essay: Essay | None,
) -> list[Recipe]:
    """One recipe per sample of ``task`` at ``length`` (``budget``: prompt tokens allowed)."""
    cfg = CONFIGS[task]
    index = None
    if cfg.haystack == "essay":
        if essay is None:
            raise SpecError(f"{task} needs the essay haystack file (pass haystack_path)")
        index = essay_index(counter, essay, budget)
    out: list[Recipe] = []
    for i in range(n_samples):
        rng = random.Random(f"{seed}:{task}:{length}:{i}")
        nd = _draw_needles(cfg, rng)
        if cfg.haystack == "essay":
            assert index is not None
            out.append(_essay_recipe(task, counter, nd, index, rng))
        elif cfg.haystack == "repeat":
            out.append(_lines_recipe(task, counter, nd, rng, _repeat_units(counter)))
        else:
            pool = _distractor_pool(counter, task, cfg, length, seed, budget)
            out.append(_lines_recipe(task, counter, nd, rng, _pool_units(pool, nd, rng)))
    return out
