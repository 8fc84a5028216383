"""Cluster keys for records written before they were kept, recovered from the items' own data.

HellaSwag's cluster (the activity source an item's context was taken from,
``activity_label``) is a property of the item, not of the model's run. Records
written before the run kept it (``SampleRecord.cluster is None``) still keep each
item's ``doc_id`` and ``doc_hash`` — lm-eval's sha256 of the processed document
the model was scored on. With the validation file at hand (``$EVALSUITE_DATA``),
the document at ``doc_id`` is processed by the task's own ``process_docs``,
hashed as lm-eval hashes it, and its activity is taken only when **every**
item's hash matches its record: the key then provably belongs to the item the
model saw. Anything else (no data, another file, one mismatch) gives None and
the rows stay item-level, as the page says. No record is rewritten.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from evalsuite.data import data_dir_from, read_hellaswag
from evalsuite.packaged import tasks_dir

# unit task -> (data file under the data folder, task folder whose utils.process_docs the run used, cluster field)
_SOURCES = {"es_hellaswag": (("hellaswag", "hellaswag_val.jsonl"), "hellaswag_es", "activity_label")}


def _doc_hash(doc: dict[str, Any]) -> str:
    """lm-eval's ``doc_hash``: sha256 of ``json.dumps(doc, indent=2, ensure_ascii=False)``."""
    return hashlib.sha256(json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def _processed(task: str, path: Path, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    """(doc_hash, cluster) per validation document, in doc_id order (cached per file version)."""
    import datasets  # only here: compare needs it only for records that predate cluster keys

    _, folder, field = _SOURCES[task]
    spec = importlib.util.spec_from_file_location(f"_evalsuite_{folder}_utils", tasks_dir() / folder / "utils.py")
    assert spec is not None and spec.loader is not None
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a compare-time lookup, not a step of the run: no "Map" bar on the page's log
    try:
        docs = utils.process_docs(datasets.Dataset.from_list(read_hellaswag(path)))
    finally:
        if bars:
            datasets.enable_progress_bars()
    return tuple((_doc_hash(dict(doc)), str(doc[field])) for doc in docs)


def recover_clusters(task: str, doc_ids: Sequence[int], doc_hashes: Sequence[str],
                     data_dir: str | Path | None = None) -> list[str] | None:
    """Each item's cluster key from the task's data, or None unless every item's doc hash matches."""
    if task not in _SOURCES:
        return None
    folder = data_dir_from(data_dir)
    if folder is None:
        return None
    path = folder.joinpath(*_SOURCES[task][0])
    if not path.is_file():
        return None
    table = _processed(task, path.resolve(), path.stat().st_mtime_ns)
    out = []
    for doc_id, doc_hash in zip(doc_ids, doc_hashes, strict=True):
        i = int(doc_id)
        if not 0 <= i < len(table) or table[i][0] != doc_hash:
            return None
        out.append(table[i][1])
    return out
