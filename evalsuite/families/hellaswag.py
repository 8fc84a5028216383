"""HellaSwag (``es_hellaswag``, ``tasks/hellaswag_es/``): lm-eval's preprocessing over the validation set.

Its reader returns rows with ``Rowan/hellaswag``'s field names, so one task
definition serves the hub and a local copy of the release; a malformed row is
an error naming the file and line (a silently skipped item would shift every
paired comparison). Its headline is ``acc_norm``; its comparable metrics are
``hellaswag_acc``, ``hellaswag_acc_norm`` and their p(gold) companions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.errors import DataError
from evalsuite.families.family import Family, MetricSpec

FAMILY = Family(name="es_hellaswag", key="hellaswag", task_dir="hellaswag_es",
                data_files=("hellaswag/hellaswag_val.jsonl", "hellaswag/hellaswag_train.jsonl"),
                headline="acc_norm")
# Exact McNemar per accuracy (clustered by activity source when the records carry the clusters).
METRICS = (
    MetricSpec("hellaswag_acc", "HellaSwag acc", FAMILY.name, "binary", True, FAMILY.key, True, 20),
    MetricSpec("hellaswag_acc_norm", "HellaSwag acc_norm", FAMILY.name, "binary", True, FAMILY.key, True, 21),
)

_HELLASWAG_FIELDS = ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "label", "split")


def read_hellaswag(path: Path) -> list[dict[str, Any]]:
    """HellaSwag JSONL with Rowan/hellaswag field names; labels kept as strings like the original."""
    if not path.exists():
        raise DataError(f"HellaSwag file {path} does not exist")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = strict_json.loads(line, source=f"{path}:{line_no}", error=DataError)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, found {type(row).__name__}")
            missing = [f for f in ("activity_label", "ctx_a", "ctx_b", "endings", "label") if f not in row]
            if missing:
                raise DataError(f"{path}:{line_no}: missing field(s) {', '.join(missing)}")
            for name in ("activity_label", "ctx_a", "ctx_b"):
                if not isinstance(row[name], str):
                    raise DataError(f"{path}:{line_no}: {name!r} must be a string, found {row[name]!r}")
            endings = row["endings"]
            if not isinstance(endings, list) or len(endings) != 4 or not all(isinstance(e, str) for e in endings):
                raise DataError(f"{path}:{line_no}: 'endings' must be a list of 4 strings, found {endings!r}")
            if str(row["label"]) not in {"0", "1", "2", "3"}:
                raise DataError(f"{path}:{line_no}: label must be 0-3, found {row['label']!r}")
            row["label"] = str(row["label"])
            rows.append({k: row.get(k, "") for k in _HELLASWAG_FIELDS})
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows
