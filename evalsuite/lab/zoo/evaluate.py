"""Held-out loss of a model in training: per-document NLL sums, and the trio's paired perplexity tests.

The trainer scores the held-out books itself (the harness has no task for
them); the paired test is the harness's own
:func:`evalsuite.stats.paired_bootstrap_log_ppl`, with books as the resampled
units (windows of one book are not independent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evalsuite.lab.zoo.data import EvalDoc, doc_windows


@dataclass(frozen=True)
class DocScores:
    """Per document: summed NLL of its predicted tokens (nats) and their count."""

    names: tuple[str, ...]
    nll_nats: tuple[float, ...]
    tokens: tuple[int, ...]

    @property
    def loss(self) -> float:
        """Mean NLL per token over all documents (nats)."""
        return sum(self.nll_nats) / max(1, sum(self.tokens))

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "loss": self.loss, "perplexity": self.perplexity}


@torch.no_grad()
def score_docs(model: torch.nn.Module, docs: Sequence[EvalDoc], *, seq_len: int, batch_size: int,
               device: str, max_windows: int | None = None) -> DocScores:
    """NLL of every document under ``model`` (bf16 autocast on CUDA), windows of ``seq_len`` batched together.

    ``max_windows`` caps the full-length windows scored (the periodic check during
    training); documents then count only what was scored.
    """
    was_training = model.training
    model.eval()
    full: list[tuple[int, np.ndarray, np.ndarray]] = []  # (doc index, inputs, targets) of length seq_len
    partial: list[tuple[int, np.ndarray, np.ndarray]] = []
    for d, doc in enumerate(docs):
        for x, y in doc_windows(doc.ids, seq_len):
            (full if len(x) == seq_len else partial).append((d, x, y))
    if max_windows is not None:
        full, partial = full[:max_windows], []
    nll = torch.zeros(len(docs), dtype=torch.float64, device=device)
    count = [0] * len(docs)
    groups = [full[i:i + batch_size] for i in range(0, len(full), batch_size)] + [[w] for w in partial]
    for group in groups:
        x = torch.as_tensor(np.stack([w[1] for w in group]), device=device).long()  # (B, T)
        y = torch.as_tensor(np.stack([w[2] for w in group]), device=device).long()
        with torch.autocast(device_type=_device_type(device), dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            logits = model(input_ids=x, use_cache=False).logits  # (B, T, V)
        per_token = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
        index = torch.as_tensor([w[0] for w in group], device=device)
        nll.index_add_(0, index, per_token.sum(dim=1).double())
        for w in group:
            count[w[0]] += len(w[2])
    model.train(was_training)
    keep = [i for i, c in enumerate(count) if c > 0]
    values = nll.tolist()
    return DocScores(names=tuple(docs[i].name for i in keep), nll_nats=tuple(values[i] for i in keep),
                     tokens=tuple(count[i] for i in keep))


def _device_type(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def paired_ppl(reference: DocScores, candidate: DocScores, *, seed: int = 0) -> dict[str, Any]:
    """The harness's paired perplexity test of ``candidate`` against ``reference`` over the same documents."""
    from evalsuite.stats import paired_bootstrap_log_ppl

    if reference.names != candidate.names or reference.tokens != candidate.tokens:
        raise ValueError("the two models were scored on different documents or windows")
    result = paired_bootstrap_log_ppl(reference.nll_nats, candidate.nll_nats, reference.tokens,
                                      rng=np.random.default_rng(seed), metric="heldout_books_log_ppl")
    return {"n_documents": result.n, "delta_log_ppl": result.statistic, "pvalue": result.pvalue,
            "ci95": [result.confidence_interval.low, result.confidence_interval.high],
            "ppl_reference": result.ppl_reference, "ppl_candidate": result.ppl_candidate,
            "ppl_ratio": result.ppl_ratio,
            "ppl_ratio_ci95": [result.ppl_ratio_confidence_interval.low, result.ppl_ratio_confidence_interval.high],
            "method": result.method}
