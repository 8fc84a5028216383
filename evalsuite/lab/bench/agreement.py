"""Do evalsuite and stock lm-eval give the same numbers (within bf16) on the same items?

Tolerance for a log-likelihood, ``|ours - stock| <= 2**-7 * |stock| + 2**-3``:
stock lm-eval in bf16 takes ``log_softmax`` of bf16 logits *in bf16* and sums
the continuation's log-probs in bf16 (``softmax_dtype`` unset), so each of its
numbers carries up to half a bf16 ulp of the sum (2**-9 relative) plus half an
ulp of every per-token log-prob (0.03 at -12); both backends' bf16 forward
passes differ by rounding (other GEMM shapes, other attention kernels). One
ulp of the total (2**-7 relative) plus two ulps of a typical per-token
log-prob (0.125) bound that; evalsuite itself reduces in fp32.

Decisions (``acc``: the argmax choice) that differ are classified: a *tie* when
stock's two log-likelihoods are exactly equal (bf16 sums collide; lm-eval's
argmax takes the first), *near-tie* when stock's margin between the two picks
is within the two deltas' tolerances, otherwise *unexplained*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from evalsuite.records import SampleRecord

TOL_REL = 2.0 ** -7
TOL_ABS = 2.0 ** -3


def tolerance(stock: float) -> float:
    return TOL_REL * abs(stock) + TOL_ABS


@dataclass(frozen=True)
class ScoreAgreement:
    n_items: int
    n_logliks: int
    max_abs_delta: float
    max_rel_delta: float
    p99_rel_delta: float
    within_tolerance: float  # fraction of log-likelihoods with |delta| <= tolerance
    tolerance: str
    n_decisions: int  # acc decisions compared (multiple-choice items)
    decisions_identical: int
    mismatch_ties: int
    mismatch_near_ties: int
    mismatch_unexplained: int
    acc_norm_identical: int | None
    metrics_ours: dict[str, float]
    metrics_stock: dict[str, float]

    @property
    def ok(self) -> bool:
        return self.within_tolerance == 1.0 and self.mismatch_unexplained == 0

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def _logliks(s: SampleRecord) -> list[float]:
    if "loglik" in s.scores:
        return [s.scores["loglik"]]
    return [float(r) for r in s.resps if isinstance(r, (int, float))]


def _means(samples: Sequence[SampleRecord]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s.scores if k in ("acc", "acc_norm")})
    out = {k: float(np.mean([s.scores[k] for s in samples if k in s.scores])) for k in keys}
    ll = [s.scores["loglik"] for s in samples if "loglik" in s.scores]
    words = [s.scores.get("n_words") for s in samples if "loglik" in s.scores]
    if ll and all(w for w in words):
        out["word_perplexity"] = float(np.exp(-np.sum(ll) / np.sum(words)))
    return out


def compare_scores(ours: Sequence[SampleRecord], stock: Sequence[SampleRecord]) -> ScoreAgreement:
    """Pair items by (task, doc_id) and compare every log-likelihood and acc decision."""
    ref = {(s.task, s.doc_id): s for s in stock}
    abs_d, rel_d, ok = [], [], []
    n_dec = same = ties = near = unexplained = 0
    norm_same, norm_n = 0, 0
    for s in ours:
        r = ref[(s.task, s.doc_id)]
        if s.prompt_hash != r.prompt_hash:
            raise AssertionError(f"{s.task}/{s.doc_id}: prompts differ between the two runs")
        a, b = _logliks(s), _logliks(r)
        for x, y in zip(a, b, strict=True):
            abs_d.append(abs(x - y))
            rel_d.append(abs(x - y) / max(abs(y), 1e-12))
            ok.append(abs(x - y) <= tolerance(y))
        if "acc_norm" in s.scores and "acc_norm" in r.scores:
            norm_n += 1
            norm_same += s.scores["acc_norm"] == r.scores["acc_norm"]
        if len(a) > 1:
            n_dec += 1
            pa, pb = int(np.argmax(a)), int(np.argmax(b))
            if pa == pb:
                same += 1
            elif b[pa] == b[pb]:
                ties += 1
            elif abs(b[pb] - b[pa]) <= tolerance(b[pa]) + tolerance(b[pb]):
                near += 1
            else:
                unexplained += 1
    rel = np.asarray(rel_d) if rel_d else np.zeros(1)
    return ScoreAgreement(
        n_items=len(ours), n_logliks=len(abs_d), max_abs_delta=float(max(abs_d, default=0.0)),
        max_rel_delta=float(rel.max()), p99_rel_delta=float(np.quantile(rel, 0.99)),
        within_tolerance=float(np.mean(ok)) if ok else 1.0, tolerance="|d| <= 2^-7*|stock| + 2^-3",
        n_decisions=n_dec, decisions_identical=same, mismatch_ties=ties, mismatch_near_ties=near,
        mismatch_unexplained=unexplained, acc_norm_identical=norm_same if norm_n else None,
        metrics_ours=_means(ours), metrics_stock=_means(stock))


@dataclass(frozen=True)
class GreedyAgreement:
    identical: bool
    n_ours: int
    n_stock: int
    first_difference: int | None  # index of the first differing token

    def to_dict(self) -> dict:
        return asdict(self)


def compare_tokens(ours: Sequence[int], stock: Sequence[int]) -> GreedyAgreement:
    first = next((i for i, (x, y) in enumerate(zip(ours, stock)) if x != y), None)
    if first is None and len(ours) != len(stock):
        first = min(len(ours), len(stock))
    return GreedyAgreement(first is None, len(ours), len(stock), first)
