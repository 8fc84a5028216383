"""Real per-item vectors and how a simulated comparison draws them to the real n.

:class:`ItemVectors` is one model's per-choice scores on one task as the fixture
(``tests/stats/data/per_item.npz``, made by :mod:`.fixture`) stores them;
:func:`resample_strata` draws MMLU within each subject to its real test size and
:func:`resample_clusters` draws HellaSwag by whole activity clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalsuite.families.mmlu import SUBJECT_CATEGORY

SUBJECTS = tuple(sorted(SUBJECT_CATEGORY))  # an MMLU item's group code is its subject's index here


@dataclass(frozen=True)
class ItemVectors:
    """One model's per-item choice scores on one task (rows aligned with ``gold``/``groups``)."""

    resps: np.ndarray  # (n, k) raw log-likelihoods
    gold: np.ndarray  # (n,) gold choice index
    groups: np.ndarray  # (n,) MMLU subject code / HellaSwag activity code
    chars: np.ndarray | None = None  # (n, k) choice lengths in characters (acc_norm)

    def scores(self, norm: bool) -> np.ndarray:
        return self.resps / self.chars if norm else self.resps

    def take(self, index: np.ndarray) -> ItemVectors:
        return ItemVectors(self.resps[index], self.gold[index], self.groups[index],
                           None if self.chars is None else self.chars[index])


def load_fixture(path: Path | str, prefix: str) -> ItemVectors:
    """``prefix`` = ``smollm2_mmlu``, ``smollm2_hellaswag``, ``mini_hellaswag_<model>``, ..."""
    data = np.load(path)
    chars = data.get(f"{prefix}_chars") if f"{prefix}_chars" in data else None
    return ItemVectors(data[f"{prefix}_resps"].astype(np.float64), data[f"{prefix}_gold"].astype(np.intp),
                       data[f"{prefix}_groups"].astype(np.intp), None if chars is None else chars.astype(np.float64))


def resample_strata(groups: np.ndarray, sizes: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """Item indices: within each group, ``sizes[group]`` draws with replacement (MMLU to its real sizes)."""
    parts = [rng.choice(np.flatnonzero(groups == g), size=m) for g, m in sizes.items() if m > 0]
    return np.concatenate(parts)


def resample_clusters(groups: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and new cluster ids (a drawn cluster twice is two clusters): whole clusters drawn with
    replacement until ``n`` items (the last one cut), as HellaSwag's activities would be sampled."""
    labels = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in labels}
    mean_size = len(groups) / len(labels)
    draws = rng.choice(labels, size=int(2 * n / mean_size) + 10)
    index = np.concatenate([members[g] for g in draws])
    ids = np.concatenate([np.full(members[g].size, i) for i, g in enumerate(draws)])
    if index.size < n:
        return resample_clusters(groups, n, rng)
    return index[:n], ids[:n]
