"""MMLU loading: cais/mmlu on the hub by default, the official CSV folders offline."""

from __future__ import annotations

from typing import Any

import datasets

from evalsuite.families.mmlu import read_mmlu
from evalsuite.paths import data_dir_from


def load_mmlu(subject: str, data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    local = data_dir_from(data_dir)
    if local is None:
        return datasets.load_dataset("cais/mmlu", subject)
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_list(read_mmlu(local, subject, split)) for split in ("dev", "test")}
    )
