"""Split one lm-eval request list across ranks, balanced by estimated cost, keeping shared contexts together.

Requests are priced by the product's cost model (:mod:`evalsuite.engine.cost`: prefill, attention's
quadratic term, decoding).

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

from evalsuite.engine.cost import DEFAULT_MAX_GEN_TOKS, CostModel


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
