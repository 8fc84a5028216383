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

from evalsuite.compare._choices import choice_scores, companion, gold_index
from evalsuite.compare._mmlu import SUBJECT_CATEGORY
from evalsuite.records import load_run
from evalsuite.stats import mcnemar_exact_pvalue
from evalsuite.stats._resample import signflip_pvalue

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


def shift_for_accuracy(scores: np.ndarray, gold: np.ndarray, sigma: float, target: float,
                       rng: np.random.Generator, reps: int = 20) -> float:
    """The gold-score shift that raises the expected accuracy of a noisy copy by ``target`` (bisection on the
    mean over ``reps`` noise draws with common random numbers)."""
    noise = rng.normal(0, sigma, (reps, *scores.shape))
    rows = np.arange(scores.shape[0])

    def gain(shift: float) -> float:
        s = scores + noise
        base = np.mean(np.argmax(s, axis=2) == gold)
        s[:, rows, gold] += shift
        return float(np.mean(np.argmax(s, axis=2) == gold) - base)
    low, high = 0.0, 0.01
    while gain(high) < target:
        high *= 2
    for _ in range(30):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if gain(mid) < target else (low, mid)
    return 0.5 * (low + high)


def cluster_swap(reference: np.ndarray, candidate: np.ndarray, clusters: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A/A from a real pair: per cluster a fair coin swaps the two models' rows (exact null, real dependence)."""
    _, code = np.unique(clusters, return_inverse=True)
    swap = (rng.random(code.max() + 1) < 0.5)[code]  # (n,)
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


def simulate(sc: Scenario, *, sims: int, n_resamples: int, seed: int,
             progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Rejection rates at alpha 0.05 of every test under A/A and under the paper-size effect, and the
    realised discordance/accuracy gain."""
    rng = np.random.default_rng(seed)
    scores = sc.items.scores(sc.norm)
    partner = None if sc.partner is None else sc.partner.scores(sc.norm)
    sigma = 0.0 if partner is not None else noise_for_discordance(scores, sc.items.gold, sc.discordance, rng)
    shift = shift_for_accuracy(scores if partner is None else partner, sc.items.gold, sigma, sc.accuracy_delta, rng)
    tests = ["mcnemar", "pgold", "margin"] + (["mcnemar_clustered", "pgold_clustered", "margin_clustered"]
                                               if sc.clustered else [])
    hits = {(effect, t): 0 for effect in ("aa", "effect") for t in tests}
    realised, gains = [], []
    rows = np.arange(sc.n)
    for i in range(sims):
        if sc.clustered:
            index, clusters = resample_clusters(sc.items.groups, sc.n, rng)
        else:
            index, clusters = resample_strata(sc.items.groups, sc.subject_sizes or {}, rng), None
        s, gold = scores[index], sc.items.gold[index]
        if partner is not None:  # the two real models, each cluster's rows swapped by a fair coin
            ref, cand = cluster_swap(s, partner[index], clusters if clusters is not None else index, rng)
        else:
            ref = s + rng.normal(0, sigma, s.shape)
            cand = s + rng.normal(0, sigma, s.shape)
        for effect in ("aa", "effect"):
            c = cand.copy()
            if effect == "effect":
                c[rows, gold] += shift
            ref_ok, cand_ok = np.argmax(ref, axis=1) == gold, np.argmax(c, axis=1) == gold
            if effect == "effect":
                gains.append(float(np.mean(cand_ok) - np.mean(ref_ok)))
            else:
                realised.append(float(np.mean(ref_ok != cand_ok)))
            pv = {"mcnemar": mcnemar_p(ref_ok, cand_ok)}
            for kind in ("pgold", "margin"):
                d = companion(c, gold, kind) - companion(ref, gold, kind)
                pv[kind] = signflip_p(d, None, n_resamples, rng)
                if sc.clustered:
                    pv[f"{kind}_clustered"] = signflip_p(d, clusters, n_resamples, rng)
            if sc.clustered:
                pv["mcnemar_clustered"] = signflip_p(cand_ok.astype(float) - ref_ok, clusters, n_resamples, rng)
            for t in tests:
                hits[(effect, t)] += pv[t] < ALPHA
        if progress and (i + 1) % 50 == 0:
            progress(f"{sc.name}: {i + 1}/{sims}")
    out = {f"{effect}:{t}": hits[(effect, t)] / sims for effect, t in hits}
    out.update(sigma=sigma, shift=shift, discordance=float(np.mean(realised)), gain=float(np.mean(gains)),
               sims=sims)
    return out


def binomial_upper(sims: int, rate: float = ALPHA) -> float:
    """The 95 % upper quantile of the rejection rate of a test of exact size ``rate`` over ``sims`` draws."""
    return float(sstats.binom.ppf(0.95, sims, rate) / sims)


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


def power_table(fixture: Path, *, sims: int, n_resamples: int, seed: int, discordances: Sequence[float],
                command: str) -> str:
    data = np.load(fixture)
    mmlu, hs = load_fixture(fixture, "smollm2_mmlu"), load_fixture(fixture, "smollm2_hellaswag")
    real_sizes = data["mmlu_subject_sizes"]
    sizes = {g: int(real_sizes[g]) for g in range(len(SUBJECTS))}
    lines = ["# Power of the paired tests at the paper's effect sizes (McNemar vs the p(gold) companion)", "",
             f"Made by `{command}` ({time.strftime('%Y-%m-%d')}). Per-item vectors: SmolLM2-135M (the PyPI GGUF, "
             f"fp32, CPU) 0-shot on real MMLU ({mmlu.gold.size} items, the first {mmlu.gold.size // len(SUBJECTS)} "
             f"of each subject; accuracy {_pct(_accuracy(mmlu, False))}, i.e. chance) and HellaSwag (the first "
             f"{hs.gold.size} items, {len(np.unique(hs.groups))} activities; acc {_pct(_accuracy(hs, False))}, "
             f"acc_norm {_pct(_accuracy(hs, True))}), and the real pair of the mini small-lr2 baseline and "
             "elementwise models on 2,000 HellaSwag items; `tests/stats/data/per_item.npz`. Each simulated "
             "comparison resamples "
             "them to the real n (MMLU within subject to the 14,042 test items; HellaSwag by whole activity "
             "clusters to 10,042), makes two exchangeable models by Gaussian noise per choice at the stated "
             "discordance (the real pair: its own differences, each activity cluster's two rows swapped by a fair "
             "coin), and for the effect rows raises the candidate's gold score by the shift that moves its "
             "expected accuracy by the paper's delta. Tests at two-sided α = 0.05: exact McNemar on the accuracy; "
             f"paired sign-flip test ({n_resamples} flips) of p(gold) and of the gold-vs-best-distractor margin; "
             f"HellaSwag also with whole activity clusters flipped. {sims} simulated comparisons per row; the "
             f"A/A bound is the 95 % binomial quantile at 5 %: {_pct(binomial_upper(sims))}.", "",
             "| task | n | Δ acc (paper) | discordance | realised Δ acc | test | A/A rate | power |",
             "|:---|---:|---:|---:|---:|:---|---:|---:|"]
    for disc in discordances:
        scenarios = [
            Scenario("MMLU acc", mmlu, 14_042, 0.005, disc, False, False, sizes),
            Scenario("HellaSwag acc", hs, 10_042, 0.008, disc, False, True),
            Scenario("HellaSwag acc_norm", hs, 10_042, 0.008, disc, True, True),
        ]
        if disc == discordances[0]:
            base, part = (load_fixture(fixture, f"mini_hellaswag_small-lr2-{m}") for m in ("baseline", "elementwise"))
            scenarios.append(Scenario("HellaSwag acc, real pair: mini small-lr2 baseline / elementwise", base,
                                      10_042, 0.008, math.nan, False, True, partner=part))
        for sc in scenarios:
            res = simulate(sc, sims=sims, n_resamples=n_resamples, seed=seed,
                           progress=lambda m: print(m, file=sys.stderr, flush=True))
            tests = [t.split(":", 1)[1] for t in res if t.startswith("aa:")]
            for t in tests:
                lines.append(f"| {sc.name} | {sc.n:,} | +{100 * sc.accuracy_delta:.1f} pt | {_pct(res['discordance'])} "
                             f"| {100 * res['gain']:+.2f} pt | {t} | {_pct(res['aa:' + t])} | "
                             f"**{_pct(res['effect:' + t])}** |")
    return "\n".join(lines) + "\n"


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
    t.add_argument("--discordance", default="0.15")
    t.add_argument("--out", type=Path, default=Path("results/stats/power.md"))
    args = p.parse_args(argv)
    if args.cmd == "fixture":
        runs = {t: r for t, r in (("es_mmlu", args.smollm2_mmlu_run), ("es_hellaswag", args.smollm2_hellaswag_run))
                if r is not None}
        make_fixture(runs, args.mini_run, args.mini_models.split(","), args.data, args.out)
        return 0
    command = "python -m evalsuite.lab.bench.power " + " ".join(argv if argv is not None else sys.argv[1:])
    text = power_table(args.fixture, sims=args.sims, n_resamples=args.resamples, seed=args.seed,
                       discordances=[float(x) for x in args.discordance.split(",")], command=command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
