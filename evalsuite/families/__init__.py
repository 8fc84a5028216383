"""Task families: everything evalsuite knows about one benchmark, one module each.

The one place to read to add a family. A family is

1. its lm-eval YAML in ``tasks/<task_dir>/`` (stock ``lm_eval --include_path tasks/`` runs it; YAML may
   call Python only through ``!function utils.<name>`` in the folder's ``utils.py``, which imports
   the family module below);
2. a module here — :mod:`~evalsuite.families.wikitext`, :mod:`~evalsuite.families.mmlu`,
   :mod:`~evalsuite.families.hellaswag`, the package :mod:`~evalsuite.families.ruler` — holding its
   :class:`~evalsuite.families.family.Family` (``FAMILY``: its name, task folder, the data files it reads,
   its headline metric), its comparable metrics (``METRICS``, :class:`~evalsuite.families.family.MetricSpec`:
   key, label, test shape, whether the default gate uses it; RULER names its metrics by length, so it has
   ``metric_spec(length)``), its readers of the original release files,
   and whatever lists it owns (MMLU's subjects, RULER's generator);
3. its entry in :data:`FAMILIES` below;
4. how its paired records become per-item arrays for those metrics: one branch of
   ``paired_metrics`` in :mod:`evalsuite.compare` (the statistics, not the family, decide the test).

Task names carry evalsuite's marker: ``es_`` (``es_mmlu``) or ``_es`` (``ruler_es``) means *evalsuite's
variant of the stock lm-eval task* — the same prompts and metrics, reading local release files, with
no silent truncation — not Spanish. The names are part of every record's unit key, so they stay.

This package imports nothing of evalsuite but its errors, ``strict_json`` and :mod:`evalsuite.paths`: every
stage (run, compare, report) may read it.
"""

from __future__ import annotations

from pathlib import Path

from evalsuite.families import hellaswag, mmlu, wikitext
from evalsuite.families.family import Family
from evalsuite.families.ruler.family import FAMILY as RULER_FAMILY

FAMILIES: tuple[Family, ...] = (wikitext.FAMILY, mmlu.FAMILY, hellaswag.FAMILY, RULER_FAMILY)  # in table order
FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)


def family_of(task: str) -> Family | None:
    """The family that owns a suite task or subtask (``es_mmlu_anatomy`` -> MMLU), else None."""
    return next((f for f in FAMILIES if f.owns(task)), None)


def files_read(task: str, data_dir: Path) -> dict[str, Path]:
    """Every local file ``task`` reads below ``data_dir``, named relative to it; {} for a task of no family."""
    family = family_of(task)
    return {} if family is None else family.files_read(task, data_dir)


__all__ = ["FAMILIES", "FAMILY_NAMES", "Family", "family_of", "files_read"]
