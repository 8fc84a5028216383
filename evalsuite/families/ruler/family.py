"""RULER as a family (``ruler_es``, ``tasks/ruler_es/``): its names, groups and the files it reads.

RULER runs in several shapes, all of them the family ``ruler_es``: the group
``ruler_es`` (all 13 tasks; the QA two say "not run: data missing" without
their SQuAD/HotpotQA files), the group ``ruler_es_synthetic`` (the 11 that need
no QA files), and single tasks such as ``ruler_es_niah_single_1``. Every shape
records per-item scores named by context length; the comparable metric is
``ruler_<length>``, the mean over the tasks that ran. The generator and its
lm-eval hooks are the other modules of this package.
"""

from __future__ import annotations

from pathlib import Path

from evalsuite.families.family import Family, MetricSpec, files_below
from evalsuite.families.ruler.generate import ESSAY_FILE, QA_FILES

RULER = "ruler_es"
# The RULER groups of tasks/ruler_es/ (a failed group unit is "all its tasks", not one task).
RULER_GROUPS: dict[str, str] = {"ruler_es": "all tasks", "ruler_es_synthetic": "synthetic tasks"}


class _RulerFamily(Family):
    def files_read(self, task: str, data_dir: Path) -> dict[str, Path]:
        """The essay for every task; SQuAD / HotpotQA only for their QA task and the full group, from the
        data folder or, when it lacks them, from the cache that :mod:`~evalsuite.families.ruler.fetch`
        fills (named ``cache:<file>``)."""
        from evalsuite.families.ruler.fetch import cached_path

        qa_reader = {str(path): qa for qa, path in QA_FILES.items()}
        out: dict[str, Path] = {}
        for rel in self.data_files:
            qa = qa_reader.get(rel)
            if qa is not None and task not in (RULER, f"{RULER}_{qa}"):
                continue  # only the QA tasks (and the full group) read SQuAD / HotpotQA
            files = files_below(data_dir, rel)
            out.update((str(f.relative_to(data_dir)), f) for f in files)
            if qa is not None and not files and cached_path(qa).is_file():
                out[f"cache:{rel}"] = cached_path(qa)
        return out


FAMILY = _RulerFamily(name=RULER, key="ruler", task_dir="ruler_es",
                      data_files=(str(ESSAY_FILE), *(str(p) for p in QA_FILES.values())), headline=None)


def length_label(length: int) -> str:
    """RULER lengths as the paper writes them: 4096 -> ``4K``, 131072 -> ``128K``."""
    return f"{length // 1024}K" if length % 1024 == 0 else str(length)


def metric_spec(length: int) -> MetricSpec:
    """``ruler_<length>``: the mean over the tasks that ran at that length (paired bootstrap, sign-flip test,
    stratified by task). RULER's metrics are named by length, so they are made on demand."""
    return MetricSpec(f"ruler_{length}", f"RULER {length_label(length)}", RULER, "mean", True, FAMILY.key,
                      True, 100 + length / 1e7)
