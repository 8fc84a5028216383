"""lm-eval glue for the ``tasks/ruler_es`` tasks: datasets and per-length scores.

Scope: turn lm-eval's task metadata (``TaskManager(metadata=...)`` or
``--metadata``, merged with ``--model_args``) into a typed config once, build a
``datasets.DatasetDict`` with a ``test`` split from :func:`generate`, and score
one document into ``{"<length>": score}`` so lm-eval aggregates each length
separately (only the document's own length is reported: no ``-1``
placeholders to filter out, and each length's stderr is over its own samples).

A QA task whose data file is missing raises
``DataMissingError("qa_squad: not run: data missing (...)")`` when lm-eval builds the
task, so a runner that builds one task at a time records that unit as not
run, with the reason, and carries on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from evalsuite.errors import DataMissingError, SpecError
from evalsuite.families.ruler.generate import (
    DEFAULT_LENGTHS,
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    SPECS,
    NotRun,
    QAPaths,
    RulerDataPaths,
    generate,
    load_tokenizer,
    parse_lengths,
)
from evalsuite.families.ruler.fetch import qa_file
from evalsuite.families.ruler.string_match import METRICS

TOKENIZER_KEYS = ("tokenizer", "pretrained", "model")  # lm-eval's order: explicit, then the HF / API model name


@dataclass(frozen=True)
class HarnessConfig:
    """The metadata a ``ruler_es`` task reads, parsed once."""

    tokenizer: str
    lengths: tuple[int, ...]
    samples: int
    seed: int
    data_dir: Path
    verify: str

    @classmethod
    def from_metadata(cls, task: str, meta: Mapping[str, Any]) -> HarnessConfig:
        tok = next((meta[k] for k in TOKENIZER_KEYS if isinstance(meta.get(k), str) and meta[k]), None)
        if tok is None:
            raise SpecError(
                f"{task}: RULER sizes prompts with a tokenizer; pass metadata tokenizer=<dir, hub id or .gguf> "
                "(or model_args pretrained=...)"
            )
        data_dir = meta.get("data_dir") or os.environ.get("EVALSUITE_DATA")
        if not data_dir:
            raise SpecError(f"{task}: pass metadata data_dir=<folder with pg_essays/> or set EVALSUITE_DATA")
        return cls(
            tokenizer=tok,
            lengths=parse_lengths(meta.get("max_seq_lengths", DEFAULT_LENGTHS)),
            samples=_int(meta, "samples", DEFAULT_SAMPLES),
            seed=_int(meta, "seed", DEFAULT_SEED),
            data_dir=Path(data_dir),
            verify=str(meta.get("verify", "spot")),
        )


def _int(meta: Mapping[str, Any], key: str, default: int) -> int:
    value = meta.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise SpecError(f"metadata {key} must be an integer, got {value!r}") from e


@cache
def _tokenizer(source: str) -> Any:
    return load_tokenizer(source)


def dataset(task: str, **metadata: Any) -> Any:
    """``custom_dataset`` for ``ruler_es_<task>``: a DatasetDict with one ``test`` split.

    Each document is a :class:`~evalsuite.families.ruler.generate.RulerSample` record;
    its ``length`` says which per-length metric it feeds.
    """
    import datasets

    if task not in SPECS:
        raise SpecError(f"unknown RULER task {task!r}")
    cfg = HarnessConfig.from_metadata(task, metadata)
    paths = RulerDataPaths.from_dir(cfg.data_dir)
    if SPECS[task].needs == "qa":  # the data folder's file, else the cache's, else (online) a verified download
        found = qa_file(task, cfg.data_dir)
        if found is not None:
            paths = replace(paths, qa=QAPaths(**{"squad" if task == "qa_squad" else "hotpot": found}))
    tokenizer = _tokenizer(cfg.tokenizer)
    rows: list[dict[str, Any]] = []
    for length in cfg.lengths:
        result = generate(
            task,
            tokenizer=tokenizer,
            length=length,
            n_samples=cfg.samples,
            seed=cfg.seed,
            haystack_path=paths.essay,
            qa_paths=paths.qa,
            verify=cfg.verify,  # type: ignore[arg-type]
        )
        if isinstance(result, NotRun):
            raise DataMissingError(result.reason)
        rows += [s.to_record() for s in result]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_results(doc: Mapping[str, Any], results: list[str]) -> dict[str, float]:
    """Score one document: ``{str(length): score}`` with the task's RULER metric."""
    score = METRICS[doc["metric"]](results[0], doc["outputs"])
    return {str(doc["length"]): score}
