"""MMLU (``es_mmlu``, ``tasks/mmlu_es/``): the 57 subjects, their categories, the CSV reader.

This is the one list of MMLU's subjects in the package: the miniature data,
the per-category metrics of ``compare`` and the tests read it from here. The
task YAML cannot import Python, so ``tasks/mmlu_es/`` keeps one five-line file
per subject whose ``tag:`` is the category; ``tests/families/test_mmlu.py``
keeps those files equal to :data:`SUBJECT_CATEGORY`.

The reader returns rows with ``cais/mmlu``'s field names, so one task
definition serves the hub and the official CSV release. Its headline is
``acc``; its comparable metrics are ``mmlu_acc``, ``mmlu_acc_<category>`` and
the p(gold) companion ``mmlu_pgold``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError
from evalsuite.families.family import Family, MetricSpec, files_below
from evalsuite.paths import resolve_data_dir

CATEGORIES = ("stem", "humanities", "social_sciences", "other")  # lm-eval's MMLU groups, in table order

# Subject (the official release's file names) -> category, as lm-eval's MMLU groups them.
SUBJECT_CATEGORY: dict[str, str] = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}
MMLU_SUBJECTS: tuple[str, ...] = tuple(SUBJECT_CATEGORY)


def category_of(subtask: str) -> str | None:
    """``es_mmlu_anatomy`` (or ``anatomy``) -> ``"stem"``; None for a name that is not an MMLU subject."""
    return SUBJECT_CATEGORY.get(subtask.removeprefix("es_mmlu_"))


class _MmluFamily(Family):
    def files_read(self, task: str, data_dir: Path) -> dict[str, Path]:
        """A subject's unit (``es_mmlu_anatomy``) reads only its own CSVs; the group and a category all."""
        subject = task.removeprefix(self.name + "_") if task.startswith(self.name + "_") else None
        out: dict[str, Path] = {}
        for rel in self.data_files:
            files = files_below(data_dir, rel)
            if subject is not None and subject not in CATEGORIES and (data_dir / rel).is_dir():
                files = [f for f in files if f.name.startswith(subject + "_")]
            out.update((str(f.relative_to(data_dir)), f) for f in files)
        return out


FAMILY = _MmluFamily(name="es_mmlu", key="mmlu", task_dir="mmlu_es", data_files=("mmlu/dev", "mmlu/test"),
                     headline="acc")

_CATEGORY_LABEL = {"stem": "STEM", "humanities": "humanities", "social_sciences": "social sciences",
                   "other": "other"}
# Exact McNemar, the CI stratified by subject; the categories are not part of the default gate.
METRICS = (
    MetricSpec("mmlu_acc", "MMLU acc", FAMILY.name, "binary", True, FAMILY.key, True, 10),
    *(MetricSpec(f"mmlu_acc_{c}", f"MMLU {_CATEGORY_LABEL[c]} acc", FAMILY.name, "binary", True, FAMILY.key, False,
                 11 + i) for i, c in enumerate(CATEGORIES)),
)

_LETTERS = "ABCD"


def read_mmlu(data_dir: Path, subject: str, split: str) -> list[dict[str, Any]]:
    """One subject's split (dev/val/test) as cais/mmlu rows: question, subject, choices, answer (0-3)."""
    folder = {"validation": "val"}.get(split, split)
    path = resolve_data_dir(data_dir, "mmlu", folder, f"{subject}_{folder}.csv")
    rows: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line_no, rec in enumerate(csv.reader(fh), start=1):
            if len(rec) != 6:
                raise DataError(f"{path}:{line_no}: expected 6 columns (question, A, B, C, D, answer), found {len(rec)}")
            answer = rec[5].strip()
            if answer not in _LETTERS:
                raise DataError(f"{path}:{line_no}: answer must be one of A/B/C/D, found {answer!r}")
            rows.append(
                {"question": rec[0], "subject": subject, "choices": rec[1:5], "answer": _LETTERS.index(answer)}
            )
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows
