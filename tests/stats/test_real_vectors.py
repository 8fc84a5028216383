"""Calibration and power of the new tests on real per-item vectors (``tests/stats/data/per_item.npz``).

The fixture holds derived numbers only: per-choice log-likelihoods, gold indices,
choice lengths and integer codes of the MMLU subject / HellaSwag activity, for
SmolLM2-135M (0-shot, real MMLU and HellaSwag) and the mini trio (small-lr2
baseline / headwise / elementwise, real HellaSwag). ``python -m
evalsuite.lab.bench.power fixture`` made it; ``results/stats/power.md`` is the full
power table at the real n made from it.

A/A designs: (1) two real models' vectors, each activity cluster's two rows
swapped by a fair coin (the null holds exactly; the real within-cluster
dependence and the real discordance are kept); (2) SmolLM2's vectors resampled by
cluster and made into two exchangeable noisy copies. Every new test must reject
at most the binomial quantile of an exact 5 % test: the 95 % quantile, Bonferroni-
corrected over the k rates one test function checks at once (1 - 0.05/k), so a
calibrated family fails by chance at most 5 % of the time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalsuite import stats
from evalsuite.lab.bench.power import (ItemVectors, Scenario, binomial_upper, cluster_swap, load_fixture,
                                   resample_clusters, simulate)
from evalsuite.compare.choices import COMPANION_FOR, companion

FIXTURE = Path(__file__).parent / "data" / "per_item.npz"
ALPHA = 0.05
MINI = ("small-lr2-baseline", "small-lr2-headwise", "small-lr2-elementwise")


def _rate(p: list[float]) -> float:
    return float(np.mean(np.asarray(p) < ALPHA))


def _check(name: str, pvalues: list[float], family: int) -> float:
    """One of ``family`` exact tests checked together: within the family's binomial bound."""
    rate, bound = _rate(pvalues), binomial_upper(len(pvalues), family=family)
    print(f"\nA/A {name}: {rate:.3f} over {len(pvalues)} (bound {bound:.3f})")
    assert rate <= bound, f"{name}: A/A rate {rate:.3f}"
    return rate


@pytest.mark.parametrize("candidate", MINI[1:])
def test_aa_on_real_mini_pairs_with_cluster_swaps(candidate: str) -> None:
    base, cand = load_fixture(FIXTURE, f"mini_hellaswag_{MINI[0]}"), load_fixture(FIXTURE, f"mini_hellaswag_{candidate}")
    assert np.array_equal(base.gold, cand.gold) and np.array_equal(base.groups, cand.groups)
    sims, rng = 300, np.random.default_rng(10)
    kinds = ("pgold", "margin")
    pv: dict[str, list[float]] = {k: [] for k in (*kinds, *(f"{k}_clustered" for k in kinds), "mcnemar_clustered")}
    for i in range(sims):
        index, clusters = resample_clusters(base.groups, 2000, rng)
        ref, cnd = cluster_swap(base.resps[index], cand.resps[index], clusters, rng)
        gold = base.gold[index]
        for kind in kinds:
            c_ref, c_cand = companion(ref, gold, kind), companion(cnd, gold, kind)
            pv[kind].append(stats.paired_score_test(c_ref, c_cand, n_resamples=199, rng=i).pvalue)
            pv[f"{kind}_clustered"].append(stats.paired_score_test(c_ref, c_cand, clusters=clusters,
                                                                   n_resamples=199, rng=i).pvalue)
        ok_ref, ok_cand = np.argmax(ref, axis=1) == gold, np.argmax(cnd, axis=1) == gold
        pv["mcnemar_clustered"].append(stats.clustered_mcnemar(ok_ref, ok_cand, clusters=clusters, n_resamples=199,
                                                               rng=i).pvalue)
    for kind in kinds:
        _check(f"{candidate} {kind} clustered", pv[f"{kind}_clustered"], family=3)
    _check(f"{candidate} McNemar clustered", pv["mcnemar_clustered"], family=3)
    # The same differences tested item by item: activity clusters carry real dependence, and an item-level
    # test counts it as independent evidence (measured 10-13 % here): why HellaSwag is clustered.
    for kind in kinds:
        print(f"A/A {candidate} {kind} item-level (not cluster-aware): {_rate(pv[kind]):.3f}")
    assert _rate(pv["pgold"]) + _rate(pv["margin"]) > _rate(pv["pgold_clustered"]) + _rate(pv["margin_clustered"])


def _smollm2(task: str) -> ItemVectors:
    return load_fixture(FIXTURE, f"smollm2_{task}")


@pytest.mark.parametrize("norm", [False, True])
def test_aa_on_smollm2_hellaswag_clustered_and_not(norm: bool) -> None:
    # Two exchangeable noisy copies of SmolLM2's real choice scores (15 % discordance), 2,000 items drawn by
    # whole activity clusters: every test, clustered or not, within the binomial bound.
    sc = Scenario("HellaSwag", _smollm2("hellaswag"), 2000, 0.008, 0.15, norm, True)
    res = simulate(sc, sims=400, n_resamples=199, seed=40 + norm)
    tests = ("mcnemar", "pgold", "margin", "mcnemar_clustered", "pgold_clustered", "margin_clustered")
    for test in tests:  # six exact tests checked at once: the family's bound (one 95 % bound each fails ~26 %)
        print(f"A/A SmolLM2 HellaSwag {'acc_norm' if norm else 'acc'} {test}: {res['aa:' + test]:.3f}")
        assert res[f"aa:{test}"] <= binomial_upper(400, family=len(tests)), test


def test_aa_on_smollm2_mmlu() -> None:
    data = np.load(FIXTURE)
    sizes = {g: int(round(m * 2000 / 14_042)) for g, m in enumerate(data["mmlu_subject_sizes"])}
    sc = Scenario("MMLU", _smollm2("mmlu"), sum(sizes.values()), 0.005, 0.15, False, False, sizes)
    res = simulate(sc, sims=400, n_resamples=199, seed=30)
    tests = ("mcnemar", "pgold", "margin")
    for test in tests:
        print(f"A/A SmolLM2 MMLU {test}: {res['aa:' + test]:.3f}")
        assert res[f"aa:{test}"] <= binomial_upper(400, family=len(tests)), test


@pytest.mark.parametrize("task", ["mmlu", "hellaswag_acc", "hellaswag_acc_norm"])
def test_chosen_companion_outpowers_mcnemar_under_swaps_at_the_real_n(task: str) -> None:
    # The committed table (results/stats/power.md) in small, under the effect model that favours no continuous
    # score (a few items learnt outright: gold and best distractor trade scores): at the real n and the paper's
    # delta, the companion the leaderboard shows (COMPANION_FOR) detects the effect far more often than McNemar.
    norm = task.endswith("norm")
    if task == "mmlu":
        sizes = {g: int(m) for g, m in enumerate(np.load(FIXTURE)["mmlu_subject_sizes"])}
        assert sum(sizes.values()) == 14_042
        sc = Scenario("MMLU", _smollm2("mmlu"), 14_042, 0.005, 0.15, False, False, sizes, effects=("swap",))
    else:
        sc = Scenario("HellaSwag", _smollm2("hellaswag"), 10_042, 0.008, 0.15, norm, True, effects=("swap",))
    res = simulate(sc, sims=60, n_resamples=199, seed=50)
    print(f"\n{task}: {res}")
    assert abs(res["gain:swap"] - sc.accuracy_delta) < 0.003  # the swaps move accuracy by the paper's delta
    clustered = "_clustered" if sc.clustered else ""
    chosen = COMPANION_FOR["mmlu_acc" if task == "mmlu" else task]
    other = "margin" if chosen == "pgold" else "pgold"
    power = {t: res[f"swap:{t}{clustered}"] for t in ("mcnemar", chosen, other)}
    assert power[chosen] > power["mcnemar"] + 0.05, power
    assert power[chosen] >= power[other] - 0.05, power  # the choice is not the weaker companion
