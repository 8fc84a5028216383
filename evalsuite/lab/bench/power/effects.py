"""What separates the two simulated models: the A/A noise, the true effects of the paper's size, the real-pair swap.

:func:`noise_for_discordance` sets the per-choice noise of two exchangeable copies;
:func:`apply_effect` / :func:`calibrate_effect` give the candidate a true effect that
moves its expected accuracy by the paper's delta; :func:`cluster_swap` is the A/A
(and, biased, the mix effect) of two real models.
"""

from __future__ import annotations

import math

import numpy as np


def noise_for_discordance(scores: np.ndarray, gold: np.ndarray, target: float, rng: np.random.Generator) -> float:
    """The per-choice noise sigma at which two noisy copies of ``scores`` disagree on ``target`` of the items."""
    def disc(sigma: float) -> float:
        a = np.argmax(scores + rng.normal(0, sigma, scores.shape), axis=1) == gold
        b = np.argmax(scores + rng.normal(0, sigma, scores.shape), axis=1) == gold
        return float(np.mean(a != b))
    low, high = 1e-4, 1.0
    while disc(high) < target:
        high *= 2
    for _ in range(30):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if disc(mid) < target else (low, mid)
    return math.sqrt(low * high)


# --- true effects of the paper's size ------------------------------------------------------------------------
# Each moves the candidate's expected accuracy by the paper's delta, and each favours a different test: a gold
# shift moves every item's margin by the same amount (the margin's home ground); sharpening scales every
# choice's score gap (items the model already gets right move most: p(gold) and the margin both see it, the
# accuracy only at the edge); swaps make the model learn a few items outright (gold and best distractor trade
# scores: the per-item score distribution is unchanged, only which choice is gold; the accuracy's home
# ground); a mix hands the candidate a real better model's rows cluster by cluster (no construction at all).
EFFECTS = ("shift", "sharpen", "swap", "mix")
EFFECT_TEXT = {
    "shift": "gold shift (the gold choice's score raised on every item)",
    "sharpen": "sharpen (every choice's score scaled by 1 + g before the noise: all gaps grow)",
    "swap": "swap (on a random fraction of items the gold and the best distractor trade scores)",
    "mix": "mix (each activity cluster's candidate rows are the real better model's with probability (1 + λ)/2)",
}


def apply_effect(kind: str, scores: np.ndarray, gold: np.ndarray, param: float, u: np.ndarray) -> np.ndarray:
    """The candidate's scores under a true effect of size ``param`` (``u`` (n,): uniform draws for swaps)."""
    rows = np.arange(scores.shape[0])
    if kind == "shift":
        out = scores.copy()
        out[rows, gold] += param
        return out
    if kind == "sharpen":
        return scores * (1.0 + param)
    if kind == "swap":
        out = scores.copy()
        others = scores.copy()
        others[rows, gold] = -np.inf
        best = np.argmax(others, axis=1)  # (n,) the best distractor
        pick = np.flatnonzero((u < param) & (scores[rows, best] > scores[rows, gold]))
        out[pick, gold[pick]], out[pick, best[pick]] = scores[pick, best[pick]], scores[pick, gold[pick]]
        return out
    raise ValueError(f"unknown effect {kind!r}")


def calibrate_effect(kind: str, scores: np.ndarray, gold: np.ndarray, sigma: float, target: float,
                     rng: np.random.Generator, reps: int = 20) -> float:
    """The effect size that raises the expected accuracy of a noisy copy by ``target`` (bisection on the mean
    over ``reps`` noise draws with common random numbers); NaN when no size reaches it (sharpening a model
    whose scores carry no signal)."""
    noise = rng.normal(0, sigma, (reps, *scores.shape))
    u = rng.random((reps, scores.shape[0]))
    base = np.mean(np.argmax(scores + noise, axis=2) == gold)

    def gain(param: float) -> float:
        cand = np.stack([apply_effect(kind, scores, gold, param, u[r]) for r in range(reps)]) + noise
        return float(np.mean(np.argmax(cand, axis=2) == gold) - base)
    low, high = 0.0, (0.01 if kind != "swap" else 1.0)
    while gain(high) < target:
        if kind == "swap" or high > 1e4:
            return math.nan
        high *= 2
    for _ in range(30):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if gain(mid) < target else (low, mid)
    return 0.5 * (low + high)


def cluster_swap(reference: np.ndarray, candidate: np.ndarray, clusters: np.ndarray,
                 rng: np.random.Generator, *, bias: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A/A from a real pair: per cluster a fair coin swaps the two models' rows (exact null, real dependence).
    With ``bias`` λ the second pair member is the candidate's with probability (1 + λ)/2 (the mix effect:
    λ times the real accuracy gap, in expectation)."""
    _, code = np.unique(clusters, return_inverse=True)
    swap = (rng.random(code.max() + 1) < 0.5 * (1.0 - bias))[code]  # (n,)
    shape = (-1,) + (1,) * (reference.ndim - 1)
    swap = swap.reshape(shape)
    return np.where(swap, candidate, reference), np.where(swap, reference, candidate)
