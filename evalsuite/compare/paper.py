"""The numbers *Gated Attention for Large Language Models* (Qiu et al., NeurIPS 2025, arXiv 2505.06708) reports.

Shown on the leaderboard beside ours, always labelled as the paper's. Its PPL is
on the authors' internal held-out sets (not WikiText), so only the direction of
a delta carries over, not the level. :data:`PAPER_DELTAS` are its 1.7B dense
gated-minus-baseline deltas in our tests' units: what each delta row's power
column asks "could this run have detected?".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CITATION = "Qiu et al., Gated Attention for Large Language Models (NeurIPS 2025, arXiv 2505.06708)"


@dataclass(frozen=True)
class PaperRow:
    model: str
    ppl: float | None = None
    mmlu: float | None = None  # percent
    hellaswag: float | None = None  # percent
    ruler_128k: float | None = None  # percent, with YaRN
    first_token_share: float | None = None
    max_activation: float | None = None


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("1.7B dense (3.5T tokens), baseline", 6.180, 59.10, 68.02, ruler_128k=31.65),
    PaperRow("1.7B dense (3.5T tokens), elementwise gate", 6.130, 59.61, 68.84, ruler_128k=58.82),
    PaperRow("15B-A2.5B MoE, baseline", 6.026, 58.79, 73.07, first_token_share=0.467, max_activation=1053),
    PaperRow("15B-A2.5B MoE, elementwise gate", 5.761, 60.82, 74.64, first_token_share=0.048, max_activation=94),
)

# Mean sigmoid gate score over all layers.
PAPER_GATE_SCORES: tuple[tuple[str, float], ...] = (("elementwise", 0.116), ("headwise", 0.172))


def _dense(field: str) -> float:
    base, gated = PAPER_ROWS[0], PAPER_ROWS[1]
    return float(getattr(gated, field)) - float(getattr(base, field))


# Metric key -> the paper's delta (1.7B dense, elementwise gate minus baseline) in the test's units: fractions
# for accuracies and RULER, log-PPL nats for perplexity (its PPL is on other sets: the ratio is what carries).
# The paper does not say which HellaSwag accuracy it reports, so both carry its +0.82 points.
PAPER_DELTAS: dict[str, float] = {
    "log_ppl": math.log(PAPER_ROWS[1].ppl / PAPER_ROWS[0].ppl),
    "mmlu_acc": _dense("mmlu") / 100,
    "hellaswag_acc": _dense("hellaswag") / 100,
    "hellaswag_acc_norm": _dense("hellaswag") / 100,
    "ruler_131072": _dense("ruler_128k") / 100,
}
