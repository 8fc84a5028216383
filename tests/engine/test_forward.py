"""The lean forward's gated ``q_proj``: the rows reordered query first once per weight, as non-persistent buffers
that the compiled halves multiply by, giving the same q, k, v and gate logits as the paper's layout; the eager
layers keep the module's own product."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch

from evalsuite.engine.forward import QUERY_FIRST, LeanDecoder
from evalsuite.lab.bench.config import tiny
from evalsuite.lab.bench.harness import build_model
from evalsuite.models.convert import split_paper_q_rows


def _paper_gate(lean: LeanDecoder, attn: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
    return split_paper_q_rows(attn.q_proj(h), gate=attn.gate_kind, num_heads=lean.n_heads,
                              num_kv_heads=lean.n_kv_heads, head_dim=lean.head_dim)[1]


@pytest.mark.parametrize("gate", ["headwise", "elementwise"])
def test_the_compiled_halves_take_the_query_first_copy_with_the_same_q_k_v_and_gate(gate):
    model = build_model(tiny(), gate)
    before = set(model.state_dict())
    eager = LeanDecoder.wrap(model)
    compiled = dataclasses.replace(eager, compiled=True)  # project() itself runs eagerly here
    layers = [layer.self_attn for layer in model.model.layers]
    assert all(getattr(a, QUERY_FIRST).shape == a.q_proj.weight.shape for a in layers)
    assert set(model.state_dict()) == before  # non-persistent: checkpoints keep the paper's layout alone
    h = torch.randn(2, 7, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    cos, sin = eager.rope(h, torch.arange(7)[None])
    with torch.inference_mode():
        query_first, paper = compiled.project(layers[1], h, cos, sin), eager.project(layers[1], h, cos, sin)
        assert all(torch.equal(a, b) for a, b in zip(query_first, paper))  # q, k, v and the gate logits
        width = 1 if gate == "headwise" else eager.head_dim
        assert query_first[3].shape == paper[3].shape == (2, 7, eager.n_heads, width)
        getattr(layers[1], QUERY_FIRST).zero_()  # which product each took: only the compiled halves read the copy
        assert torch.equal(eager.project(layers[1], h, cos, sin)[3], paper[3])
        assert not compiled.project(layers[1], h, cos, sin)[3].any()


def test_the_copy_follows_the_weight_and_keeps_its_memory():
    model = build_model(tiny(), "headwise")
    LeanDecoder.wrap(model)
    attn = model.model.layers[0].self_attn
    held = getattr(attn, QUERY_FIRST)
    ptr = held.data_ptr()
    LeanDecoder.wrap(model)
    assert getattr(attn, QUERY_FIRST) is held  # the weight unchanged: no new copy
    with torch.no_grad():
        attn.q_proj.weight.mul_(2)  # written in place: copied again, into the same memory
    lean = dataclasses.replace(LeanDecoder.wrap(model), compiled=True)
    assert getattr(attn, QUERY_FIRST).data_ptr() == ptr
    h = torch.randn(1, 3, model.config.hidden_size)
    cos, sin = lean.rope(h, torch.arange(3)[None])
    with torch.inference_mode():
        assert torch.equal(lean.project(attn, h, cos, sin)[3], _paper_gate(lean, attn, h))


def test_the_baseline_and_a_meta_weight_keep_the_modules_own_projection():
    baseline = build_model(tiny(), "none")
    LeanDecoder.wrap(baseline)
    assert not any(hasattr(layer.self_attn, QUERY_FIRST) for layer in baseline.model.layers)
    gated = build_model(tiny(), "elementwise")
    attn = gated.model.layers[0].self_attn
    attn.q_proj.weight = torch.nn.Parameter(torch.empty_like(attn.q_proj.weight, device="meta"))
    LeanDecoder.wrap(gated)
    assert not hasattr(attn, QUERY_FIRST) and hasattr(gated.model.layers[1].self_attn, QUERY_FIRST)


def _compiled_pre_ops(gate: str, *, paper_split: bool = False) -> Counter:
    """The ATen operations of the compiled pre-attention half (dynamic shapes, as the engine compiles it) for one
    layer of a tiny model with ``gate``; ``paper_split``: without the query-first copy."""
    from torch._dynamo.backends.common import aot_autograd

    graphs = []

    def keep(gm, _):
        graphs.append(gm)
        return gm

    model = build_model(tiny(), gate)
    lean = dataclasses.replace(LeanDecoder.wrap(model), compiled=True)
    if paper_split:
        for layer in model.model.layers:
            delattr(layer.self_attn, QUERY_FIRST)
    torch._dynamo.reset()
    pre = torch.compile(LeanDecoder.pre_attention, backend=aot_autograd(fw_compiler=keep), dynamic=True)
    x = torch.randn(1, 64, model.config.hidden_size)
    cos, sin = lean.rope(x, torch.arange(64)[None])
    with torch.inference_mode():
        pre(lean, model.model.layers[0], x, cos, sin)
    torch._dynamo.reset()
    return Counter(str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function")


def test_the_compiled_gated_pre_half_is_the_baselines_plus_two_views():
    """Run 15's profile: on CUDA the paper layout's query copy fused into the q norm as one slow looped reduction
    (``..._clone_..._split_with_sizes...``); with the copy the gated graph is the baseline's and the two views."""
    baseline = _compiled_pre_ops("none")
    for gate in ("headwise", "elementwise"):
        ops = _compiled_pre_ops(gate)
        assert not baseline - ops  # everything the baseline does, and beyond it only views and shape arithmetic
        assert set(ops - baseline) <= {"aten.slice.Tensor", "aten.view.default", "<built-in function mul>"}
        assert {"aten.clone.default", "aten.split_with_sizes.default"} <= set(_compiled_pre_ops(gate, paper_split=True))


def test_a_projection_that_is_not_a_plain_linear_keeps_its_own_forward():
    class Scaled(torch.nn.Linear):  # stands for a quantised or wrapped layer: F.linear on .weight is not its forward
        def forward(self, x):
            return 2 * super().forward(x)

    model = build_model(tiny(), "headwise")
    attn = model.model.layers[0].self_attn
    scaled = Scaled(attn.q_proj.in_features, attn.q_proj.out_features, bias=False)
    scaled.weight = attn.q_proj.weight
    attn.q_proj = scaled
    lean = dataclasses.replace(LeanDecoder.wrap(model), compiled=True)
    assert not hasattr(attn, QUERY_FIRST) and hasattr(model.model.layers[1].self_attn, QUERY_FIRST)
    h = torch.randn(1, 3, model.config.hidden_size)
    cos, sin = lean.rope(h, torch.arange(3)[None])
    with torch.inference_mode():
        assert torch.equal(lean.project(attn, h, cos, sin)[3], _paper_gate(lean, attn, h))
