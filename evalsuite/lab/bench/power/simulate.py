"""One scenario's simulated comparisons: every test's rejection rate under A/A and under each true effect.

The tests are run as the product runs them (exact McNemar on the accuracy, the
sign-flip test of the p(gold) and margin companions, by item or by cluster);
only their p-values are kept. :func:`binomial_upper` is the most an exact 5 %
test may reject by chance over a number of draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from evalsuite.compare.choices import companion
from evalsuite.lab.bench.power.effects import apply_effect, calibrate_effect, cluster_swap, noise_for_discordance
from evalsuite.lab.bench.power.vectors import ItemVectors, resample_clusters, resample_strata
from evalsuite.stats import mcnemar_exact_pvalue
from evalsuite.stats import signflip_pvalue

ALPHA = 0.05


def mcnemar_p(ref_ok: np.ndarray, cand_ok: np.ndarray) -> float:
    return mcnemar_exact_pvalue(int(np.sum(ref_ok & ~cand_ok)), int(np.sum(~ref_ok & cand_ok)))


def signflip_p(diffs: np.ndarray, clusters: np.ndarray | None, n_resamples: int,
               rng: np.random.Generator) -> float:
    if clusters is not None:
        _, code = np.unique(clusters, return_inverse=True)
        diffs = np.bincount(code, weights=diffs)
    return signflip_pvalue(diffs, n_resamples=n_resamples, rng=rng)


@dataclass(frozen=True)
class Scenario:
    name: str
    items: ItemVectors
    n: int
    accuracy_delta: float
    discordance: float
    norm: bool
    clustered: bool  # HellaSwag: resample and test by activity cluster
    subject_sizes: dict[int, int] | None = None  # MMLU: real test items per subject
    partner: ItemVectors | None = None  # a second real model: its real differences instead of noise
    effects: tuple[str, ...] = ("shift",)


TESTS = ("mcnemar", "pgold", "margin")


def _pvalues(ref: np.ndarray, cand: np.ndarray, gold: np.ndarray, clusters: np.ndarray | None, n_resamples: int,
             rng: np.random.Generator) -> tuple[dict[str, float], float]:
    """Every test's p-value on one simulated pair of score matrices, and the realised accuracy gain."""
    ref_ok, cand_ok = np.argmax(ref, axis=1) == gold, np.argmax(cand, axis=1) == gold
    pv = {"mcnemar": mcnemar_p(ref_ok, cand_ok)}
    for kind in ("pgold", "margin"):
        d = companion(cand, gold, kind) - companion(ref, gold, kind)
        pv[kind] = signflip_p(d, None, n_resamples, rng)
        if clusters is not None:
            pv[f"{kind}_clustered"] = signflip_p(d, clusters, n_resamples, rng)
    if clusters is not None:
        pv["mcnemar_clustered"] = signflip_p(cand_ok.astype(float) - ref_ok, clusters, n_resamples, rng)
    return pv, float(np.mean(cand_ok) - np.mean(ref_ok))


def _effect_sizes(sc: Scenario, scores: np.ndarray, partner: np.ndarray | None, sigma: float,
                  rng: np.random.Generator) -> dict[str, float]:
    out = {}
    for kind in sc.effects:
        if kind == "mix":  # lambda: the share of the real accuracy gap the coin's bias passes on
            real = float(np.mean(np.argmax(partner, axis=1) == sc.items.gold)  # type: ignore[arg-type]
                         - np.mean(np.argmax(scores, axis=1) == sc.items.gold))
            out[kind] = sc.accuracy_delta / real if real >= sc.accuracy_delta else math.nan
        else:
            out[kind] = calibrate_effect(kind, scores if partner is None else partner, sc.items.gold, sigma,
                                         sc.accuracy_delta, rng)
    return out


def simulate(sc: Scenario, *, sims: int, n_resamples: int, seed: int,
             progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Rejection rates at alpha 0.05 of every test under A/A (``aa:<test>``) and under each effect model
    (``<effect>:<test>``; NaN where the effect cannot reach the paper's delta), the effect sizes
    (``size:<effect>``), the realised gains (``gain:<effect>``) and the A/A discordance."""
    rng = np.random.default_rng(seed)
    scores = sc.items.scores(sc.norm)
    partner = None if sc.partner is None else sc.partner.scores(sc.norm)
    sigma = 0.0 if partner is not None else noise_for_discordance(scores, sc.items.gold, sc.discordance, rng)
    sizes = _effect_sizes(sc, scores, partner, sigma, rng)
    tests = list(TESTS) + ([f"{t}_clustered" for t in TESTS] if sc.clustered else [])
    live = [e for e in sc.effects if math.isfinite(sizes[e])]
    hits = {(effect, t): 0 for effect in ("aa", *live) for t in tests}
    disc: list[float] = []
    gains: dict[str, list[float]] = {e: [] for e in live}
    for i in range(sims):
        if sc.clustered:
            index, clusters = resample_clusters(sc.items.groups, sc.n, rng)
        else:
            index, clusters = resample_strata(sc.items.groups, sc.subject_sizes or {}, rng), None
        s, gold = scores[index], sc.items.gold[index]
        u = rng.random(index.size)
        if partner is not None:  # the two real models, each cluster's rows swapped by a fair coin
            units = clusters if clusters is not None else index
            ref, cand = cluster_swap(s, partner[index], units, rng)
            pairs = {"aa": (ref, cand)}
            for e in live:
                pairs[e] = (cluster_swap(s, partner[index], units, rng, bias=sizes[e]) if e == "mix"
                            else (ref, apply_effect(e, cand, gold, sizes[e], u)))
        else:
            e_ref, e_cand = rng.normal(0, sigma, s.shape), rng.normal(0, sigma, s.shape)
            pairs = {"aa": (s + e_ref, s + e_cand)}
            pairs.update({e: (s + e_ref, apply_effect(e, s, gold, sizes[e], u) + e_cand) for e in live})
        for effect, (ref, cand) in pairs.items():
            pv, gain = _pvalues(ref, cand, gold, clusters, n_resamples, rng)
            if effect == "aa":
                disc.append(float(np.mean((np.argmax(ref, axis=1) == gold) != (np.argmax(cand, axis=1) == gold))))
            else:
                gains[effect].append(gain)
            for t in tests:
                hits[(effect, t)] += pv[t] < ALPHA
        if progress and (i + 1) % 50 == 0:
            progress(f"{sc.name}: {i + 1}/{sims}")
    out: dict[str, float] = {f"{effect}:{t}": math.nan for effect in sc.effects for t in tests}
    out.update({f"{effect}:{t}": hits[(effect, t)] / sims for effect, t in hits})
    out.update({f"size:{e}": sizes[e] for e in sc.effects})
    out.update({f"gain:{e}": float(np.mean(gains[e])) if e in gains else math.nan for e in sc.effects})
    out.update(sigma=sigma, discordance=float(np.mean(disc)), sims=sims)
    return out


def binomial_upper(sims: int, rate: float = ALPHA, *, family: int = 1) -> float:
    """The 95 % upper quantile of the rejection rate of a test of exact size ``rate`` over ``sims`` draws; with
    ``family`` rates checked at once, the 1 - 0.05/family quantile (Bonferroni), so that a check of k exact
    tests fails by chance at most 5 % of the time, not about k x 5 %."""
    return float(sstats.binom.ppf(1 - 0.05 / family, sims, rate) / sims)
