"""The statistics' lab: real per-item vectors, A/A calibration and the power of McNemar vs p(gold).

``python -m evalsuite.lab.bench.power fixture`` pulls the compact per-item vectors
the calibration tests resample out of run records — per-choice log-likelihoods,
the gold index, choice lengths, and integer codes for the MMLU subject and the
HellaSwag activity (derived numbers, no benchmark text) — into one ``.npz``.
``python -m evalsuite.lab.bench.power table`` simulates the paper's effect sizes at
the real n from it and writes ``results/stats/power.md``.

How a simulated comparison is built from one real model's per-item choice
scores ``S`` (items x choices):

1. resample to the real n: MMLU within each subject to its real test size
   (14,042 in all); HellaSwag by whole activity clusters until 10,042 items;
2. two exchangeable models: ``S + e_ref`` and ``S + e_cand`` with independent
   Gaussian noise per choice whose sigma is set so that the two accuracies
   disagree on a chosen fraction of items (the discordance; the issue's 15 %);
3. a true effect: the candidate's gold score is raised by the shift that moves
   its expected accuracy by the paper's delta (+0.5 MMLU, +0.8 HellaSwag points);
4. every test on the same draw: exact McNemar on the accuracy, and the
   sign-flip test of the p(gold) and of the margin companion (HellaSwag also
   over activity clusters).

The real-pair A/A design (:func:`cluster_swap`) uses two real models' vectors:
for each cluster a fair coin decides whether the two models trade places, so
the null holds exactly while the real within-cluster dependence is kept.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sstats

from evalsuite.compare.choices import choice_scores, companion, gold_index
from evalsuite.families.mmlu import SUBJECT_CATEGORY
from evalsuite.records import load_run
from evalsuite.stats import mcnemar_exact_pvalue
from evalsuite.stats import signflip_pvalue

SUBJECTS = tuple(sorted(SUBJECT_CATEGORY))
ALPHA = 0.05


@dataclass(frozen=True)
class ItemVectors:
    """One model's per-item choice scores on one task (rows aligned with ``gold``/``groups``)."""

    resps: np.ndarray  # (n, k) raw log-likelihoods
    gold: np.ndarray  # (n,) gold choice index
    groups: np.ndarray  # (n,) MMLU subject code / HellaSwag activity code
    chars: np.ndarray | None = None  # (n, k) choice lengths in characters (acc_norm)

    def scores(self, norm: bool) -> np.ndarray:
        return self.resps / self.chars if norm else self.resps

    def take(self, index: np.ndarray) -> ItemVectors:
        return ItemVectors(self.resps[index], self.gold[index], self.groups[index],
                           None if self.chars is None else self.chars[index])


def load_fixture(path: Path | str, prefix: str) -> ItemVectors:
    """``prefix`` = ``smollm2_mmlu``, ``smollm2_hellaswag``, ``mini_hellaswag_<model>``, ..."""
    data = np.load(path)
    chars = data.get(f"{prefix}_chars") if f"{prefix}_chars" in data else None
    return ItemVectors(data[f"{prefix}_resps"].astype(np.float64), data[f"{prefix}_gold"].astype(np.intp),
                       data[f"{prefix}_groups"].astype(np.intp), None if chars is None else chars.astype(np.float64))


# --- drawing comparisons ------------------------------------------------------------------------------------

def resample_strata(groups: np.ndarray, sizes: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """Item indices: within each group, ``sizes[group]`` draws with replacement (MMLU to its real sizes)."""
    parts = [rng.choice(np.flatnonzero(groups == g), size=m) for g, m in sizes.items() if m > 0]
    return np.concatenate(parts)


def resample_clusters(groups: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and new cluster ids (a drawn cluster twice is two clusters): whole clusters drawn with
    replacement until ``n`` items (the last one cut), as HellaSwag's activities would be sampled."""
    labels = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in labels}
    mean_size = len(groups) / len(labels)
    draws = rng.choice(labels, size=int(2 * n / mean_size) + 10)
    index = np.concatenate([members[g] for g in draws])
    ids = np.concatenate([np.full(members[g].size, i) for i, g in enumerate(draws)])
    if index.size < n:
        return resample_clusters(groups, n, rng)
    return index[:n], ids[:n]


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


# --- the tests, as the product runs them (p-values only: the power table needs nothing else) ---------------

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


# --- fixture ------------------------------------------------------------------------------------------------

def _unit_vectors(run_dir: Path, model: str, task: str, activities: list[str] | None) -> dict[str, np.ndarray]:
    unit = load_run(run_dir).units[(model, task)]
    samples = sorted(unit.samples or [], key=lambda s: (s.task, s.doc_id))
    scores = choice_scores([s.resps for s in samples])
    gold = gold_index([s.target for s in samples], scores.shape[1])
    recorded = np.array([s.scores["acc"] for s in samples])
    if not np.array_equal(np.argmax(scores, axis=1) == gold, recorded == 1.0):
        raise SystemExit(f"{run_dir} {model}/{task}: argmax of resps disagrees with the recorded acc")
    out = {"resps": scores.astype(np.float32), "gold": gold.astype(np.int8)}
    if task == "es_mmlu":
        out["groups"] = np.array([SUBJECTS.index(s.task.removeprefix("es_mmlu_")) for s in samples], np.int16)
    else:
        labels = [s.cluster if s.cluster is not None else activities[s.doc_id] for s in samples]  # type: ignore[index]
        names = sorted(set(labels))
        out["groups"] = np.array([names.index(a) for a in labels], dtype=np.int16)
        if all(s.choice_chars is not None for s in samples):
            out["chars"] = np.array([s.choice_chars for s in samples], dtype=np.int16)
    return out


def make_fixture(smollm2_runs: dict[str, Path], mini_run: Path, mini_models: Sequence[str], data_dir: Path,
                 out: Path) -> None:
    """Write the ``.npz`` of per-item vectors (see the module docstring); ``smollm2_runs`` maps
    ``es_mmlu``/``es_hellaswag`` to the run folder holding SmolLM2's unit of that task."""
    activities = [json.loads(line)["activity_label"]
                  for line in (data_dir / "hellaswag" / "hellaswag_val.jsonl").read_text().splitlines() if line]
    arrays: dict[str, np.ndarray] = {}
    for task, run in smollm2_runs.items():
        for key, value in _unit_vectors(run, "smollm2-135m", task, activities).items():
            arrays[f"smollm2_{task.removeprefix('es_')}_{key}"] = value
    for model in mini_models:
        for key, value in _unit_vectors(mini_run, model, "es_hellaswag", activities).items():
            arrays[f"mini_hellaswag_{model}_{key}"] = value
    sizes = {s: sum(1 for _ in csv.reader((data_dir / "mmlu" / "test" / f"{s}_test.csv").open(newline="")))
             for s in SUBJECTS}
    arrays["mmlu_subject_sizes"] = np.array([sizes[s] for s in SUBJECTS], dtype=np.int32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)


# --- the table ----------------------------------------------------------------------------------------------

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


# --- the choice ---------------------------------------------------------------------------------------------
# Each accuracy metric: the table's scenarios that speak for it, and whether the page clusters it.
CHOICE_SCENARIOS: dict[str, tuple[tuple[str, ...], bool]] = {
    "mmlu_acc": (("MMLU acc",), False),
    "hellaswag_acc": (("HellaSwag acc", "HellaSwag acc, real pair (mini small-lr2 baseline / elementwise)"), True),
    "hellaswag_acc_norm": (("HellaSwag acc_norm",), True),
}
FAIR_EFFECTS = ("sharpen", "swap", "mix")  # the gold shift favours the margin by construction: not a judge
TIE = 0.03  # within Monte-Carlo error of 400 draws: p(gold) stays (bounded, read as a probability)
CHOICE_HEADING = "## The choice"


def read_power_table(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """{(scenario, test text): {"aa" | effect: rate}} from ``power.md``'s main table (NaN for "–")."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 + len(EFFECTS) or not cells[1].replace(",", "").isdigit():
            continue
        def rate(cell: str) -> float:
            value = cell.split()[0] if cell and cell != "–" else ""
            return float(value.rstrip("%")) / 100 if value else math.nan
        out[(cells[0], cells[3])] = {"aa": rate(cells[4]), **{e: rate(c) for e, c in zip(EFFECTS, cells[5:])}}
    return out


def choose_companions(rows: dict[tuple[str, str], dict[str, float]]) -> dict[str, tuple[str, float, float]]:
    """{accuracy metric: (companion, its worst fair power, the other's)}: the companion whose lowest power over
    the fair effect models (and the metric's scenarios, clustered where the page clusters) is higher; within
    :data:`TIE`, p(gold)."""
    out = {}
    for metric, (scenarios, clustered) in CHOICE_SCENARIOS.items():
        worst = {}
        for kind in ("pgold", "margin"):
            test = _test_text(kind + ("_clustered" if clustered else ""))
            powers = [rows[(sc, test)][e] for sc in scenarios for e in FAIR_EFFECTS if (sc, test) in rows]
            worst[kind] = min((p for p in powers if math.isfinite(p)), default=math.nan)
        pick = "margin" if worst["margin"] > worst["pgold"] + TIE else "pgold"
        out[metric] = (pick, worst[pick], worst["margin" if pick == "pgold" else "pgold"])
    return out


def choice_section(text: str) -> str:
    """The markdown section that states the choice the table supports (``evalsuite.compare.choices``'s
    COMPANION_FOR must agree: tests/stats/test_power_choice.py)."""
    lines = [CHOICE_HEADING, "",
             "Per accuracy metric, the companion whose **lowest** power over the effect models that favour no "
             f"score by construction ({', '.join(FAIR_EFFECTS)}; the gold shift is shown, not used) and over the "
             "metric's scenarios (clustered tests where the leaderboard clusters) is higher; within "
             f"{100 * TIE:.0f} points, p(gold) (bounded, read as a probability).", "",
             "| accuracy | companion | its worst fair power | the other's |", "|:---|:---|---:|---:|"]
    for metric, (pick, mine, other) in choose_companions(read_power_table(text)).items():
        lines.append(f"| {metric} | {pick} | {_pct(mine)} | {_pct(other)} |")
    return "\n".join(lines) + "\n"


def with_choice(text: str) -> str:
    """``text`` with its choice section (re)written at the end."""
    head = text.split("\n" + CHOICE_HEADING)[0].rstrip("\n")
    return head + "\n\n" + choice_section(head)


# --- the length x model interaction on real RULER records -------------------------------------------------
INTERACTION_HEADING = "## The length × model interaction: A/A on real RULER records"


def interaction_aa(run_dir: Path, reference: str, candidate: str, *, sims: int, n_resamples: int,
                   seed: int) -> tuple[list[int], list[int], float]:
    """(lengths, items per length, A/A rejection rate) of the RULER trend test on two models' real per-item
    RULER scores, each item's pair swapped by a fair coin (the null "the same delta at every length" holds
    exactly; the real score distribution, mostly 0/1 and few items per length, is kept)."""
    from evalsuite import stats
    from evalsuite.compare.join import pair_units
    from evalsuite.compare.metrics import paired_metrics

    run = load_run(run_dir)
    unit = next(t for (m, t) in run.units if m == reference and "ruler" in t)
    rows = [m for m in paired_metrics(pair_units(run.units[(reference, unit)], run.units[(candidate, unit)]))
            if m.spec.family == "ruler"]
    lengths = [int(m.spec.key.removeprefix("ruler_")) for m in rows]
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(sims):
        refs, cands = [], []
        for m in rows:
            swap = rng.random(m.reference.size) < 0.5
            refs.append(np.where(swap, m.candidate, m.reference))
            cands.append(np.where(swap, m.reference, m.candidate))
        res = stats.length_interaction(refs, cands, lengths, strata=[m.strata for m in rows],
                                       n_resamples=n_resamples, rng=i)
        hits += res.pvalue < ALPHA
    return lengths, [m.reference.size for m in rows], hits / sims


def interaction_section(run_dir: Path, reference: str, candidate: str, *, sims: int, n_resamples: int,
                        seed: int, command: str) -> str:
    lengths, sizes, rate = interaction_aa(run_dir, reference, candidate, sims=sims, n_resamples=n_resamples,
                                          seed=seed)
    bound = binomial_upper(sims)
    return "\n".join([
        INTERACTION_HEADING, "",
        f"Made by `{command}`. The trend test the leaderboard runs for RULER with three or more lengths (slope of "
        "the paired Δ on log2 length, per-length bootstrap, Student-t p-value with the smallest length's n - 1 "
        "degrees of freedom) on the real per-item RULER scores of "
        f"`{candidate}` and `{reference}` in `{run_dir}` (lengths {', '.join(map(str, lengths))}; "
        f"{', '.join(map(str, sizes))} items), each item's two scores swapped by a fair coin in each of {sims} "
        f"draws ({n_resamples} bootstrap resamples): A/A rejection rate at α = 0.05 **{_pct(rate)}** (a test of "
        f"exact size 5 % rejects at most {_pct(bound)} of them, the 95 % binomial quantile). Its A/A on synthetic RULER scores with 120 "
        "items per length is in `tests/stats/test_clustered.py`.", ""])


def with_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section under ``heading`` replaced (or added before the choice section)."""
    parts = text.split("\n" + CHOICE_HEADING)
    head = parts[0].split("\n" + heading)[0].rstrip("\n")
    tail = ("\n" + CHOICE_HEADING + parts[1]) if len(parts) > 1 else ""
    return head + "\n\n" + section.rstrip("\n") + "\n" + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.power")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("--smollm2-mmlu-run", type=Path)
    f.add_argument("--smollm2-hellaswag-run", type=Path)
    f.add_argument("--mini-run", type=Path, required=True)
    f.add_argument("--mini-models", default="small-lr2-baseline,small-lr2-headwise,small-lr2-elementwise")
    f.add_argument("--data", type=Path, required=True)
    f.add_argument("--out", type=Path, default=Path("tests/stats/data/per_item.npz"))
    t = sub.add_parser("table")
    t.add_argument("--fixture", type=Path, default=Path("tests/stats/data/per_item.npz"))
    t.add_argument("--sims", type=int, default=400)
    t.add_argument("--resamples", type=int, default=999)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--discordance", type=float, default=0.15)
    t.add_argument("--out", type=Path, default=Path("results/stats/power.md"))
    c = sub.add_parser("choose", help="(re)write the choice section of an existing power.md from its table")
    c.add_argument("--table", type=Path, default=Path("results/stats/power.md"))
    i = sub.add_parser("interaction", help="(re)write power.md's A/A section of the RULER length trend test")
    i.add_argument("--run", type=Path, required=True, help="a run folder with two models' RULER at >= 3 lengths")
    i.add_argument("--reference", required=True)
    i.add_argument("--candidate", required=True)
    i.add_argument("--sims", type=int, default=400)
    i.add_argument("--resamples", type=int, default=499)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--table", type=Path, default=Path("results/stats/power.md"))
    args = p.parse_args(argv)
    if args.cmd == "interaction":
        command = "python -m evalsuite.lab.bench.power " + " ".join(argv if argv is not None else sys.argv[1:])
        section = interaction_section(args.run, args.reference, args.candidate, sims=args.sims,
                                      n_resamples=args.resamples, seed=args.seed, command=command)
        args.table.write_text(with_section(args.table.read_text(), INTERACTION_HEADING, section))
        print(section)
        return 0
    if args.cmd == "choose":
        args.table.write_text(with_choice(args.table.read_text()))
        print(choice_section(args.table.read_text()))
        return 0
    if args.cmd == "fixture":
        runs = {t: r for t, r in (("es_mmlu", args.smollm2_mmlu_run), ("es_hellaswag", args.smollm2_hellaswag_run))
                if r is not None}
        make_fixture(runs, args.mini_run, args.mini_models.split(","), args.data, args.out)
        return 0
    command = "python -m evalsuite.lab.bench.power " + " ".join(argv if argv is not None else sys.argv[1:])
    text = with_choice(power_table(args.fixture, sims=args.sims, n_resamples=args.resamples, seed=args.seed,
                                   discordance=args.discordance, command=command))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
