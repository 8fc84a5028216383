"""Log-likelihood of continuations, computed once per shared context.

lm-eval's HF backend runs ``context + continuation`` for every choice and takes
a full-vocabulary log-softmax at every position. Here each distinct context is
run once and its continuations branch off it inside the same packed row
(a "prefix tree" attention mask: a continuation token sees the context and
its own earlier tokens, never a sibling's), and the LM head is applied only at
the positions whose next token is scored. In fp32 the numbers equal the stock
backend's to float rounding (the parity test holds them to 1e-4).

Shapes: B rows, L tokens per row, V vocabulary, H hidden size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from evalsuite.errors import ContextLengthError

Request = tuple[Sequence[int], Sequence[int]]  # (context tokens, continuation tokens)


@dataclass
class _Segment:
    """One context and the continuations that branch off it (request indices kept for the answer)."""

    context: tuple[int, ...]
    branches: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (request index, continuation)

    @property
    def n_tokens(self) -> int:
        # The last continuation token is never an input: it is only predicted.
        return len(self.context) + sum(len(c) - 1 for _, c in self.branches)


@dataclass
class _Row:
    segments: list[_Segment] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return sum(s.n_tokens for s in self.segments)


@dataclass(frozen=True)
class ScoringConfig:
    """Batching knobs. ``batch_tokens`` bounds B*L per forward pass; ``row_tokens`` the packed row length."""

    batch_tokens: int = 8192
    row_tokens: int = 2048
    lm_head_chunk: int = 2048  # positions per LM-head matmul: bounds the [n, V] fp32 logits buffer


def _segments(requests: Sequence[Request], max_length: int) -> list[_Segment]:
    by_context: OrderedDict[tuple[int, ...], _Segment] = OrderedDict()
    for i, (ctx, cont) in enumerate(requests):
        if not ctx or not cont:
            raise ValueError(f"request {i}: context and continuation must be non-empty token lists")
        n_input = len(ctx) + len(cont) - 1
        if n_input > max_length:
            raise ContextLengthError(
                f"request {i} needs {n_input} input tokens but max_length is {max_length}; "
                "raise the model's max_length (or YaRN) instead of truncating")
        key = tuple(ctx)
        by_context.setdefault(key, _Segment(context=key)).branches.append((i, tuple(cont)))
    # A segment whose branches overflow max_length is split; each part repeats the context.
    out: list[_Segment] = []
    for seg in by_context.values():
        part = _Segment(context=seg.context)
        for branch in seg.branches:
            if part.branches and part.n_tokens + len(branch[1]) - 1 > max_length:
                out.append(part)
                part = _Segment(context=seg.context)
            part.branches.append(branch)
        out.append(part)
    return out


def _pack(segments: list[_Segment], capacity: int) -> list[_Row]:
    """First-fit decreasing: few rows, little padding, and the longest rows first (OOM shows at once)."""
    rows: list[_Row] = []
    for seg in sorted(segments, key=lambda s: -s.n_tokens):
        for row in rows:
            if row.n_tokens + seg.n_tokens <= capacity:
                row.segments.append(seg)
                break
        else:
            rows.append(_Row([seg]))
    return rows


def _batches(rows: list[_Row], batch_tokens: int) -> list[list[_Row]]:
    rows = sorted(rows, key=lambda r: -r.n_tokens)
    batches: list[list[_Row]] = []
    for row in rows:
        if batches and (len(batches[-1]) + 1) * batches[-1][0].n_tokens <= batch_tokens:
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches


@dataclass
class _BatchLayout:
    input_ids: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    group: torch.Tensor  # (B, L) segment number within the batch, -1 on padding
    branch: torch.Tensor  # (B, L) 0 on a context, k+1 on the k-th continuation of its segment
    needs_mask: bool  # False when every row is one plain causal sequence (then SDPA may use flash kernels)
    # For each request: flat (row*L + position) indices whose logits predict its continuation tokens.
    targets: dict[int, tuple[list[int], tuple[int, ...]]]


def _layout(batch: list[_Row], pad_id: int) -> _BatchLayout:
    L = max(r.n_tokens for r in batch)
    ids = torch.full((len(batch), L), pad_id, dtype=torch.long)
    pos = torch.zeros((len(batch), L), dtype=torch.long)
    grp = torch.full((len(batch), L), -1, dtype=torch.long)
    brn = torch.zeros((len(batch), L), dtype=torch.long)
    targets: dict[int, tuple[list[int], tuple[int, ...]]] = {}
    needs_mask = False
    g = 0
    for b, row in enumerate(batch):
        t = 0
        needs_mask |= len(row.segments) > 1
        for seg in row.segments:
            c = len(seg.context)
            ids[b, t:t + c] = torch.tensor(seg.context)
            pos[b, t:t + c] = torch.arange(c)
            grp[b, t:t + c] = g
            last_ctx = b * L + t + c - 1
            t += c
            with_inputs = 0
            for k, (req, cont) in enumerate(seg.branches):
                n = len(cont) - 1
                if n:
                    with_inputs += 1
                    ids[b, t:t + n] = torch.tensor(cont[:-1])
                    pos[b, t:t + n] = torch.arange(c, c + n)
                    grp[b, t:t + n] = g
                    brn[b, t:t + n] = k + 1
                targets[req] = ([last_ctx] + [b * L + t + j for j in range(n)], cont)
                t += n
            needs_mask |= with_inputs > 1
            g += 1
    return _BatchLayout(ids, pos, grp, brn, needs_mask, targets)


def _prefix_tree_mask(layout: _BatchLayout, *, additive_dtype: torch.dtype | None) -> torch.Tensor:
    """(B, 1, L, L): query q sees key k iff same segment, k <= q, and k is context or q's own branch."""
    g, br = layout.group, layout.branch
    L = g.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    same = (g[:, :, None] == g[:, None, :]) & (g[:, :, None] >= 0)
    tree = (br[:, None, :] == 0) | (br[:, :, None] == br[:, None, :])
    allowed = same & tree & causal
    allowed |= torch.eye(L, dtype=torch.bool)  # padding rows attend to themselves: no all -inf softmax rows
    allowed = allowed[:, None]
    if additive_dtype is None:
        return allowed
    mask = torch.zeros(allowed.shape, dtype=additive_dtype)
    return mask.masked_fill_(~allowed, torch.finfo(additive_dtype).min)


def _decoder_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    decoder = getattr(model, model.base_model_prefix, None)
    head = model.get_output_embeddings()
    if decoder is None or head is None:
        raise TypeError(f"{type(model).__name__}: need a base model and an LM head to score continuations")
    return decoder, head


@torch.inference_mode()
def score_requests(model: torch.nn.Module, requests: Sequence[Request], *, max_length: int, pad_id: int,
                   config: ScoringConfig = ScoringConfig(),
                   progress: Callable[[int], None] | None = None) -> list[tuple[float, bool]]:
    """(sum of continuation log-probs in nats, continuation is the greedy decode) for each request."""
    if not requests:
        return []
    device = next(model.parameters()).device
    decoder, head = _decoder_and_head(model)
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    additive = None if impl == "sdpa" else next(model.parameters()).dtype
    capacity = max(config.row_tokens, max(len(c) + len(x) - 1 for c, x in requests))
    rows = _pack(_segments(requests, max_length), min(capacity, max_length))
    results: list[tuple[float, bool] | None] = [None] * len(requests)
    for batch in _batches(rows, config.batch_tokens):
        layout = _layout(batch, pad_id)
        mask = _prefix_tree_mask(layout, additive_dtype=additive).to(device) if layout.needs_mask else None
        if mask is not None and impl not in ("sdpa", "eager"):
            raise ValueError(f"packed scoring needs sdpa or eager attention, not {impl}")
        hidden = decoder(input_ids=layout.input_ids.to(device), position_ids=layout.position_ids.to(device),
                         attention_mask=mask, use_cache=False).last_hidden_state  # (B, L, H)
        flat = hidden.reshape(-1, hidden.shape[-1])
        reqs = list(layout.targets)
        index = torch.tensor([i for r in reqs for i in layout.targets[r][0]], device=device)
        tokens = torch.tensor([t for r in reqs for t in layout.targets[r][1]], device=device)
        logps, greedy = [], []
        for s in range(0, len(index), config.lm_head_chunk):
            logits = head(flat[index[s:s + config.lm_head_chunk]]).float()  # (n, V)
            logprobs = torch.log_softmax(logits, dim=-1)
            tok = tokens[s:s + config.lm_head_chunk]
            logps.append(logprobs.gather(1, tok[:, None]).squeeze(1))
            greedy.append(logprobs.argmax(dim=-1) == tok)
        # fp32 sums per request, like the stock backend, so rounding matches it too.
        lp, gr = torch.cat(logps).cpu(), torch.cat(greedy).cpu()
        start = 0
        for r in reqs:
            n = len(layout.targets[r][1])
            results[r] = (float(lp[start:start + n].sum()), bool(gr[start:start + n].all()))
            start += n
        if progress is not None:
            progress(len(reqs))
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]
