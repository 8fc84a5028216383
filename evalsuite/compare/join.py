"""Pair two models' per-item records of one task, refusing anything that is not the same items.

A paired test is only valid when both models answered the very same prompts.
:func:`pair_units` joins the samples of a reference and a candidate unit on
``(subtask, doc_hash)`` and refuses, with a one-line :class:`RecordError`, when

* either unit is not complete or carries no samples;
* the tasks differ (any two units of the RULER family may pair, e.g. ``ruler_es``
  and ``ruler_es_synthetic``: the item join below decides whether they ran the
  same prompts);
* a data file both runs read has a different sha256 (or the file lists differ);
* a (sub)task's lm-eval config hash differs (template, shots, metrics changed);
* the item sets differ (counts of shared and one-sided items are reported);
* an item's prompt or target hash differs between the two models;
* a per-item score is NaN or infinite (:class:`NonFiniteRecordError`, naming the model, the score and how
  many items): a statistic is never computed over one (NaN below means "absent", never "non-finite").

A doc that occurs twice in a task (same ``doc_hash``) is told apart by its
occurrence order by ``doc_id``, so duplicates pair one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalsuite.compare.family import is_ruler
from evalsuite.errors import NonFiniteRecordError, RecordError
from evalsuite.records import SampleRecord, UnitRecord

_KEY = ["task", "doc_hash", "occurrence"]
# Per-item record fields that are not scores, kept beside them as object columns (prefixed: never a score name).
ITEM_FIELDS = ("_resps", "_target", "_cluster", "_choice_chars")
_META = ["task", "doc_id", "doc_hash", "prompt_hash", "target_hash", "occurrence"]


@dataclass(frozen=True)
class PairedItems:
    """The shared items of one unit task, aligned row by row for both models.

    ``items`` has columns ``task`` (the subtask, e.g. ``es_mmlu_anatomy``),
    ``doc_hash`` and ``doc_id``; ``reference``/``candidate`` hold one column per
    per-item score (NaN where an item has no such score, e.g. RULER lengths),
    with the same row order and index ``0..n-1``.
    """

    task: str
    reference_model: str
    candidate_model: str
    items: pd.DataFrame
    reference: pd.DataFrame
    candidate: pd.DataFrame

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def subtasks(self) -> np.ndarray:
        """The subtask of each item, (n,) strings."""
        return self.items["task"].to_numpy()

    def has(self, score: str) -> bool:
        """True when both models carry ``score`` for at least one item."""
        return score in self.reference.columns and score in self.candidate.columns and bool(
            self.reference[score].notna().any())

    def field(self, name: str) -> tuple[list, list]:
        """``(reference, candidate)`` per-item values of a record field of :data:`ITEM_FIELDS`
        (``"resps"``, ``"target"``, ``"cluster"``, ``"choice_chars"``), in item order."""
        column = "_" + name
        return self.reference[column].tolist(), self.candidate[column].tolist()

    def scores(self, score: str) -> tuple[np.ndarray, np.ndarray]:
        """``(reference, candidate)`` values of ``score``, (n,) float64 each, NaN where absent.

        Refuses when an item has the score for one model but not the other.
        """
        if not self.has(score):
            raise RecordError(f"{self.task}: no per-item score {score!r} in both "
                              f"{self.reference_model!r} and {self.candidate_model!r}")
        ref = self.reference[score].to_numpy(dtype=np.float64)
        cand = self.candidate[score].to_numpy(dtype=np.float64)
        lopsided = np.isnan(ref) != np.isnan(cand)
        if lopsided.any():
            i = int(np.flatnonzero(lopsided)[0])
            raise RecordError(f"{self.items['task'].iat[i]} doc {self.items['doc_id'].iat[i]}: score {score!r} "
                              f"recorded for only one of {self.reference_model!r} and {self.candidate_model!r}")
        return ref, cand


def pair_units(reference: UnitRecord, candidate: UnitRecord) -> PairedItems:
    """Join the two units' samples on (subtask, doc_hash); see the module docstring for refusals."""
    for role, unit in (("reference", reference), ("candidate", candidate)):
        if unit.status != "complete":
            why = f" ({unit.error})" if unit.error else ""
            raise RecordError(f"{unit.task}: {role} {unit.model!r} is {unit.status}{why}; nothing to pair")
        if unit.samples is None:
            raise RecordError(f"{unit.task}: {role} {unit.model!r} was loaded without its per-item samples")
    for role, unit in (("reference", reference), ("candidate", candidate))[:1 if candidate is reference else 2]:
        _finite_scores(unit, role)
    if reference.task != candidate.task and not (is_ruler(reference.task) and is_ruler(candidate.task)):
        raise RecordError(f"cannot pair task {reference.task!r} with task {candidate.task!r}")
    _same_data_files(reference, candidate)
    _same_configs(reference, candidate)
    ref, cand = _keyed(reference), _keyed(candidate)
    _same_item_sets(reference, candidate, ref, cand)
    cand = cand.loc[ref.index]  # align rows to the reference's order
    _same_prompts(reference, candidate, ref, cand)
    scores_ref = ref.drop(columns=[c for c in _META if c in ref.columns]).reset_index(drop=True)
    scores_cand = cand.drop(columns=[c for c in _META if c in cand.columns]).reset_index(drop=True)
    items = ref[["task", "doc_hash", "doc_id"]].reset_index(drop=True)
    return PairedItems(task=reference.task, reference_model=reference.model, candidate_model=candidate.model,
                       items=items, reference=scores_ref, candidate=scores_cand)


def _finite_scores(unit: UnitRecord, role: str) -> None:
    """Refuse a unit whose per-item scores hold NaN or infinity, naming the model, the score and the count."""
    bad: dict[str, list[SampleRecord]] = {}
    for sample in unit.samples or []:
        for name, value in sample.scores.items():
            if isinstance(value, (int, float)) and not math.isfinite(value):
                bad.setdefault(name, []).append(sample)
    if bad:
        name, samples = next(iter(bad.items()))
        first = samples[0]
        raise NonFiniteRecordError(
            f"{unit.task}: {role} {unit.model!r} has a non-finite per-item score {name!r} "
            f"({first.scores[name]}) for {len(samples)} of {len(unit.samples or [])} items (first: {first.task} "
            f"doc {first.doc_id}); no statistic is computed over non-finite numbers")


def _who(reference: UnitRecord, candidate: UnitRecord) -> str:
    return f"reference {reference.model!r} and candidate {candidate.model!r}"


def _same_data_files(reference: UnitRecord, candidate: UnitRecord) -> None:
    """Same sha256 for every data file both read; same file list when both read local files.

    A run that read the hub records no files (``{}``); then the per-item prompt
    and target hashes are what proves the data equal.
    """
    a = reference.task_info.get("data_files") or {}
    b = candidate.task_info.get("data_files") or {}
    for path in sorted(set(a) & set(b)):
        if a[path] != b[path]:
            raise RecordError(f"{reference.task}: data file {path} differs between {_who(reference, candidate)} "
                              f"(sha256 {str(a[path])[:12]}… vs {str(b[path])[:12]}…)")
    if a and b and set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        first = f"{only_a[0]} only in reference" if only_a else f"{only_b[0]} only in candidate"
        raise RecordError(f"{reference.task}: data files differ between {_who(reference, candidate)}: "
                          f"{len(only_a)} only in reference, {len(only_b)} only in candidate (first: {first})")


def _same_configs(reference: UnitRecord, candidate: UnitRecord) -> None:
    a = reference.task_info.get("config_hashes") or {}
    b = candidate.task_info.get("config_hashes") or {}
    for task in sorted(set(a) & set(b)):
        if a[task] != b[task]:
            raise RecordError(f"{task}: task config differs between {_who(reference, candidate)} "
                              f"(config hash {a[task]} vs {b[task]}): its prompt, shots, scoring or recorded "
                          "metadata changed")


def _keyed(unit: UnitRecord) -> pd.DataFrame:
    """The unit's samples indexed by (task, doc_hash, occurrence)."""
    frame = unit.samples_frame()
    if frame.empty:
        raise RecordError(f"{unit.task}: {unit.model!r} has a complete record with no scored items")
    samples = unit.samples or []  # what the statistics need besides the scores (see SampleRecord)
    for column, values in ((c, [getattr(s, c.lstrip("_")) for s in samples]) for c in ITEM_FIELDS):
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    frame = frame.sort_values(["task", "doc_id"], kind="stable")
    frame["occurrence"] = frame.groupby(["task", "doc_hash"]).cumcount()
    frame.index = pd.MultiIndex.from_frame(frame[_KEY], names=[f"key_{k}" for k in _KEY])
    return frame


def _same_item_sets(reference: UnitRecord, candidate: UnitRecord, ref: pd.DataFrame, cand: pd.DataFrame) -> None:
    only_ref = ref.index.difference(cand.index)
    only_cand = cand.index.difference(ref.index)
    if len(only_ref) or len(only_cand):
        shared = len(ref.index.intersection(cand.index))
        extra = ref.loc[only_ref] if len(only_ref) else cand.loc[only_cand]
        first = extra.sort_values(["task", "doc_id"], kind="stable").iloc[0]
        side = "reference" if len(only_ref) else "candidate"
        raise RecordError(f"{reference.task}: item sets differ between {_who(reference, candidate)}: {shared} shared, "
                          f"{len(only_ref)} only in reference, {len(only_cand)} only in candidate "
                          f"(first: {first['task']} doc {first['doc_id']} only in {side}); "
                          "were they run with the same limit and data?")


def _same_prompts(reference: UnitRecord, candidate: UnitRecord, ref: pd.DataFrame, cand: pd.DataFrame) -> None:
    for column, what in (("prompt_hash", "prompt"), ("target_hash", "target")):
        differ = ref[column].to_numpy() != cand[column].to_numpy()
        if differ.any():
            i = int(np.flatnonzero(differ)[0])
            row = ref.iloc[i]
            raise RecordError(f"{row['task']} doc {row['doc_id']} (doc_hash {str(row['doc_hash'])[:12]}…): {what} "
                              f"hash differs between {_who(reference, candidate)} ({int(differ.sum())} of "
                              f"{len(ref)} items differ): different {what}s cannot be paired")
