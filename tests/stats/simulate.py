"""Data generators for the calibration tests: realistic paired model outputs.

Shapes are (sims, n): one row per simulated comparison, vectorised so that
thousands of comparisons take a fraction of a second to draw.
"""

from __future__ import annotations

import numpy as np


def discordance(mean: float, kappa: float) -> float:
    """Expected fraction of discordant pairs when two models draw correctness
    independently from the same per-item difficulty p_i ~ Beta(mean * kappa,
    (1 - mean) * kappa): 2 E[p (1 - p)] = 2 mean (1 - mean) kappa / (kappa + 1)."""
    return 2.0 * mean * (1.0 - mean) * kappa / (kappa + 1.0)


def kappa_for(mean: float, psi: float) -> float:
    """The Beta concentration that gives discordance ``psi`` (inverse of :func:`discordance`)."""
    ratio = psi / (2.0 * mean * (1.0 - mean))
    return ratio / (1.0 - ratio)


def binary_pairs(rng: np.random.Generator, sims: int, n: int, *, mean: float = 0.6,
                 psi: float = 0.15, lift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated correctness (bool (sims, n) each) of a reference and a candidate.

    Items have a difficulty p_i ~ Beta (easy items are right for both models,
    hard ones wrong for both: that is the correlation); both models draw
    correctness independently given p_i. ``lift`` plants a true accuracy delta:
    the candidate additionally gets each item right with probability
    ``lift / (1 - mean)``, which adds exactly ``lift`` to its expected accuracy.
    """
    kappa = kappa_for(mean, psi)
    p = rng.beta(mean * kappa, (1.0 - mean) * kappa, size=(sims, n))
    reference = rng.random((sims, n)) < p
    candidate = rng.random((sims, n)) < p
    if lift:
        candidate |= rng.random((sims, n)) < lift / (1.0 - mean)
    return reference, candidate


def ruler_scores(rng: np.random.Generator, sims: int, n: int, *, needles: int = 4
                 ) -> tuple[np.ndarray, np.ndarray]:
    """RULER-like string_match_all fractions (hits / needles) for two equal models."""
    p = rng.beta(0.5, 0.5, size=(sims, n))
    return rng.binomial(needles, p) / needles, rng.binomial(needles, p) / needles


def documents(rng: np.random.Generator, sims: int, n: int, *, shift_nats: float = 0.0,
              length_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-document NLL (nats) of two models and word counts, WikiText-like.

    Document lengths are log-normal around 2,000 words (a few documents dominate
    the sums, as in WikiText's 62 test articles); each document has its own
    difficulty (nats per word ~ Gamma, mean 3) shared by both models plus a
    model-specific per-document deviation. ``shift_nats`` makes the candidate
    worse by that many nats per word, i.e. its true log-PPL delta.
    """
    counts = np.round(rng.lognormal(np.log(2000.0), length_sigma, size=(sims, n))) + 1.0
    rate = rng.gamma(30.0, 0.1, size=(sims, n))
    reference = counts * (rate + rng.normal(0.0, 0.05, size=(sims, n)))
    candidate = counts * (rate + shift_nats + rng.normal(0.0, 0.05, size=(sims, n)))
    return reference, candidate, counts


def mc_bound(rate: float, sims: int, sigmas: float = 3.0) -> float:
    """``rate`` plus ``sigmas`` Monte-Carlo standard errors of a rate over ``sims`` draws."""
    return rate + sigmas * float(np.sqrt(rate * (1.0 - rate) / sims))
