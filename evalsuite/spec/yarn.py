"""Static YaRN, the one type: asked for in a suite (``yarn: {factor, original_max_position_embeddings}``) or
in Python (``load_model(..., yarn=YarnSpec(4, 32768))``), applied by :func:`evalsuite.models.yarn.apply_yarn`.

The type holds its invariants (a factor >= 1, a positive original length); a suite file, where a factor of 1
would stretch nothing and is a mistake, is held to factor > 1 by the suite parser, which names the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evalsuite.errors import SpecError


@dataclass(frozen=True)
class YarnSpec:
    """Static YaRN: stretch a model trained at ``original_max_position_embeddings`` by ``factor``.

    ``attention_factor``, ``beta_fast`` and ``beta_slow`` default (None) to
    transformers' values: ``0.1*ln(factor)+1``, 32 and 1.
    """

    factor: float
    original_max_position_embeddings: int
    attention_factor: float | None = None
    beta_fast: float | None = None
    beta_slow: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or self.factor < 1.0:
            raise SpecError(f"yarn.factor must be a number >= 1, got {self.factor!r}")
        original = self.original_max_position_embeddings
        if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
            raise SpecError(f"yarn.original_max_position_embeddings must be a positive int, got {original!r}")
        if self.attention_factor is not None and self.attention_factor <= 0:
            raise SpecError(f"yarn.attention_factor must be > 0, got {self.attention_factor!r}")

    @property
    def max_position_embeddings(self) -> int:
        """The extended context, ``int(factor * original)``."""
        return int(self.factor * self.original_max_position_embeddings)

    def default_attention_factor(self) -> float:
        """transformers' default: ``0.1*ln(factor) + 1`` (1 when factor <= 1)."""
        return 1.0 if self.factor <= 1 else 0.1 * math.log(self.factor) + 1.0

    def as_record(self) -> dict[str, float | int]:
        """The suite's two keys, plus any refinement that was set (how suites and manifests serialise it)."""
        out: dict[str, float | int] = {"factor": self.factor,
                                       "original_max_position_embeddings": self.original_max_position_embeddings}
        for key in ("attention_factor", "beta_fast", "beta_slow"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out
