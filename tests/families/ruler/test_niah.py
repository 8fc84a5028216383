"""Needles sit where the sample says, with RULER's templates and key/value types."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evalsuite.families.ruler.generate import RulerSample, generate
from evalsuite.families.ruler.niah import CONFIGS, DEPTHS

NEEDLE_RE = re.compile(r"One of the special magic (?:numbers|uuids) for (\S+) is: (\S+)\.")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _context(s: RulerSample) -> str:
    start = s.input.index("afterwards.\n") + len("afterwards.\n")
    return s.input[start : s.input.rindex("\nWhat ")]


def _samples(task: str, tok: Any, essay: Path, length: int = 4096, n: int = 4) -> list[RulerSample]:
    out = generate(task, tokenizer=tok, length=length, n_samples=n, seed=21, haystack_path=essay)
    assert isinstance(out, list)
    return out


@pytest.mark.parametrize("task", ["niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multivalue", "niah_multiquery"])
def test_essay_needles_at_recorded_depths(task: str, smollm2: Any, essay_path: Path) -> None:
    cfg = CONFIGS[task]
    for s in _samples(task, smollm2, essay_path):
        ctx = _context(s)
        found = list(NEEDLE_RE.finditer(ctx))
        assert len(found) == max(cfg.num_keys, cfg.num_queries) * cfg.num_values == len(s.depths)
        assert all(round(d * 100) in DEPTHS for d in s.depths)
        needle_chars = sum(len(m.group(0)) + 1 for m in found)
        for m, depth in zip(found, s.depths):
            # Sentence granularity (a sentence is ~100 characters) plus the needles placed before.
            tolerance = 0.02 + (needle_chars + 400) / len(ctx)
            assert abs(m.start() / len(ctx) - depth) <= tolerance, (task, m.start() / len(ctx), depth)
        for ref in s.outputs:
            assert any(m.group(2) == ref for m in found)


@pytest.mark.parametrize("task", ["niah_single_1", "niah_multikey_2", "niah_multikey_3"])
def test_line_needle_at_recorded_depth(task: str, tokenizer: Any, essay_path: Path) -> None:
    for s in _samples(task, tokenizer, essay_path):
        lines = _context(s).split("\n")
        (value,) = s.outputs
        (at,) = [i for i, line in enumerate(lines) if line.endswith(f" is: {value}.")]
        assert abs(at / (len(lines) - 1) - s.depths[0]) <= 1.5 / (len(lines) - 1)


@pytest.mark.parametrize("task", ["niah_multikey_2", "niah_multikey_3"])
def test_distractors_never_carry_the_queried_key(task: str, smollm2: Any, essay_path: Path) -> None:
    for s in _samples(task, smollm2, essay_path):
        key = re.search(r"for (\S+) mentioned in the provided text is$", s.gen_prefix).group(1)
        lines = [m for m in NEEDLE_RE.finditer(_context(s)) if m.group(1) == key]
        assert [m.group(2) for m in lines] == list(s.outputs)
        assert len(NEEDLE_RE.findall(_context(s))) > 20  # the haystack is made of distractors


def test_templates_follow_ruler(smollm2: Any, essay_path: Path) -> None:
    (one,) = _samples("niah_single_1", smollm2, essay_path, n=1)
    assert one.input.startswith("A special magic number is hidden within the following text.")
    assert "What is the special magic number for " in one.input
    assert one.gen_prefix.startswith("The special magic number for ") and one.gen_prefix.endswith("text is")
    assert "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again." in one.input
    (many,) = _samples("niah_multiquery", smollm2, essay_path, n=1)
    assert many.input.startswith("Some special magic numbers are hidden within the following text.")
    assert re.search(r"for \S+, \S+, \S+, and \S+ mentioned in the provided text\?$", many.input)
    assert many.gen_prefix.endswith("text are") and len(many.outputs) == 4
    (mv,) = _samples("niah_multivalue", smollm2, essay_path, n=1)
    assert len(mv.outputs) == 4 and len(set(mv.outputs)) == 4
    (uu,) = _samples("niah_single_3", smollm2, essay_path, n=1)
    assert UUID_RE.match(uu.outputs[0]) and "special magic uuid for" in uu.gen_prefix
    (mk3,) = _samples("niah_multikey_3", smollm2, essay_path, n=1)
    assert UUID_RE.match(mk3.outputs[0]) and UUID_RE.match(mk3.gen_prefix.split(" for ")[1].split()[0])
    (essay,) = _samples("niah_single_2", smollm2, essay_path, n=1)
    assert "July 2010What hard liquor, cigarettes, heroin" in essay.input  # RULER's essays, from the start
    assert all(re.fullmatch(r"\d{7}", o) for o in many.outputs + one.outputs)
