"""RULER's variable tracking task (``vt``).

Scope: one chain of 4 hops (``VAR A = 12345``, ``VAR B = VAR A``, ...) hidden
in the repeated noise sentence, preceded by one worked example, as in lm-eval's
``vt_utils.py`` (RULER's ``variable_tracking.py``); the answer is every
variable of the chain.

Differences from lm-eval, none of which change the task: the haystack is sized
by token arithmetic instead of growing it 10 sentences at a time (lm-eval's
loop never ends when a prompt cannot shrink enough); the example's answer is
joined with single spaces; the example's variables are drawn fresh instead of
being rewritten in place.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from evalsuite.errors import SpecError
from evalsuite.families.ruler.haystack import NOISE
from evalsuite.families.ruler.tokens import Draft, Pieces, Recipe, TokenCounter

MAX_GEN_TOKS = 30
NUM_HOPS = 4  # RULER's default: 5 variables in the chain
ICL_PROMPT_TOKENS = 500  # RULER sizes its worked example for a 500-token prompt
HEAD = "Memorize and track the chain(s) of variable assignment hidden in the following text."
TAIL = "\nQuestion: Find all variables that are assigned the value {query} in the text above."
GEN_PREFIX = (
    "Answer: According to the chain(s) of variable assignment in the text above, "
    "{num_v} variables are assgined the value {query}, they are:"  # sic: RULER's wording
)
DELIMITER = " "
NOISE_ITEM = NOISE + "\n"


@dataclass(frozen=True)
class _Chain:
    names: tuple[str, ...]
    value: str
    links: tuple[str, ...]  # "VAR A = 12345", "VAR B = VAR A ", ...
    fracs: tuple[float, ...]  # where each link goes, as a fraction of the noise items


def _draw_chain(rng: random.Random, letters: int) -> _Chain:
    names: list[str] = []
    while len(names) < NUM_HOPS + 1:
        name = "".join(rng.choices(string.ascii_uppercase, k=letters))
        if name not in names:
            names.append(name)
    value = str(rng.randint(10000, 99998))  # np.random.randint(10000, 99999) in RULER
    links = [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(NUM_HOPS)]
    fracs = tuple(sorted(rng.random() for _ in links))
    return _Chain(tuple(names), value, tuple(links), fracs)


def _positions(chain: _Chain, n: int) -> list[int]:
    """Noise index before which each link goes (RULER inserts link j at position + j)."""
    return [min(int(f * n), n) for f in chain.fracs]


def _items(chain: _Chain, n: int) -> list[str]:
    """n noise items with the chain links inserted in order."""
    items = [NOISE_ITEM] * n
    for j, at in enumerate(_positions(chain, n)):
        items.insert(at + j, chain.links[j])
    return items


def _block(chain: _Chain, n: int) -> str:
    """The example's text: template, context, question, answer prefix and answer."""
    context = " ".join(_items(chain, n))
    gen = GEN_PREFIX.format(num_v=NUM_HOPS + 1, query=chain.value)
    return f"{HEAD}\n\n{context}{TAIL.format(query=chain.value)} {gen} {' '.join(chain.names)}\n\n"


def _icl_noises(counter: TokenCounter) -> int:
    """Noise items in the worked example: the most that keep it within RULER's 500 tokens."""

    def build() -> int:
        chain = _draw_chain(random.Random("vt-icl-sizing"), 3)
        n = 1
        while counter.count(_block(chain, n + 1)) + MAX_GEN_TOKS <= ICL_PROMPT_TOKENS:
            n += 1
        return n

    return counter.cached(("vt_icl_noises",), build)


def _recipe(counter: TokenCounter, rng: random.Random) -> Recipe:
    icl = _draw_chain(rng, 3)
    chain = _draw_chain(rng, 5)
    head = _block(icl, _icl_noises(counter)) + HEAD
    tail = TAIL.format(query=chain.value)
    gen_prefix = GEN_PREFIX.format(num_v=NUM_HOPS + 1, query=chain.value)
    c_head = counter.count(head)
    c_close = counter.count(tail + DELIMITER + gen_prefix)
    # The first item follows the template's blank line; the others follow a space.
    c_noise_first, c_noise = counter.short(["\n\n" + NOISE_ITEM, " " + NOISE_ITEM])
    c_first = counter.counts(["\n\n" + link for link in chain.links])
    c_link = counter.counts([" " + link for link in chain.links])

    def plan(n: int) -> int:
        first_is_link = int(chain.fracs[0] * n) == 0
        first = c_first[0] - c_link[0] if first_is_link else c_noise_first - c_noise
        return c_head + c_close + n * c_noise + sum(c_link) + first

    def recipe(budget: int) -> Draft:
        n = max((budget - c_head - c_close - sum(c_link)) // c_noise, 1)
        while n > 1 and plan(n) > budget:
            n -= 1
        while plan(n + 1) <= budget:
            n += 1
        if plan(n) > budget:
            raise SpecError(f"vt: a prompt budget of {budget} tokens is too short for the chain; use a longer length")
        pieces = Pieces()
        pieces.add(head, c_head, mark=True)

        def noises(m: int, first: bool) -> None:
            if first:
                pieces.add("\n\n" + NOISE_ITEM + (" " + NOISE_ITEM) * (m - 1), c_noise_first + (m - 1) * c_noise)
            else:
                pieces.add((" " + NOISE_ITEM) * m, m * c_noise)

        prev = 0
        for j, at in enumerate(_positions(chain, n)):
            if at > prev:
                noises(at - prev, pieces.chars == len(head))
            first = pieces.chars == len(head)
            pieces.add(("\n\n" if first else " ") + chain.links[j], (c_first if first else c_link)[j], mark=True)
            prev = at
        if n > prev:
            noises(n - prev, False)
        pieces.mark_here()
        assert pieces.tokens + c_close == plan(n), "vt plan and assembly disagree"
        return Draft(
            input=pieces.text() + tail,
            gen_prefix=gen_prefix,
            delimiter=DELIMITER,
            planned=pieces.tokens + c_close,
            marks=tuple(pieces.marks),
            outputs=chain.names,
            depths=tuple(at / n for at in _positions(chain, n)),
        )

    return recipe


def recipes(*, counter: TokenCounter, length: int, n_samples: int, seed: int) -> list[Recipe]:
    """One recipe per ``vt`` sample at ``length``."""
    return [_recipe(counter, random.Random(f"{seed}:vt:{length}:{i}")) for i in range(n_samples)]
