"""Split one lm-eval request list across ranks, balanced by estimated cost, keeping shared contexts together.

Cost model (seconds on one GPU at its roofline; only ratios matter for balance)::

    prefill(T)        = a*T + b*T^2                 a = 2*N_mm / F,        b = 2*L*q_dim / F
    decode(T, G)      = G * (c0 + c1*(T + G/2))     c0 = N*bytes / B,      c1 = 2*L*kv_dim*bytes / B
    loglikelihood     = prefill(context + all its continuations)   (one pass per distinct context)
    rolling(T)        = a*T + b*T*min(T, max_length)                 (disjoint windows of max_length)
    generate_until    = prefill(prompt) + decode(prompt, max_gen_toks)

``N_mm`` are the parameters in matrix products per token (all but the token
embedding: the LM head runs only where a next token is scored); ``b`` is causal
attention's ``QK^T`` and ``AV`` (``2*T^2*q_dim`` FLOPs per layer); ``c0`` reads
every weight once per decoded token and ``c1`` reads the KV cache. F = 788 TFLOP/s
(bf16 matmul) and B = 4.3 TB/s (HBM) are the rates measured on the project's
H200 (DESIGN.md). For the paper's 1.7B dense shape in bf16 (28 layers, 16x128
query, 8x128 KV, N = 1.72e9) that gives a = 3.6e-6 s, b = 1.46e-10 s,
c0 = 8.0e-4 s, c1 = 2.7e-8 s: prefill of 128K tokens costs ~170x 4K tokens
(attention is 84% of it), and a RULER sample with 128 generated tokens costs
3.5 s at 128K vs 0.13 s at 4K, ~26x (decoding dominates short samples).

Requests sharing a context form a group (the inner LM scores a context once for
all its continuations). Groups are packed into *chunks* costing about one to
eight of the inner LM's full batches (:func:`chunk_budget`); a chunk is one call
of the inner LM. Chunks depend on the requests alone, not on the number of ranks: the inner
LM's batching, and with it every float rounding, is then the same for 1 or N
ranks, which is what makes N-process results bit-identical to 1-process ones
(the packed scorer's numbers move by ~1e-7 relative with the company a request
keeps in its batch). Chunks go to ranks by LPT (longest processing time first:
sorted by cost, descending, each to the least-loaded rank; makespan <=
(4/3 - 1/(3m)) * optimum, Graham 1969). Every rank computes the same plan from
the same requests, so no communication is needed to agree on it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from evalsuite.lab.bench.flops import PEAK_BYTES_PER_S

# Roofline of the project's GPU (DESIGN.md, "The GPU machine"); the copy bandwidth is the benchmark's.
MATMUL_FLOPS = 788e12
HBM_BYTES_PER_S = PEAK_BYTES_PER_S
CHARS_PER_TOKEN_FALLBACK = 4.0  # without a tokenizer; English BPE averages ~4 characters per token
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task does not say


@dataclass(frozen=True)
class CostModel:
    """Estimated seconds for the work of one request (see the module docstring for the derivation)."""

    prefill_s_per_token: float  # a
    attention_s_per_token_sq: float  # b
    decode_s_per_token: float  # c0: reading the weights once
    decode_s_per_token_per_context: float  # c1: reading one cached token's K and V in every layer

    @classmethod
    def from_shape(cls, *, n_params: float, n_embedding_params: float, layers: int, q_dim: int, kv_dim: int,
                   bytes_per_param: int = 2, flops: float = MATMUL_FLOPS,
                   bytes_per_s: float = HBM_BYTES_PER_S) -> "CostModel":
        return cls(prefill_s_per_token=2.0 * (n_params - n_embedding_params) / flops,
                   attention_s_per_token_sq=2.0 * layers * q_dim / flops,
                   decode_s_per_token=n_params * bytes_per_param / bytes_per_s,
                   decode_s_per_token_per_context=2.0 * layers * kv_dim * bytes_per_param / bytes_per_s)

    @classmethod
    def paper_1p7b(cls) -> "CostModel":
        """The paper's 1.7B dense model (table 7) in bf16: the default when the model is not known."""
        return cls.from_shape(n_params=1.72e9, n_embedding_params=151936 * 2048, layers=28, q_dim=16 * 128,
                              kv_dim=8 * 128, bytes_per_param=2)

    @classmethod
    def from_model(cls, model: Any) -> "CostModel":
        """From a loaded transformers model's config and parameters; the paper's shape if they are unreadable."""
        cfg = getattr(model, "config", None)
        try:
            heads, kv_heads = int(cfg.num_attention_heads), int(cfg.num_key_value_heads)
            head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
            params = list(model.parameters())
            n = sum(p.numel() for p in params)
            emb = model.get_input_embeddings().weight.numel()
            return cls.from_shape(n_params=n, n_embedding_params=emb, layers=int(cfg.num_hidden_layers),
                                  q_dim=heads * head_dim, kv_dim=kv_heads * head_dim,
                                  bytes_per_param=params[0].element_size())
        except (AttributeError, TypeError, ValueError, IndexError):
            return cls.paper_1p7b()

    def prefill_s(self, tokens: float) -> float:
        return self.prefill_s_per_token * tokens + self.attention_s_per_token_sq * tokens * tokens

    def decode_s(self, context_tokens: float, new_tokens: float) -> float:
        mean_context = context_tokens + new_tokens / 2.0
        return new_tokens * (self.decode_s_per_token + self.decode_s_per_token_per_context * mean_context)

    def rolling_s(self, tokens: float, max_length: int) -> float:
        return self.prefill_s_per_token * tokens + self.attention_s_per_token_sq * tokens * min(tokens, max_length)


class TokenEstimator:
    """Token counts from character counts, at a ratio calibrated with the real tokenizer on a few texts.

    Tokenising every request on every rank only to plan the split would cost as much
    as tokenising them for the model (34M tokens for 5-shot MMLU); a ratio from
    <= 32 evenly spaced texts (<= 4,000 characters each) is deterministic, so all
    ranks compute the same counts, and it is accurate enough to balance.
    """

    SAMPLE_TEXTS = 32
    SAMPLE_CHARS = 4000

    def __init__(self, encode: Callable[[str], Sequence[int]] | None, texts: Sequence[str]) -> None:
        self.tokens_per_char = 1.0 / CHARS_PER_TOKEN_FALLBACK
        if encode is None or not texts:
            return
        step = max(1, len(texts) // self.SAMPLE_TEXTS)
        sample = [t[: self.SAMPLE_CHARS] for t in texts[::step][: self.SAMPLE_TEXTS] if t]
        chars = sum(len(t) for t in sample)
        if chars:
            self.tokens_per_char = max(1, sum(len(encode(t)) for t in sample)) / chars

    def __call__(self, text: str) -> float:
        return len(text) * self.tokens_per_char


def group_by_context(args: Sequence[tuple[Any, ...]]) -> list[list[int]]:
    """Request indices grouped by their first argument (the context string), in order of first appearance."""
    groups: dict[Any, list[int]] = {}
    for i, a in enumerate(args):
        groups.setdefault(a[0], []).append(i)
    return list(groups.values())


def group_cost(method: str, args: Sequence[tuple[Any, ...]], *, tokens: Callable[[str], float],
               model: CostModel, max_length: int, default_max_gen_toks: int = DEFAULT_MAX_GEN_TOKS) -> float:
    """Estimated seconds for one group of requests sharing a context (``args`` are the requests' ``.args``)."""
    context = min(tokens(args[0][0]), max_length)
    if method == "loglikelihood":
        return model.prefill_s(min(context + sum(tokens(a[1]) for a in args), max_length))
    if method == "loglikelihood_rolling":
        return len(args) * model.rolling_s(tokens(args[0][0]), max_length)
    if method == "generate_until":
        total = 0.0
        for a in args:
            kwargs = a[1] if len(a) > 1 and isinstance(a[1], dict) else {}
            new = float(kwargs.get("max_gen_toks") or default_max_gen_toks)
            total += model.prefill_s(context) + model.decode_s(context, new)
        return total
    raise ValueError(f"unknown lm-eval request type {method!r}")


def chunk_budget(total_s: float, batch_s: float) -> float:
    """Estimated seconds per chunk: ~128 chunks per call for balance, but at least one and at most 8 of the
    inner LM's full batches (``batch_s``: smaller chunks would cut its batches short, larger ones balance
    coarsely). A generated token costs a weight read (~180 prefill tokens on an H200), so generation chunks
    hold few requests: the inner LM decodes one request at a time anyway."""
    return min(max(total_s / 128.0, batch_s), 8.0 * batch_s)


def chunk_groups(sizes: Sequence[float], budget: float) -> list[list[int]]:
    """Groups (largest first, ties by index) filled into chunks of at most ``budget``; a group larger than
    the budget is a chunk of its own. Depends on the requests only, never on the world size."""
    chunks: list[list[int]] = []
    current: list[int] = []
    filled = 0.0
    for g in sorted(range(len(sizes)), key=lambda g: (-sizes[g], g)):
        if current and filled + sizes[g] > budget:
            chunks.append(current)
            current, filled = [], 0.0
        current.append(g)
        filled += sizes[g]
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class ShardPlan:
    """The chunks of one request list (each one inner-LM call), which rank runs each, and the estimated
    seconds each rank was given. The chunks are the same for every world size, so every request is computed
    in the same company (same batches, same float rounding) whether there are 1 or 64 ranks."""

    chunks: tuple[tuple[int, ...], ...]  # request indices, ascending within a chunk
    chunk_owner: tuple[int, ...]
    loads_s: tuple[float, ...]  # per rank

    def chunks_of(self, rank: int) -> list[tuple[int, ...]]:
        return [c for c, r in zip(self.chunks, self.chunk_owner) if r == rank]

    @property
    def owner(self) -> tuple[int, ...]:
        """The rank of each request."""
        out = [0] * sum(len(c) for c in self.chunks)
        for c, r in zip(self.chunks, self.chunk_owner):
            for i in c:
                out[i] = r
        return tuple(out)

    @property
    def makespan_s(self) -> float:
        return max(self.loads_s)

    @property
    def imbalance(self) -> float:
        """Makespan over the perfect split (1.0 = perfectly even)."""
        mean = sum(self.loads_s) / len(self.loads_s)
        return self.makespan_s / mean if mean > 0 else 1.0


def lpt_assign(costs: Sequence[float], n_ranks: int) -> tuple[list[int], list[float]]:
    """LPT: each job (longest first; ties by index) to the least-loaded rank (ties by rank). (owner, loads)."""
    if n_ranks < 1:
        raise ValueError(f"n_ranks must be >= 1, got {n_ranks}")
    owner = [0] * len(costs)
    loads = [0.0] * n_ranks
    heap = [(0.0, r) for r in range(n_ranks)]
    for job in sorted(range(len(costs)), key=lambda j: (-costs[j], j)):
        load, r = heapq.heappop(heap)
        owner[job] = r
        loads[r] = load + costs[job]
        heapq.heappush(heap, (loads[r], r))
    return owner, loads


def plan_shards(method: str, args: Sequence[tuple[Any, ...]], n_ranks: int, *, tokens: Callable[[str], float],
                model: CostModel, max_length: int, batch_tokens: int = 8192,
                default_max_gen_toks: int = DEFAULT_MAX_GEN_TOKS) -> ShardPlan:
    """Group requests by context, pack the groups into world-size-independent chunks, LPT-assign the chunks."""
    groups = group_by_context(args)
    costs = [group_cost(method, [args[i] for i in g], tokens=tokens, model=model, max_length=max_length,
                        default_max_gen_toks=default_max_gen_toks) for g in groups]
    chunks = chunk_groups(costs, chunk_budget(sum(costs), model.prefill_s_per_token * batch_tokens))
    chunk_owner, loads = lpt_assign([sum(costs[g] for g in c) for c in chunks], n_ranks)
    return ShardPlan(chunks=tuple(tuple(sorted(i for g in c for i in groups[g])) for c in chunks),
                     chunk_owner=tuple(chunk_owner), loads_s=tuple(loads))
