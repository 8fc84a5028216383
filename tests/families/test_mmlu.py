"""MMLU's one subject list: the task YAML, the miniature data and the categories all follow it."""

from __future__ import annotations

import ast
from pathlib import Path

from evalsuite.families.miniature import write_miniature
from evalsuite.families.mmlu import CATEGORIES, FAMILY, MMLU_SUBJECTS, SUBJECT_CATEGORY, category_of

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks" / FAMILY.task_dir


def test_the_task_files_are_the_subject_list_and_carry_its_categories() -> None:
    on_disk = {p.stem.removeprefix("es_mmlu_") for p in TASKS.glob("es_mmlu_*.yaml")}
    assert on_disk == set(MMLU_SUBJECTS) and len(MMLU_SUBJECTS) == 57
    for subject, category in SUBJECT_CATEGORY.items():
        text = (TASKS / f"es_mmlu_{subject}.yaml").read_text()
        assert f"tag: es_mmlu_{category}_tasks" in text, subject
        assert f"subject: {subject}\n" in text, subject
    assert {(TASKS / f"_es_mmlu_{c}.yaml").is_file() for c in CATEGORIES} == {True}


def test_categories_and_subtask_names() -> None:
    assert set(SUBJECT_CATEGORY.values()) == set(CATEGORIES)
    assert category_of("es_mmlu_anatomy") == category_of("anatomy") == "stem"
    assert category_of("es_mmlu_stem") is None


def test_miniature_data_has_one_file_per_subject_and_split(tmp_path) -> None:
    write_miniature(tmp_path)
    for split in ("dev", "val", "test"):
        assert {p.name.removesuffix(f"_{split}.csv") for p in (tmp_path / "mmlu" / split).iterdir()} == set(MMLU_SUBJECTS)


def test_no_second_subject_list_in_the_package() -> None:
    """The subjects are written out once, in evalsuite/families/mmlu.py: any other module of the package
    holding a literal collection of 10+ subject names is a second copy to fall out of step."""
    subjects = set(MMLU_SUBJECTS)
    copies = []
    for path in (REPO / "evalsuite").rglob("*.py"):
        if path == REPO / "evalsuite" / "families" / "mmlu.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                names = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
                if len(names & subjects) >= 10:
                    copies.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert copies == []
