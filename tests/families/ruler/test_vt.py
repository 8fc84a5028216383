"""Variable tracking: the chain in the text resolves to exactly the stated answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalsuite.families.ruler.generate import generate
from evalsuite.families.ruler.vt import HEAD

ASSIGN = re.compile(r"VAR ([A-Z]+) = (?:VAR ([A-Z]+)|(\d+))")


def resolve(text: str, value: str) -> set[str]:
    """Every variable whose chain of assignments ends in ``value``."""
    parent: dict[str, str] = {}
    holds: set[str] = set()
    for name, src, number in ASSIGN.findall(text):
        assert name not in parent and name not in holds, f"{name} assigned twice"
        if number:
            if number == value:
                holds.add(name)
        else:
            parent[name] = src
    changed = True
    while changed:
        changed = False
        for name, src in parent.items():
            if src in holds and name not in holds:
                holds.add(name)
                changed = True
    return holds


def test_chains_are_consistent(tokenizer: Any, essay_path: Path) -> None:
    samples = generate("vt", tokenizer=tokenizer, length=4096, n_samples=4, seed=8, haystack_path=essay_path)
    assert isinstance(samples, list)
    for s in samples:
        example, main = s.input.rsplit(HEAD, 1)
        value = re.search(r"assgined the value (\d+), they are:$", s.gen_prefix).group(1)
        assert f"assigned the value {value} in the text above." in main
        assert resolve(main, value) == set(s.outputs) and len(s.outputs) == 5
        assert len(ASSIGN.findall(main)) == 5  # one chain of 4 hops
        # The worked example answers its own chain, with different (3-letter) names.
        ex_value = re.search(r"assgined the value (\d+), they are: ([A-Z ]+)\n", example)
        assert ex_value is not None
        ex_names = ex_value.group(2).split()
        assert resolve(example, ex_value.group(1)) == set(ex_names) and all(len(n) == 3 for n in ex_names)
        assert list(s.depths) == sorted(s.depths) and all(0 <= d <= 1 for d in s.depths)
