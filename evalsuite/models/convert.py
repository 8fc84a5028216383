"""Row layouts of the gated ``q_proj``, and converters between them.

The paper's reference code widens ``q_proj`` instead of adding a gate projection,
and groups its output rows **per KV head**: with ``G = H // KV`` query heads per
KV head, group ``k`` holds ``[G*D query rows | G (headwise) or G*D (elementwise)
gate rows]``, and query head ``h = k*G + g``. transformers' ``Qwen3NextAttention``
carries the same elementwise gate **per query head**, interleaved: head ``h``
holds ``[D query rows | D gate rows]``. Same numbers, different row order.

Everything here works on the row dimension alone, so one function serves
activations ``(..., R)`` and, after a transpose, weights ``(R, in)`` and biases
``(R,)``. Nothing here knows about models or files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import torch

GateKind = Literal["none", "headwise", "elementwise"]
GATE_KINDS: tuple[GateKind, ...] = get_args(GateKind)


def _check_heads(num_heads: int, num_kv_heads: int, head_dim: int) -> int:
    """``G = H // KV``, after checking that the shapes make sense."""
    if num_heads <= 0 or num_kv_heads <= 0 or head_dim <= 0:
        raise ValueError(f"heads and head_dim must be positive, got H={num_heads} KV={num_kv_heads} D={head_dim}")
    if num_heads % num_kv_heads:
        raise ValueError(f"num_heads={num_heads} is not a multiple of num_kv_heads={num_kv_heads}")
    return num_heads // num_kv_heads


def gate_width(gate: GateKind, head_dim: int) -> int:
    """Gate rows per query head: 0, 1 (headwise) or D (elementwise)."""
    if gate not in GATE_KINDS:
        raise ValueError(f"unknown gate kind {gate!r}; expected one of {GATE_KINDS}")
    return {"none": 0, "headwise": 1, "elementwise": head_dim}[gate]


def q_proj_rows(gate: GateKind, *, num_heads: int, head_dim: int) -> int:
    """Output rows of ``q_proj``: ``H*D``, ``H*D + H`` or ``2*H*D``."""
    return num_heads * (head_dim + gate_width(gate, head_dim))


def infer_gate_from_rows(rows: int, *, num_heads: int, head_dim: int) -> GateKind | None:
    """Which gate a ``q_proj`` with ``rows`` output rows carries; None if no layout fits."""
    if head_dim == 1:  # H*D + H == 2*H*D: headwise and elementwise cannot be told apart
        raise ValueError("head_dim=1 makes headwise and elementwise q_proj the same size")
    fits = [g for g in GATE_KINDS if q_proj_rows(g, num_heads=num_heads, head_dim=head_dim) == rows]
    return fits[0] if fits else None


def split_paper_q_rows(
    q_rows: torch.Tensor, *, gate: GateKind, num_heads: int, num_kv_heads: int, head_dim: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split ``q_proj`` output in the paper's per-KV-group layout.

    ``q_rows`` is ``(..., R)``. Returns the query ``(..., H, D)`` (head ``h =
    kv*G + g``) and the gate logits ``(..., H, 1)`` (headwise) or ``(..., H, D)``
    (elementwise), or None for the baseline.
    """
    G = _check_heads(num_heads, num_kv_heads, head_dim)
    lead = q_rows.shape[:-1]
    width = gate_width(gate, head_dim)
    if q_rows.shape[-1] != num_heads * (head_dim + width):
        raise ValueError(f"q_proj output has {q_rows.shape[-1]} rows; {gate} gate expects {num_heads * (head_dim + width)}")
    if gate == "none":
        return q_rows.reshape(*lead, num_heads, head_dim), None
    grouped = q_rows.reshape(*lead, num_kv_heads, G * (head_dim + width))  # (..., KV, G*D + G*w)
    query, gate_logits = grouped.split([G * head_dim, G * width], dim=-1)  # (..., KV, G*D), (..., KV, G*w)
    return query.reshape(*lead, num_heads, head_dim), gate_logits.reshape(*lead, num_heads, width)


def query_first_order(gate: GateKind, *, num_heads: int, num_kv_heads: int, head_dim: int) -> torch.Tensor:
    """The paper's ``q_proj`` rows reordered query first: every query row (head-major, head ``h = kv*G + g``, as
    :func:`split_paper_q_rows` returns them), then every gate row. ``q_proj.weight[order]`` computes the same
    products, so its output's first ``H*D`` columns are the query and the rest the gate logits, each a plain view.

    Why: in the paper's layout the query is a view with gaps (a KV group's gate rows sit between its queries), so
    the query must be copied before its norm and RoPE; on CUDA that copy fused into the norm made a 128K
    prefill's pre-attention half 0.07 s slower than the baseline's (run 15, ``prefill_parts``)."""
    rows = q_proj_rows(gate, num_heads=num_heads, head_dim=head_dim)
    query, gate_rows = split_paper_q_rows(torch.arange(rows), gate=gate, num_heads=num_heads,
                                          num_kv_heads=num_kv_heads, head_dim=head_dim)
    return query.reshape(-1) if gate_rows is None else torch.cat([query.reshape(-1), gate_rows.reshape(-1)])


def join_paper_q_rows(query: torch.Tensor, gate_logits: torch.Tensor | None, *, num_kv_heads: int) -> torch.Tensor:
    """Inverse of :func:`split_paper_q_rows`: ``(..., H, D)`` and ``(..., H, w)`` to ``(..., R)``."""
    *lead, H, D = query.shape
    if gate_logits is None:
        return query.reshape(*lead, H * D)
    G = _check_heads(H, num_kv_heads, D)
    width = gate_logits.shape[-1]
    q_grouped = query.reshape(*lead, num_kv_heads, G * D)  # (..., KV, G*D)
    g_grouped = gate_logits.reshape(*lead, num_kv_heads, G * width)  # (..., KV, G*w)
    return torch.cat([q_grouped, g_grouped], dim=-1).reshape(*lead, H * (D + width))


def _rows_last(t: torch.Tensor) -> torch.Tensor:
    """Weights ``(R, in)`` become ``(in, R)``; biases ``(R,)`` stay."""
    return t.transpose(0, 1) if t.dim() == 2 else t


def paper_to_per_head(
    param: torch.Tensor, *, gate: GateKind, num_heads: int, num_kv_heads: int, head_dim: int
) -> torch.Tensor:
    """Reorder a gated ``q_proj`` weight ``(R, in)`` or bias ``(R,)`` to per-head ``[q_h | gate_h]``."""
    if gate == "none":
        raise ValueError("a baseline q_proj has no gate rows to reorder")
    query, gate_logits = split_paper_q_rows(
        _rows_last(param), gate=gate, num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim
    )  # (in, H, D), (in, H, w)
    per_head = torch.cat([query, gate_logits], dim=-1)  # (in, H, D + w)
    return _rows_last(per_head.reshape(*per_head.shape[:-2], -1)).contiguous()


def per_head_to_paper(
    param: torch.Tensor, *, gate: GateKind, num_heads: int, num_kv_heads: int, head_dim: int
) -> torch.Tensor:
    """Inverse of :func:`paper_to_per_head`."""
    width = gate_width(gate, head_dim)
    if width == 0:
        raise ValueError("a baseline q_proj has no gate rows to reorder")
    _check_heads(num_heads, num_kv_heads, head_dim)
    rows = _rows_last(param)
    per_head = rows.reshape(*rows.shape[:-1], num_heads, head_dim + width)  # (in, H, D + w)
    query, gate_logits = per_head.split([head_dim, width], dim=-1)
    return _rows_last(join_paper_q_rows(query, gate_logits, num_kv_heads=num_kv_heads)).contiguous()


def paper_to_qwen3next_q_proj(
    param: torch.Tensor, *, num_heads: int, num_kv_heads: int, head_dim: int
) -> torch.Tensor:
    """Elementwise paper ``q_proj`` (weight or bias) to ``Qwen3NextAttention``'s row order."""
    return paper_to_per_head(param, gate="elementwise", num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim)


def qwen3next_to_paper_q_proj(
    param: torch.Tensor, *, num_heads: int, num_kv_heads: int, head_dim: int
) -> torch.Tensor:
    """``Qwen3NextAttention``'s ``q_proj`` (weight or bias) to the paper's per-KV-group row order."""
    return per_head_to_paper(param, gate="elementwise", num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim)


def gate_flags(gate: GateKind) -> dict[str, bool]:
    """The paper's config.json flags for a gate kind."""
    gate_width(gate, 1 if gate == "none" else 2)  # validates the name
    return {"headwise_attn_output_gate": gate == "headwise", "elementwise_attn_output_gate": gate == "elementwise"}


def infer_gate_from_state_dict(
    shapes: Mapping[str, torch.Tensor | tuple[int, ...]], *, num_heads: int, head_dim: int
) -> GateKind:
    """The gate a state dict carries, read from the row count of every ``...self_attn.q_proj.weight``.

    ``shapes`` maps names to tensors or shapes. Raises ValueError when no q_proj
    is present, a row count fits no layout, or layers disagree.
    """
    found: dict[str, GateKind | None] = {}
    for name, value in shapes.items():
        if name.endswith("self_attn.q_proj.weight"):
            rows = int(value.shape[0] if isinstance(value, torch.Tensor) else value[0])
            found[name] = infer_gate_from_rows(rows, num_heads=num_heads, head_dim=head_dim)
    if not found:
        raise ValueError("no self_attn.q_proj.weight in the state dict")
    unknown = [n for n, g in found.items() if g is None]
    if unknown:
        raise ValueError(f"{unknown[0]} fits no gate layout for H={num_heads}, D={head_dim}")
    kinds = sorted(set(found.values()))  # type: ignore[type-var]
    if len(kinds) > 1:
        raise ValueError(f"layers disagree on the gate: {kinds}")
    return kinds[0]  # type: ignore[return-value]
