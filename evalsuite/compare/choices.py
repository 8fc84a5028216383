"""The continuous companion of a multiple-choice accuracy, from the stored per-choice log-likelihoods.

An accuracy keeps one bit per item (was the gold choice the argmax?). The records
keep every choice's log-likelihood (``resps``), so the same decision rule gives a
graded score: with ``s_j`` the choice scores the accuracy compares (raw
log-likelihoods for ``acc``; log-likelihood per character of the choice for
``acc_norm``, as lm-eval normalises), the companion is the probability the
model puts on the gold choice among the choices,

    p(gold) = softmax(s)_gold,

which is 1[argmax = gold] when the scores are far apart and moves smoothly
before an answer flips; or the gold-vs-best-distractor margin

    margin = s_gold - max_{j != gold} s_j,

in the scores' own units (nats for raw log-likelihoods, nats per character for
acc_norm), positive exactly where the argmax is right. ``results/stats/power.md``
compares both with McNemar on real per-item vectors at the paper's effect sizes
under four effect models (a gold shift, which favours the margin by
construction; sharpened scores; swapped gold and distractor; a mix of two real
models), and :data:`COMPANION_FOR` holds the choice it supports for each
accuracy metric — see ``results/stats/README.md`` for the numbers.

:func:`paper_delta_for_companion` translates an accuracy delta (the paper's)
into the companion's units, for the power column. Two effect models reach that
accuracy delta on these items: a gold shift (:func:`gold_shift_for_accuracy`:
every gold score raised by the smallest shift that flips enough wrong items; it
moves the margin by the shift itself, which favours the margin) and a swap
(:func:`swap_for_accuracy`: on enough wrong items, gold and the best distractor
trade scores; it favours neither score). The page takes the smaller of the two
translations, so its "detects the paper's delta" verdict is never the optimistic
one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp

from evalsuite.errors import RecordError

Companion = Literal["pgold", "margin"]
# The companion of each accuracy metric, as results/stats/power.md's "The choice" section picks it: the higher
# worst-case power over the effect models that favour no score by construction (ties: p(gold)). MMLU (one-token
# answers, so p(gold) is a real distribution over the letters): p(gold) 69.8 % vs margin 57.2 % under swaps.
# HellaSwag acc (raw sums over ~20-token endings: the softmax is nearly 0/1): margin 89.2 % vs p(gold) 67.0 %.
# HellaSwag acc_norm (per character): a tie, 93.0 % vs 91.0 %, so p(gold). tests/stats/test_power_choice.py
# re-derives this from the committed table.
COMPANION_FOR: dict[str, Companion] = {"mmlu_acc": "pgold", "hellaswag_acc": "margin", "hellaswag_acc_norm": "pgold"}
ESTIMAND: dict[Companion, str] = {
    "pgold": "mean probability on the gold choice",
    "margin": "mean gold-minus-best-distractor log-likelihood margin, nats",
}


def is_margin(metric: str) -> bool:
    """True for a margin companion's metric key (``mmlu_margin``, ``hellaswag_margin``...): its values are in
    the choice scores' own units (nats, or nats per character), not fractions."""
    return metric.split("_")[1:2] == ["margin"]


def choice_scores(resps: Sequence[Any], *, chars: Sequence[Any] | None = None) -> np.ndarray:
    """(n, k) choice scores from per-item log-likelihood lists (NaN-padded when k varies); per character with
    ``chars`` (acc_norm). RecordError naming the item when a row is not a list of numbers."""
    k = max((len(r) for r in resps if isinstance(r, (list, tuple))), default=0)
    if k < 2:
        raise RecordError("per-choice log-likelihoods (resps) are missing: the records predate them or the task "
                          "is not multiple choice")
    out = np.full((len(resps), k), np.nan)
    for i, row in enumerate(resps):
        if not isinstance(row, (list, tuple)) or len(row) < 2:
            raise RecordError(f"item {i}: expected one log-likelihood per choice, got {row!r:.60}")
        values = np.asarray(row, dtype=np.float64)
        if chars is not None:
            lengths = np.asarray(chars[i] if chars[i] is not None else [], dtype=np.float64)
            if lengths.shape != values.shape or (lengths <= 0).any():
                raise RecordError(f"item {i}: choice lengths {chars[i]!r} do not match its {values.size} choices")
            values = values / lengths
        out[i, :values.size] = values
    return out


def gold_index(targets: Sequence[Any], k: int) -> np.ndarray:
    """The gold choice of each item from the recorded target (its index, as lm-eval logs it)."""
    gold = np.empty(len(targets), dtype=np.intp)
    for i, t in enumerate(targets):
        try:
            gold[i] = int(str(t).strip())
        except ValueError:
            raise RecordError(f"item {i}: target {t!r} is not a choice index") from None
        if not 0 <= gold[i] < k:
            raise RecordError(f"item {i}: target {t!r} is not one of its {k} choices")
    return gold


def argmax_correct(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """1.0 where the gold choice has the highest score (first one on ties, as numpy's argmax), (n,)."""
    return (np.nanargmax(scores, axis=1) == gold).astype(np.float64)


def pgold(scores: np.ndarray, gold: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """softmax(scores)_gold per item (n,), with ``shift`` added to the gold score first."""
    s = scores.copy()
    s[np.arange(s.shape[0]), gold] += shift
    s = np.where(np.isnan(s), -np.inf, s)
    return np.exp(s[np.arange(s.shape[0]), gold] - logsumexp(s, axis=1))


def margin(scores: np.ndarray, gold: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """Gold score minus the best distractor's, (n,); positive where the argmax is right."""
    rows = np.arange(scores.shape[0])
    others = np.where(np.isnan(scores), -np.inf, scores)
    others[rows, gold] = -np.inf
    return scores[rows, gold] + shift - others.max(axis=1)


def companion(scores: np.ndarray, gold: np.ndarray, kind: Companion, shift: float = 0.0) -> np.ndarray:
    return pgold(scores, gold, shift) if kind == "pgold" else margin(scores, gold, shift)


def gold_shift_for_accuracy(scores: np.ndarray, gold: np.ndarray, accuracy_delta: float,
                            kind: Companion) -> tuple[float, float]:
    """(shift, companion delta): the gold-score shift that raises accuracy by ``accuracy_delta`` on these
    items (the ``ceil(delta * n)``-th smallest gap of the wrong items), and the companion's mean change
    under it. NaN when the items cannot gain that much."""
    gaps = -margin(scores, gold)  # (n,) > 0 where wrong: the shift that makes the item right
    wrong = np.sort(gaps[gaps > 0])
    need = math.ceil(accuracy_delta * scores.shape[0] - 1e-9)
    if accuracy_delta <= 0 or need > wrong.size:
        return math.nan, math.nan
    shift = float(wrong[need - 1]) + 1e-9
    moved = companion(scores, gold, kind, shift) - companion(scores, gold, kind)
    return shift, float(moved.mean())


def swap_for_accuracy(scores: np.ndarray, gold: np.ndarray, accuracy_delta: float, kind: Companion) -> float:
    """The companion's expected mean change when, on ``ceil(delta * n)`` of the wrong items drawn at random, the
    gold choice and the best distractor trade scores (each such item becomes right): the mean over the wrong
    items of that swap's change, times the share of items swapped. NaN when too few items are wrong."""
    n = scores.shape[0]
    need = math.ceil(accuracy_delta * n - 1e-9)
    rows = np.flatnonzero(margin(scores, gold) < 0)
    if accuracy_delta <= 0 or need > rows.size:
        return math.nan
    wrong, g = scores[rows], gold[rows]
    others = np.where(np.isnan(wrong), -np.inf, wrong)
    others[np.arange(rows.size), g] = -np.inf
    best = others.argmax(axis=1)
    swapped = wrong.copy()
    idx = np.arange(rows.size)
    swapped[idx, g], swapped[idx, best] = wrong[idx, best], wrong[idx, g]
    change = companion(swapped, g, kind) - companion(wrong, g, kind)
    return float(change.mean() * need / n)


def paper_delta_for_companion(scores: np.ndarray, gold: np.ndarray, accuracy_delta: float,
                              kind: Companion) -> float:
    """The paper's accuracy delta in the companion's units: the smaller of the gold-shift and the swap
    translations (see the module docstring); NaN when neither effect can reach it on these items."""
    found = [v for v in (gold_shift_for_accuracy(scores, gold, accuracy_delta, kind)[1],
                         swap_for_accuracy(scores, gold, accuracy_delta, kind)) if np.isfinite(v)]
    return min(found, key=abs) if found else math.nan
