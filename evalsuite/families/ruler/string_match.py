"""RULER's scores: ``string_match_all`` and ``string_match_part``.

Scope: the two metrics of RULER (``eval/synthetic/constants.py``), on a 0-1
scale as lm-eval reports them, after lm-eval's prediction clean-up (strip;
control characters become newlines). A reference counts as found when it is a
case-insensitive substring of the prediction.

* ``string_match_all``: the fraction of a sample's references found (niah, vt,
  cwe, fwe);
* ``string_match_part``: 1 if any reference is found (qa: the references are
  alternative answers).

lm-eval's port of ``string_match_part`` swaps RULER's ``max`` and ``sum`` and so
returns the fraction found, which under-scores a QA answer that matches one of
several SQuAD variants; this module follows RULER.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(r"[\x00-\x1f]")


def postprocess(prediction: str) -> str:
    """lm-eval's ``postprocess_pred``: strip, control characters to newlines, strip."""
    return _CONTROL.sub("\n", prediction.strip()).strip()


def _found(prediction: str, references: Sequence[str]) -> list[bool]:
    if not references:
        raise ValueError("a sample needs at least one reference answer")
    pred = postprocess(prediction).lower()
    return [r.lower() in pred for r in references]


def match_all(prediction: str, references: Sequence[str]) -> float:
    """Fraction of ``references`` found in ``prediction`` (one sample)."""
    hits = _found(prediction, references)
    return sum(hits) / len(hits)


def match_part(prediction: str, references: Sequence[str]) -> float:
    """1.0 if any of ``references`` is found in ``prediction`` (one sample), else 0.0."""
    return 1.0 if any(_found(prediction, references)) else 0.0


def string_match_all(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean of :func:`match_all` over samples (RULER's corpus-level score, 0-1)."""
    return _mean([match_all(p, r) for p, r in zip(predictions, references, strict=True)])


def string_match_part(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean of :func:`match_part` over samples (RULER's corpus-level score, 0-1)."""
    return _mean([match_part(p, r) for p, r in zip(predictions, references, strict=True)])


def _mean(values: list[float]) -> float:
    if not values:
        raise ValueError("no samples to score")
    return sum(values) / len(values)


METRICS = {"all": match_all, "part": match_part}
