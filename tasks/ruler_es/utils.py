"""lm-eval functions for tasks/ruler_es: one dataset builder per RULER task, one scorer.

Metadata read (TaskManager(metadata=...) or --metadata, merged with --model_args):
``tokenizer`` (or ``pretrained`` / ``model``), ``max_seq_lengths`` (list of ints),
``samples`` (default 100), ``seed`` (default 42), ``data_dir`` (default
$EVALSUITE_DATA), ``verify`` ("full" or "spot"). See evalsuite/families/ruler/lmeval.py.
"""

from __future__ import annotations

from typing import Any

from evalsuite.families.ruler.lmeval import dataset, process_results  # noqa: F401  (process_results: used by the YAML)


def niah_single_1(**metadata: Any) -> Any:
    return dataset("niah_single_1", **metadata)


def niah_single_2(**metadata: Any) -> Any:
    return dataset("niah_single_2", **metadata)


def niah_single_3(**metadata: Any) -> Any:
    return dataset("niah_single_3", **metadata)


def niah_multikey_1(**metadata: Any) -> Any:
    return dataset("niah_multikey_1", **metadata)


def niah_multikey_2(**metadata: Any) -> Any:
    return dataset("niah_multikey_2", **metadata)


def niah_multikey_3(**metadata: Any) -> Any:
    return dataset("niah_multikey_3", **metadata)


def niah_multivalue(**metadata: Any) -> Any:
    return dataset("niah_multivalue", **metadata)


def niah_multiquery(**metadata: Any) -> Any:
    return dataset("niah_multiquery", **metadata)


def vt(**metadata: Any) -> Any:
    return dataset("vt", **metadata)


def cwe(**metadata: Any) -> Any:
    return dataset("cwe", **metadata)


def fwe(**metadata: Any) -> Any:
    return dataset("fwe", **metadata)


def qa_squad(**metadata: Any) -> Any:
    return dataset("qa_squad", **metadata)


def qa_hotpot(**metadata: Any) -> Any:
    return dataset("qa_hotpot", **metadata)
