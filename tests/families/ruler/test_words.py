"""Aggregation tasks: the answers really are the most common / most frequent words."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalsuite.families.ruler.generate import generate

ENTRY = re.compile(r"(\d+)\. (\S+)")


def _check_list(listing: str, answers: list[str]) -> None:
    entries = ENTRY.findall(listing)
    assert [int(n) for n, _ in entries] == list(range(1, len(entries) + 1)), "numbering is 1..n"
    counts = Counter(w for _, w in entries)
    top = counts.most_common()
    assert {w for w, _ in top[: len(answers)]} == set(answers)
    if len(top) > len(answers):
        assert min(counts[a] for a in answers) > top[len(answers)][1], "the answers strictly lead"


@pytest.mark.parametrize("length", [1024, 4096])
def test_cwe_answers_are_the_most_common(length: int, tokenizer: Any, essay_path: Path) -> None:
    samples = generate("cwe", tokenizer=tokenizer, length=length, n_samples=3, seed=4, haystack_path=essay_path)
    assert isinstance(samples, list)
    for s in samples:
        blocks = s.input.split("Below is a numbered list of words.")
        assert len(blocks) == 3, "one worked example, then the task"
        example, main = blocks[1], blocks[2]
        listing, _, worked_answer = example.partition("\nQuestion:")
        _check_list(listing, [w for _, w in ENTRY.findall(worked_answer.split("are:")[1])])
        _check_list(main.split("\nQuestion:")[0], list(s.outputs))
        assert len(s.outputs) == 10
        freq = Counter(w for _, w in ENTRY.findall(main))
        assert {freq[w] for w in s.outputs} == ({6} if length < 4096 else {30})


def test_fwe_answers_are_the_most_frequent(tokenizer: Any, essay_path: Path) -> None:
    samples = generate("fwe", tokenizer=tokenizer, length=4096, n_samples=3, seed=4, haystack_path=essay_path)
    assert isinstance(samples, list)
    for s in samples:
        text = s.input.split("coded words. ", 1)[1].split("\nQuestion:")[0]
        counts = Counter(text.split()).most_common()
        assert counts[0][0] == "..."  # RULER's noise word is the top rank
        assert [w for w, _ in counts[1:4]] == list(s.outputs)
        assert counts[1][1] > counts[2][1] > counts[3][1] > counts[4][1]
        assert all(re.fullmatch(r"[a-z]{6}", w) for w in s.outputs)
