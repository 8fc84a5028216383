"""``results/stats/power.md``'s main table: every test's A/A rate and power per scenario and effect model.

:func:`power_table` simulates the scenarios built from the fixture (:func:`_scenarios`)
and writes the page's text; :func:`_pct` and :func:`_test_text` are how a rate and
a test are written on it (:mod:`.choice` reads them back).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from evalsuite.lab.bench.power.effects import EFFECT_TEXT, EFFECTS
from evalsuite.lab.bench.power.simulate import Scenario, binomial_upper, simulate
from evalsuite.lab.bench.power.vectors import SUBJECTS, ItemVectors, load_fixture


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _accuracy(items: ItemVectors, norm: bool) -> float:
    return float(np.mean(np.argmax(items.scores(norm), axis=1) == items.gold))


_TEST_TEXT = {"mcnemar": "McNemar (acc)", "pgold": "p(gold)", "margin": "margin"}


def _test_text(test: str) -> str:
    base = test.removesuffix("_clustered")
    return _TEST_TEXT[base] + (", clustered" if test.endswith("_clustered") else "")


def _scenarios(fixture: Path, discordance: float) -> list[Scenario]:
    data = np.load(fixture)
    mmlu, hs = load_fixture(fixture, "smollm2_mmlu"), load_fixture(fixture, "smollm2_hellaswag")
    sizes = {g: int(m) for g, m in enumerate(data["mmlu_subject_sizes"])}
    base, part = (load_fixture(fixture, f"mini_hellaswag_small-lr2-{m}") for m in ("baseline", "elementwise"))
    noise = ("shift", "sharpen", "swap")
    return [
        Scenario("MMLU acc", mmlu, 14_042, 0.005, discordance, False, False, sizes, effects=noise),
        Scenario("HellaSwag acc", hs, 10_042, 0.008, discordance, False, True, effects=noise),
        Scenario("HellaSwag acc_norm", hs, 10_042, 0.008, discordance, True, True, effects=noise),
        Scenario("HellaSwag acc, real pair (mini small-lr2 baseline / elementwise)", base, 10_042, 0.008, math.nan,
                 False, True, partner=part, effects=("shift", "swap", "mix")),
    ]


def _power_cell(res: dict[str, float], effect: str, test: str) -> str:
    key = f"{effect}:{test}"
    return "–" if key not in res or not math.isfinite(res[key]) else f"{_pct(res[key])}"


def power_table(fixture: Path, *, sims: int, n_resamples: int, seed: int, discordance: float,
                command: str) -> str:
    """``results/stats/power.md``: every test's A/A rate and its power under each effect model, per scenario."""
    mmlu, hs = load_fixture(fixture, "smollm2_mmlu"), load_fixture(fixture, "smollm2_hellaswag")
    bound = binomial_upper(sims)
    lines = ["# Power of the paired tests at the paper's effect sizes: McNemar vs p(gold) vs the margin, "
             "under four effect models", "",
             f"Made by `{command}` ({time.strftime('%Y-%m-%d')}). Per-item vectors (`tests/stats/data/per_item.npz`): "
             f"SmolLM2-135M (the PyPI GGUF, fp32, CPU) 0-shot on real MMLU ({mmlu.gold.size} items, the first "
             f"{mmlu.gold.size // len(SUBJECTS)} of each subject; accuracy {_pct(_accuracy(mmlu, False))}, i.e. "
             f"chance) and HellaSwag (the first {hs.gold.size} items, {len(np.unique(hs.groups))} activities; acc "
             f"{_pct(_accuracy(hs, False))}, acc_norm {_pct(_accuracy(hs, True))}), and the real pair of the mini "
             "small-lr2 baseline and elementwise models on 2,000 HellaSwag items (acc 27.4 % and 28.6 %). Each "
             "simulated comparison resamples them to the real n (MMLU within subject to its 14,042 test items; "
             "HellaSwag by whole activity clusters to 10,042) and makes two exchangeable models: SmolLM2's scores "
             f"plus independent Gaussian noise per choice at {_pct(discordance)} discordance, or the real pair with "
             "each activity cluster's two rows swapped by a fair coin (exact null, real dependence). A/A is that "
             "pair; each effect model then moves the candidate's expected accuracy by the paper's delta (+0.5 MMLU, "
             "+0.8 HellaSwag points; sizes and realised gains below):", "",
             *[f"* **{k}**: {v}" for k, v in EFFECT_TEXT.items()], "",
             "A gold shift moves every item's margin by the same amount, so it favours the margin by construction; "
             "swaps leave each item's set of scores unchanged (only which one is gold), so they favour no "
             "continuous score; the mix uses no construction at all. Tests at two-sided α = 0.05: exact McNemar "
             f"on the accuracy; paired sign-flip test ({n_resamples} flips) of p(gold) and of the "
             "gold-vs-best-distractor margin (same normalisation as the accuracy); HellaSwag also with whole "
             f"activity clusters flipped (`clustered`, what the leaderboard runs). {sims} simulated comparisons "
             f"per cell, the same draws for every test of a row; an exact 5 % test rejects at most {_pct(bound)} "
             "of A/A draws (95 % binomial quantile). `–`: the effect cannot reach the paper's delta on these "
             "vectors (sharpening raw log-likelihood sums: the noise-free model's accuracy is the ceiling).", "",
             "| scenario | n | discordance | test | A/A rate | power: gold shift | power: sharpen | power: swap "
             "| power: mix |",
             "|:---|---:|---:|:---|---:|---:|---:|---:|---:|"]
    sizes_lines = ["", "Effect sizes (calibrated on the fixture) and the mean realised accuracy gain at the real n:", "",
                   "| scenario | effect | size | realised Δ acc |", "|:---|:---|---:|---:|"]
    for sc in _scenarios(fixture, discordance):
        res = simulate(sc, sims=sims, n_resamples=n_resamples, seed=seed,
                       progress=lambda m: print(m, file=sys.stderr, flush=True))
        tests = [t.split(":", 1)[1] for t in res if t.startswith("aa:")]
        for t in tests:
            aa = res["aa:" + t]
            flag = "" if aa <= bound else " ⚠"
            lines.append(f"| {sc.name} | {sc.n:,} | {_pct(res['discordance'])} | {_test_text(t)} | {_pct(aa)}{flag} | "
                         + " | ".join(_power_cell(res, e, t) for e in EFFECTS) + " |")
        for e in sc.effects:
            size, gain = res[f"size:{e}"], res[f"gain:{e}"]
            sizes_lines.append(f"| {sc.name} | {e} | {'–' if not math.isfinite(size) else f'{size:.4g}'} | "
                               f"{'–' if not math.isfinite(gain) else f'{100 * gain:+.2f} pt'} |")
    return "\n".join(lines + sizes_lines) + "\n"
