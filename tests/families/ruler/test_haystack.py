"""Essay haystack and token arithmetic: prefix counts equal real token counts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalsuite.errors import DataError
from evalsuite.families.ruler.haystack import essay_index, load_essay
from evalsuite.families.ruler.tokens import TokenCounter, counter_for, fit_largest
from evalsuite.families.ruler.wordlist import ADJECTIVES, NOUNS, essay_vocabulary, needle_keys


def test_essay_is_normalised_with_boundaries(essay_path: Path) -> None:
    essay = load_essay(essay_path)
    assert "  " not in essay.text and "\n" not in essay.text
    assert set(essay.sentence_spaces.tolist()) <= set(essay.spaces.tolist())
    for p in essay.sentence_spaces[:200]:
        assert essay.text[p - 1] in ".!?\"')]\u201d\u2019" and essay.text[p] == " "


def test_prefix_counts_are_real_counts(tokenizer: Any, essay_path: Path) -> None:
    counter = counter_for(tokenizer)
    index = essay_index(counter, load_essay(essay_path), 6000)
    assert index.max_tokens >= 6000
    rng = random.Random(0)
    cuts = [int(c) for c in rng.sample(list(index.cuts[index.tokens_before < 6000]), 20)]
    text = index.essay.text
    assert [index.tokens_at(c) for c in cuts] == counter.counts([text[:c] for c in cuts])
    head = text[: int(index.cuts[5])]
    assert counter.count(" " + head) == counter.count(head) + index.lead_space_extra


def test_counter_counts_special_tokens(byte_bpe: Any, smollm2: Any) -> None:
    assert TokenCounter(byte_bpe).n_special == 1  # the trained BPE adds a BOS
    assert TokenCounter(smollm2).n_special == len(smollm2("x").input_ids) - len(smollm2("x", add_special_tokens=False).input_ids)


def test_missing_or_malformed_essay(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_essay(tmp_path / "PaulGrahamEssays.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"body": "x"}))
    with pytest.raises(DataError, match='"text"'):
        load_essay(bad)


def test_fit_largest() -> None:
    plan = np.array([0, 5, 5, 9, 12, 20]).__getitem__
    assert fit_largest(plan, 0, 5, 10) == 3
    assert fit_largest(plan, 1, 5, 4) == 0  # nothing fits: lo - 1
    assert fit_largest(plan, 0, 5, 100) == 5


def test_word_lists() -> None:
    assert len(set(ADJECTIVES)) == len(ADJECTIVES) and len(set(NOUNS)) == len(NOUNS)
    assert not set(ADJECTIVES) & set(NOUNS)
    keys = needle_keys()
    assert len(keys) == len(ADJECTIVES) * len(NOUNS) and all(k.count("-") == 1 for k in keys)
    assert essay_vocabulary("Don't stop: the Quick brown foxes, foxes jumped! x yz") == ("brown", "foxes", "jumped", "stop")
