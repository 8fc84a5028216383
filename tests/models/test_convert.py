"""Row layouts of the gated q_proj: the paper's per-KV-group order and the per-head (Qwen3-Next) order."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from evalsuite.models import (
    infer_gate_from_rows,
    infer_gate_from_state_dict,
    paper_to_per_head,
    paper_to_qwen3next_q_proj,
    per_head_to_paper,
    q_proj_rows,
    query_first_order,
    qwen3next_to_paper_q_proj,
    split_paper_q_rows,
)

H, KV, D = 4, 2, 3  # G = 2 query heads per KV head
SHAPE = dict(num_heads=H, num_kv_heads=KV, head_dim=D)


def _paper_row_labels(width: int) -> list[tuple[str, int, int]]:
    """(part, head, index) for each q_proj row in the paper's order, written out from its description."""
    G = H // KV
    labels = []
    for kv in range(KV):
        labels += [("q", kv * G + g, i) for g in range(G) for i in range(D)]
        labels += [("g", kv * G + g, i) for g in range(G) for i in range(width)]
    return labels


def test_q_proj_rows():
    assert q_proj_rows("none", num_heads=16, head_dim=128) == 2048
    assert q_proj_rows("headwise", num_heads=16, head_dim=128) == 2064
    assert q_proj_rows("elementwise", num_heads=16, head_dim=128) == 4096


@pytest.mark.parametrize("gate", ["none", "headwise", "elementwise"])
def test_infer_gate_from_rows(gate):
    assert infer_gate_from_rows(q_proj_rows(gate, num_heads=16, head_dim=128), num_heads=16, head_dim=128) == gate
    assert infer_gate_from_rows(2049, num_heads=16, head_dim=128) is None
    with pytest.raises(ValueError, match="head_dim=1"):
        infer_gate_from_rows(32, num_heads=16, head_dim=1)


@pytest.mark.parametrize(("gate", "width"), [("headwise", 1), ("elementwise", D)])
def test_split_follows_the_per_kv_group_layout(gate, width):
    labels = _paper_row_labels(width)
    rows = torch.arange(len(labels), dtype=torch.float32)[None, None]  # (1, 1, R): row r holds the value r
    query, gate_logits = split_paper_q_rows(rows, gate=gate, **SHAPE)
    assert query.shape == (1, 1, H, D) and gate_logits.shape == (1, 1, H, width)
    for r, (part, head, i) in enumerate(labels):
        target = query if part == "q" else gate_logits
        assert target[0, 0, head, i] == r


@pytest.mark.parametrize(("gate", "width"), [("headwise", 1), ("elementwise", D)])
def test_per_head_order_is_q_then_gate_for_each_head(gate, width):
    labels = _paper_row_labels(width)
    weight = torch.arange(len(labels), dtype=torch.float32)[:, None].expand(-1, 5)  # (R, in)
    per_head = paper_to_per_head(weight, gate=gate, **SHAPE)
    want = [lab for h in range(H) for lab in [("q", h, i) for i in range(D)] + [("g", h, i) for i in range(width)]]
    assert [labels[int(r)] for r in per_head[:, 0]] == want


@pytest.mark.parametrize(("gate", "width"), [("headwise", 1), ("elementwise", D)])
def test_query_first_order_is_every_query_head_then_every_gate(gate, width):
    labels = _paper_row_labels(width)
    order = query_first_order(gate, **SHAPE)
    want = [("q", h, i) for h in range(H) for i in range(D)] + [("g", h, i) for h in range(H) for i in range(width)]
    assert [labels[int(r)] for r in order] == want
    assert query_first_order("none", **SHAPE).tolist() == list(range(H * D))


@pytest.mark.parametrize("gate", ["headwise", "elementwise"])
def test_round_trips(gate):
    rows = q_proj_rows(gate, num_heads=H, head_dim=D)
    weight, bias = torch.randn(rows, 7), torch.randn(rows)
    for param in (weight, bias):
        there = paper_to_per_head(param, gate=gate, **SHAPE)
        assert there.shape == param.shape and not torch.equal(there, param)
        assert torch.equal(per_head_to_paper(there, gate=gate, **SHAPE), param)
    if gate == "elementwise":
        assert torch.equal(qwen3next_to_paper_q_proj(paper_to_qwen3next_q_proj(weight, **SHAPE), **SHAPE), weight)


def test_qwen3next_chunk_reads_the_converted_rows_as_q_and_gate():
    """Qwen3-Next does ``chunk(q_proj(x).view(..., -1, 2*D), 2)``: it must see our query and gate per head."""
    weight = torch.randn(2 * H * D, 5)
    x = torch.randn(3, 5)
    ours_q, ours_g = split_paper_q_rows(x @ weight.T, gate="elementwise", **SHAPE)
    next_rows = x @ paper_to_qwen3next_q_proj(weight, **SHAPE).T
    next_q, next_g = torch.chunk(next_rows.view(3, -1, 2 * D), 2, dim=-1)
    torch.testing.assert_close(next_q, ours_q, rtol=0, atol=0)
    torch.testing.assert_close(next_g, ours_g, rtol=0, atol=0)


def test_baseline_has_nothing_to_reorder():
    with pytest.raises(ValueError, match="no gate rows"):
        paper_to_per_head(torch.randn(H * D, 5), gate="none", **SHAPE)


def test_infer_gate_from_a_checkpoint(tiny_checkpoint):
    for gate in ("none", "headwise", "elementwise"):
        with safe_open(str(tiny_checkpoint(gate) / "model.safetensors"), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        assert infer_gate_from_state_dict(shapes, num_heads=4, head_dim=16) == gate
    mixed = {"model.layers.0.self_attn.q_proj.weight": (64, 8), "model.layers.1.self_attn.q_proj.weight": (128, 8)}
    with pytest.raises(ValueError, match="layers disagree"):
        infer_gate_from_state_dict(mixed, num_heads=4, head_dim=16)
    with pytest.raises(ValueError, match="fits no gate layout"):
        infer_gate_from_state_dict({"model.layers.0.self_attn.q_proj.weight": torch.zeros(65, 8)}, num_heads=4, head_dim=16)
