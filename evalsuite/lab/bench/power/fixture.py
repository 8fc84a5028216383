"""``python -m evalsuite.lab.bench.power fixture``: the per-item vectors pulled out of run records into one ``.npz``.

Derived numbers only (per-choice log-likelihoods, the gold index, choice lengths,
integer codes of the MMLU subject and the HellaSwag activity), no benchmark text;
:func:`.vectors.load_fixture` reads them back.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evalsuite.compare.choices import choice_scores, gold_index
from evalsuite.lab.bench.power.vectors import SUBJECTS
from evalsuite.records import load_run


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
