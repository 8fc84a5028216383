"""Which metrics a unit task yields, and the per-item arrays each metric's test needs.

One place maps records to statistics for ``compare``, ``publish`` and ``check``; the metrics are the ones
each family declares (``METRICS`` in :mod:`evalsuite.families`), plus the accuracies' companions:

* ``log_ppl`` (es_wikitext: loglik, n_tokens or n_words): paired bootstrap of the
  log-PPL ratio of sums and a document sign-flip test; per token when both
  models have the same token count for every document, else per word;
* ``mmlu_acc`` and ``mmlu_acc_<category>`` (es_mmlu: acc): exact McNemar, CI
  stratified by subject; categories as lm-eval's (stem, humanities,
  social_sciences, other);
* ``hellaswag_acc``, ``hellaswag_acc_norm`` (es_hellaswag): exact McNemar, or with the records'
  clusters (items of one activity source) the clustered McNemar of :mod:`evalsuite.stats.clustered`;
* ``mmlu_pgold``, ``hellaswag_margin``, ``hellaswag_pgold_norm``: the continuous companion of each
  accuracy (:mod:`evalsuite.compare.choices`: p(gold) among the choices, or the gold-vs-best-distractor
  log-likelihood margin for HellaSwag's raw acc, as ``results/stats/power.md`` chose) with the accuracy's
  normalisation, strata and clusters: paired sign-flip test and bootstrap CI over clusters. A
  different estimand from the accuracy, shown beside it, never instead of it;
* ``ruler_<length>`` (the RULER family: the group ``ruler_es``, the group
  ``ruler_es_synthetic`` or single ``ruler_es_*`` tasks, see
  :mod:`evalsuite.compare.family`; the score named by the length, a fraction):
  paired bootstrap CI and sign-flip test of the mean, stratified by task.

RULER's per-length value is the unweighted mean over its tasks of each task's
mean score. With equal items per task that is the plain item mean; otherwise
each item's score is weighted by ``n / (T * n_task)`` before the (stratified by
task) mean tests, which leaves a weighted mean exactly equal to the task
average while the tests still resample and flip whole items.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

import numpy as np

from evalsuite.compare.choices import (COMPANION_FOR, Companion, argmax_correct, choice_scores, companion,
                                       gold_index, paper_delta_for_companion)
from evalsuite.compare.clusters import recover_clusters
from evalsuite.compare.family import FAMILIES, RULER, task_family
from evalsuite.compare.join import PairedItems, pair_units
from evalsuite.compare.paper import PAPER_DELTAS
from evalsuite.errors import RecordError
from evalsuite.families import hellaswag, mmlu, wikitext
from evalsuite.families.family import MetricSpec
from evalsuite.families.mmlu import CATEGORIES, category_of
from evalsuite.families.ruler.family import metric_spec as ruler_spec
from evalsuite.records import UnitRecord

# Every family's declared metrics (evalsuite.families), in table order; the companions are compare's own.
_FIXED = (*wikitext.METRICS, *mmlu.METRICS, *hellaswag.METRICS)


def _companion_spec(accuracy: MetricSpec) -> MetricSpec:
    """The companion row of an accuracy (``hellaswag_margin``, ``hellaswag_pgold_norm``...), per COMPANION_FOR."""
    kind = COMPANION_FOR[accuracy.key]
    suffix = "_norm" if accuracy.key.endswith("_norm") else ""
    title = accuracy.label.split()[0]  # MMLU | HellaSwag
    label = f"{title} {'p(gold)' if kind == 'pgold' else 'margin'}" + (", per char" if suffix else "")
    return MetricSpec(f"{accuracy.family}_{kind}{suffix}", label, accuracy.unit_task, "score", True,
                      accuracy.family, False, accuracy.order + 0.5, accuracy.key)


_COMPANION_SPECS = tuple(_companion_spec(m) for m in _FIXED if m.key in COMPANION_FOR)
# The companion row of each accuracy: (its key, per character like acc_norm, which companion).
COMPANIONS: dict[str, tuple[str, bool, Companion]] = {
    acc: (spec.key, acc.endswith("_norm"), COMPANION_FOR[acc])
    for spec in _COMPANION_SPECS if (acc := spec.companion_of) is not None}
FIXED_METRICS: dict[str, MetricSpec] = {m.key: m for m in (*_FIXED, *_COMPANION_SPECS)}
_RULER_KEY = re.compile(r"ruler_(\d+)")
UNIT_TASKS = FAMILIES  # the metric families; a family's units: evalsuite.compare.family


def metric_spec(key: str) -> MetricSpec | None:
    """The spec of a metric key, or None when no such metric exists."""
    if key in FIXED_METRICS:
        return FIXED_METRICS[key]
    match = _RULER_KEY.fullmatch(key)
    return ruler_spec(int(match.group(1))) if match and int(match.group(1)) > 0 else None


def known_metric_pattern(pattern: str) -> bool:
    """True when ``pattern`` (a key or an fnmatch glob like ``ruler_*``) can name some metric."""
    examples = [*FIXED_METRICS, "ruler_4096", "ruler_131072"]
    return metric_spec(pattern) is not None or any(fnmatch.fnmatchcase(k, pattern) for k in examples)


def known_metrics_help() -> str:
    return ", ".join([*FIXED_METRICS, "ruler_<length>"])


@dataclass(frozen=True)
class MetricArrays:
    """What one test of one metric needs, aligned per item (all (n,) arrays)."""

    spec: MetricSpec
    reference: np.ndarray  # per-item score; for log_ppl the document's nll in nats (-loglik)
    candidate: np.ndarray
    counts: np.ndarray | None = None  # log_ppl: the document's tokens or words
    strata: np.ndarray | None = None  # MMLU: subject; RULER: task
    count_unit: str | None = None  # "token" or "word" for log_ppl
    clusters: np.ndarray | None = None  # items resampled together (HellaSwag: activity source)
    paper_delta: float | None = None  # the paper's delta in this metric's units (a companion row: translated)


def paired_metrics(paired: PairedItems, *, ppl_unit: str | None = None) -> list[MetricArrays]:
    """Every metric the paired unit yields, in table order.

    ``ppl_unit`` forces perplexity per ``"token"`` or ``"word"``; None picks
    tokens when both models have the same token count for every document.
    """
    task = task_family(paired.task)
    if task == "es_wikitext":
        return [_log_ppl(paired, ppl_unit)]
    if task == "es_hellaswag":
        clusters = _clusters(paired)
        return _with_companions(paired, [_binary(paired, FIXED_METRICS[f"hellaswag_{s}"], s, clusters=clusters)
                                         for s in ("acc", "acc_norm") if paired.has(s)])
    if task == "es_mmlu":
        return _mmlu(paired)
    if task == RULER:
        return _ruler(paired)
    return []


def single_metrics(unit: UnitRecord, *, ppl_unit: str | None = None) -> list[MetricArrays]:
    """The metrics of one model's unit: the unit paired with itself (both sides are the model)."""
    return paired_metrics(pair_units(unit, unit), ppl_unit=ppl_unit)


def _binary(paired: PairedItems, spec: MetricSpec, score: str, mask: np.ndarray | None = None,
            strata: np.ndarray | None = None, clusters: np.ndarray | None = None) -> MetricArrays:
    ref, cand = paired.scores(score)
    if mask is None:
        mask = ~np.isnan(ref)
    return MetricArrays(spec, ref[mask], cand[mask], strata=_resamplable(None if strata is None else strata[mask]),
                        clusters=None if clusters is None else clusters[mask], paper_delta=PAPER_DELTAS.get(spec.key))


def _clusters(paired: PairedItems) -> np.ndarray | None:
    """The items' cluster labels when every item of both records has one; for records that predate them,
    recovered from the items' data and verified by doc hash (:mod:`evalsuite.compare.clusters`)."""
    ref, cand = paired.field("cluster")
    if all(c is None for c in ref) and all(c is None for c in cand):
        recovered = recover_clusters(task_family(paired.task), paired.items["doc_id"].tolist(),
                                     paired.items["doc_hash"].tolist())
        return None if recovered is None else np.asarray(recovered, dtype=object)
    if any(c is None for c in ref) or ref != cand:
        return None
    return np.asarray(ref, dtype=object)


def _with_companions(paired: PairedItems, accuracies: list[MetricArrays]) -> list[MetricArrays]:
    """Each accuracy followed by its continuous companion, when the records let it be computed exactly."""
    out = []
    for acc in accuracies:
        out.append(acc)
        if acc.spec.key in COMPANIONS:
            row = _companion(paired, acc)
            if row is not None:
                out.append(row)
    return out


def _companion(paired: PairedItems, acc: MetricArrays) -> MetricArrays | None:
    """The companion row of an accuracy row over the same items; None when the records lack what it needs
    (per-choice log-likelihoods, or choice lengths for acc_norm) or their argmax disagrees with the
    recorded accuracy (then it would not be this accuracy's companion)."""
    key, per_char, kind = COMPANIONS[acc.spec.key]
    score = acc.spec.key.removeprefix("mmlu_").removeprefix("hellaswag_")
    mask = ~np.isnan(paired.scores(score)[0])
    sides = []
    try:
        for side in (0, 1):
            resps = [r for r, m in zip(paired.field("resps")[side], mask, strict=True) if m]
            chars = [c for c, m in zip(paired.field("choice_chars")[side], mask, strict=True) if m]
            targets = [t for t, m in zip(paired.field("target")[side], mask, strict=True) if m]
            if per_char and any(c is None for c in chars):
                return None
            scores = choice_scores(resps, chars=chars if per_char else None)
            gold = gold_index(targets, scores.shape[1])
            if not np.array_equal(argmax_correct(scores, gold), acc.reference if side == 0 else acc.candidate):
                return None
            sides.append((scores, gold))
    except RecordError:
        return None
    (ref_scores, gold), (cand_scores, _) = sides
    paper = acc.paper_delta
    translated = None if paper is None else paper_delta_for_companion(ref_scores, gold, paper, kind)
    return MetricArrays(FIXED_METRICS[key], companion(ref_scores, gold, kind), companion(cand_scores, gold, kind),
                        strata=acc.strata, clusters=acc.clusters,
                        paper_delta=translated if translated is None or np.isfinite(translated) else None)


def _resamplable(strata: np.ndarray | None) -> np.ndarray | None:
    """Strata for the bootstrap only when every stratum has two or more items: a one-item stratum has no
    resampling variability, and a sample of one item per subject would get a zero-width interval."""
    if strata is None or strata.size == 0:
        return strata
    _, counts = np.unique(strata, return_counts=True)
    return strata if counts.min() >= 2 else None


def _mmlu(paired: PairedItems) -> list[MetricArrays]:
    if not paired.has("acc"):
        return []
    subjects = paired.subtasks.astype(str)
    categories = np.array([category_of(s) for s in subjects], dtype=object)
    out = _with_companions(paired, [_binary(paired, FIXED_METRICS["mmlu_acc"], "acc", strata=subjects)])
    for c in CATEGORIES:
        mask = categories == c
        if mask.any():
            out.append(_binary(paired, FIXED_METRICS[f"mmlu_acc_{c}"], "acc", mask=mask, strata=subjects))
    return out


def _log_ppl(paired: PairedItems, ppl_unit: str | None) -> MetricArrays:
    ref_ll, cand_ll = paired.scores("loglik")
    counts, unit = None, "word"
    if ppl_unit == "token" and not paired.has("n_tokens"):
        raise RecordError(f"es_wikitext: per-token perplexity asked for, but {paired.candidate_model!r} "
                          "recorded no token counts")
    if ppl_unit != "word" and paired.has("n_tokens"):
        ref_tok, cand_tok = paired.scores("n_tokens")
        # Token perplexities pair only when both tokenizers cut every document alike.
        if not np.isnan(ref_tok).any() and np.array_equal(ref_tok, cand_tok):
            counts, unit = ref_tok, "token"
    if counts is None:
        ref_words, cand_words = paired.scores("n_words")
        if not np.array_equal(ref_words, cand_words):
            i = int(np.flatnonzero(ref_words != cand_words)[0])
            raise RecordError(f"es_wikitext doc {paired.items['doc_id'].iat[i]}: word counts differ between "
                              f"{paired.reference_model!r} and {paired.candidate_model!r}")
        counts = ref_words
    if np.isnan(ref_ll).any() or np.isnan(counts).any():
        raise RecordError(f"es_wikitext: some documents lack loglik or {unit} counts")
    return MetricArrays(FIXED_METRICS["log_ppl"], -ref_ll, -cand_ll, counts=counts, count_unit=unit,
                        paper_delta=PAPER_DELTAS["log_ppl"])


def ruler_lengths(paired: PairedItems) -> list[int]:
    return sorted(int(c) for c in paired.reference.columns if str(c).isdigit() and paired.has(c))


def _ruler(paired: PairedItems) -> list[MetricArrays]:
    out = []
    for length in ruler_lengths(paired):
        ref, cand = paired.scores(str(length))
        mask = ~np.isnan(ref)
        tasks = paired.subtasks[mask].astype(str)
        names, codes, sizes = np.unique(tasks, return_inverse=True, return_counts=True)
        weights = mask.sum() / (len(names) * sizes[codes])  # (n,) 1.0 when every task has as many items
        out.append(MetricArrays(ruler_spec(length), ref[mask] * weights, cand[mask] * weights, strata=tasks,
                                paper_delta=PAPER_DELTAS.get(f"ruler_{length}")))
    return out


def ruler_task_means(unit: UnitRecord) -> dict[tuple[str, int], tuple[float, int]]:
    """{(subtask, length): (the model's mean score, items)} for the RULER per-task table."""
    paired = pair_units(unit, unit)
    out = {}
    for length in ruler_lengths(paired):
        _, scores = paired.scores(str(length))
        mask = ~np.isnan(scores)
        for task in np.unique(paired.subtasks[mask]):
            values = scores[mask & (paired.subtasks == task)]
            out[(str(task), length)] = (float(values.mean()), int(values.size))
    return out
