"""Log-likelihood of continuations, each shared prefix computed once.

lm-eval's HF backend runs ``context + continuation`` for every choice, pads a
batch to its longest member and takes a full-vocabulary log-softmax at every
position. Here all requests go into one prefix tree
(:mod:`evalsuite.engine.request_tree`): a HellaSwag context is computed once for its four
endings, an MMLU subject's 5-shot prefix once per packed row for many
questions. Rows are packed to a token budget (no batch-size probing), the
attention mask lets a token see only its tree ancestors, and the LM head runs
only at the distinct positions whose next token is scored (an MMLU question's
four one-token answers share one). In fp32 the numbers equal the stock
backend's to float rounding (the parity test holds them to 1e-4).

The forward pass is :class:`evalsuite.engine.forward.LeanDecoder` (the model's own
modules, SDPA chosen per batch: fused causal kernels for plain rows, the
memory-efficient kernel with the tree mask otherwise); models it does not
support go through transformers' decoder with the same 4D mask. Hybrid models
(Qwen3-Next, Qwen3.5: linear-attention layers carry a recurrent state, which a
tree mask cannot split) go through transformers' decoder with every distinct
sequence in a row of its own, right-padded, no mask: still one LM-head row per
scored position and no batch-size probing, but no prefix sharing.

Shapes: B rows, L tokens per row, V vocabulary, H hidden size.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch

from evalsuite.errors import ContextLengthError
from evalsuite.engine import finite, kernels
from evalsuite.engine.forward import LeanDecoder
from evalsuite.engine.request_tree import TreeStats, build_plan
from evalsuite.engine.row_layout import Batch
from evalsuite.models.layers import has_recurrent_layers
from evalsuite.spec.engine import EngineConfig

Request = tuple[Sequence[int], Sequence[int]]  # (context tokens, continuation tokens)
HYBRID_ENGINE = "hf, one sequence per row (linear-attention layers: no packing, no prefix sharing)"


@dataclass
class ScoringStats:
    """What one :func:`score_requests` call did: tree savings, tokens through the model, seconds."""

    tree: TreeStats
    batches: int = 0
    plan_seconds: float = 0.0
    forward_seconds: float = 0.0  # enqueue of every batch plus the one final device sync
    engine: str = "lean"
    notes: list[str] = field(default_factory=list)


def _check_lengths(requests: Sequence[Request], max_length: int) -> None:
    for i, (ctx, cont) in enumerate(requests):
        if len(ctx) == 0 or len(cont) == 0:
            raise ValueError(f"request {i}: context and continuation must be non-empty token lists")
        n_input = len(ctx) + len(cont) - 1
        if n_input > max_length:
            raise ContextLengthError(
                f"request {i} needs {n_input} input tokens but max_length is {max_length}; "
                "raise the model's max_length (or YaRN) instead of truncating")


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(array)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)  # H2D overlaps the previous batch's compute
    return t


def _hidden(model: torch.nn.Module, lean: LeanDecoder | None, batch: Batch, device: torch.device,
            engine: EngineConfig) -> torch.Tensor:
    """Final hidden states (B, L, H) of one packed batch."""
    ids, pos = _to_device(batch.input_ids, device), _to_device(batch.position_ids, device)
    end = None if batch.chain else _to_device(batch.end, device)
    if lean is not None:
        groups = lean.n_heads // lean.n_kv_heads
        if end is None:
            return kernels.run_causal(device, engine.attention, groups, lean.scaling,
                                      lambda attend: lean.hidden(ids, pos, attend))
        if engine.tree_attention == "flex" and "flex" not in kernels.DISABLED:
            try:
                return lean.hidden(ids, pos, kernels.tree_flex(end, groups, lean.scaling))
            except Exception:  # noqa: BLE001 - FlexAttention is an optimisation; the dense mask is correct
                kernels.DISABLED.add("flex")
        with kernels.sdpa_backends(device, masked=True, prefer_cudnn=False):
            return lean.hidden(ids, pos, kernels.tree(kernels.tree_mask(end), groups, lean.scaling))
    mask = None if end is None else kernels.tree_mask(end)
    decoder = getattr(model, model.base_model_prefix)
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    if mask is not None and impl not in ("sdpa", "eager"):
        raise ValueError(f"packed scoring needs sdpa or eager attention, not {impl}")
    if mask is not None and impl == "eager":
        dtype = next(model.parameters()).dtype
        mask = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill_(~mask, torch.finfo(dtype).min)
    return decoder(input_ids=ids, position_ids=pos, attention_mask=mask, use_cache=False).last_hidden_state


def _hidden_or_eager(model: torch.nn.Module, lean: LeanDecoder | None, batch: Batch, device: torch.device,
                     engine: EngineConfig, stats: ScoringStats) -> tuple[torch.Tensor, LeanDecoder | None]:
    """:func:`_hidden`; if the compiled layer fails (an inductor limit), the batch again eagerly, and eager from
    then on: compilation is an optimisation, the eager layer computes the same thing."""
    if lean is None or not lean.compiled:
        return _hidden(model, lean, batch, device, engine), lean
    disabled = set(kernels.DISABLED)
    try:
        return _hidden(model, lean, batch, device, engine), lean
    except Exception as exc:  # noqa: BLE001
        kernels.restore_disabled(disabled)  # _hidden may have blamed a kernel for the compiler's error
        stats.notes.append(f"compiled scoring failed ({type(exc).__name__}: {str(exc)[:300]}); eager layers")
        stats.engine = "lean (compile failed)"
        eager = replace(lean, compiled=False)
        return _hidden(model, eager, batch, device, engine), eager


def _pick(logits: torch.Tensor, rows: torch.Tensor, tok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log_softmax(logits)[rows, tok] in fp32 and whether ``tok`` is each row's argmax, as the stock backend
    computes them (a full-vocabulary fp32 log-softmax, then a gather: CPU logsumexp rounds differently,
    ~1e-5 per token)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)  # (n, V)
    return logprobs[rows, tok], logprobs.argmax(dim=-1)[rows] == tok


@functools.lru_cache(maxsize=None)
def _compiled_pick() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    # The same formula through inductor: the gathered entries of the log-softmax are computed from its two row
    # reductions, so the [n, V] fp32 copy and log-softmax are never written (~5 GB of traffic per 2,048 rows).
    return torch.compile(_pick, dynamic=True)


def _score_positions(head: torch.nn.Module, hidden: torch.Tensor, batch: Batch, chunk: int,
                     device: torch.device, compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Per scored (position, target): log-prob (fp32) and argmax == target, LM head once per distinct position.

    Returns them in an order of the batch's scored pairs given by the third value (request ids).
    ``compiled``: :func:`_pick` through torch.compile.
    """
    flat = hidden.reshape(-1, hidden.shape[-1])
    positions, inverse = np.unique(batch.flat_index, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # pairs grouped by distinct position
    inv_sorted = inverse[order]
    bounds = np.searchsorted(inv_sorted, np.arange(0, len(positions) + chunk, chunk))
    positions_t = _to_device(positions, device)
    inv_t = _to_device(inv_sorted, device)
    target_t = _to_device(batch.target[order], device)
    pick = _compiled_pick() if compiled else _pick
    logps, greedy = [], []
    for c, s in enumerate(range(0, len(positions), chunk)):
        a, b = int(bounds[c]), int(bounds[c + 1])
        lp, gr = pick(head(flat[positions_t[s:s + chunk]]), inv_t[a:b] - s, target_t[a:b])
        logps.append(lp)
        greedy.append(gr)
    return torch.cat(logps), torch.cat(greedy), batch.request[order]


@torch.inference_mode()
def score_requests(model: torch.nn.Module, requests: Sequence[Request], *, max_length: int, pad_id: int,
                   engine: EngineConfig = EngineConfig(),
                   progress: Callable[[int], None] | None = None,
                   stats_out: list[ScoringStats] | None = None) -> list[tuple[float, bool]]:
    """(sum of continuation log-probs in nats, continuation is the greedy decode) for each request.

    ``pad_id`` is unused (padding never reaches a scored position; kept for callers' signature).
    """
    del pad_id
    if not requests:
        return []
    _check_lengths(requests, max_length)
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    # compile_scoring reaches torch.compile here: the lean layers' halves (forward.compiled_halves) and the
    # LM head's log-softmax (_compiled_pick); None (not resolved for a device) counts as off.
    lean = LeanDecoder.wrap(model, compiled=bool(engine.compile_scoring)) if engine.forward == "auto" else None
    head = model.get_output_embeddings()
    share = lean is not None or not has_recurrent_layers(model)
    plan = build_plan(requests, capacity=min(engine.row_tokens, max_length), batch_tokens=engine.batch_tokens,
                      max_length=max_length, align=8 if device.type == "cuda" else 1, share=share)
    path = "lean+compiled" if lean is not None and lean.compiled else "lean" if lean is not None else "hf"
    stats = ScoringStats(plan.stats, batches=len(plan), engine=path if share else HYBRID_ENGINE)
    if lean is not None and device.type == "cuda":
        stats.engine += f", causal rows: {kernels.causal_backend(device, engine.attention)}"
    if lean is not None and engine.tree_attention == "flex":
        stats.engine += ", tree rows: flex"
    t1 = time.perf_counter()
    logps, greedy, owners = [], [], []
    compiled_head = True
    for batch in plan.batches():
        hidden, lean = _hidden_or_eager(model, lean, batch, device, engine, stats)
        compiled_head = compiled_head and lean is not None and lean.compiled
        try:
            lp, gr, req = _score_positions(head, hidden, batch, engine.lm_head_chunk, device, compiled=compiled_head)
        except Exception as exc:  # noqa: BLE001 - an inductor limit: the eager head computes the same thing
            if not compiled_head:
                raise
            compiled_head = False
            stats.notes.append(f"compiled LM-head log-softmax failed ({type(exc).__name__}: {str(exc)[:300]}); eager")
            lp, gr, req = _score_positions(head, hidden, batch, engine.lm_head_chunk, device)
        logps.append(lp)
        greedy.append(gr)
        owners.append(req)
        del hidden
        if progress is not None:
            progress(len(np.unique(req)))
    lp = torch.cat(logps).double().cpu().numpy()  # the one device sync
    gr = torch.cat(greedy).cpu().numpy()
    req = np.concatenate(owners)
    total = np.bincount(req, weights=lp, minlength=len(requests))
    bad = finite.first_nonfinite(total) if engine.check_finite else None
    if bad is not None:  # NaN/inf propagate into the sums: the per-request totals hold every token's verdict
        i, n = bad
        ctx, cont = requests[i]
        finite.raise_nonfinite(f"non-finite log-likelihood ({finite.kind(total[i])})", request=i, count=n,
                               of=len(requests), model=model, tokens=[*ctx, *cont[:-1]])
    misses = np.bincount(req, weights=(~gr).astype(np.float64), minlength=len(requests))
    counts = np.bincount(req, minlength=len(requests))
    assert (counts == np.array([len(c) for _, c in requests])).all(), "every continuation token scored once"
    stats.plan_seconds, stats.forward_seconds = t1 - t0, time.perf_counter() - t1
    if stats_out is not None:
        stats_out.append(stats)
    return [(float(t), bool(m == 0)) for t, m in zip(total, misses)]
