"""The paper's elementwise checkpoint and its Qwen3-Next twin: same outputs, same diagnostics, both ways."""

from __future__ import annotations

import pytest
import torch

from evalsuite.diagnostics import diagnose_windows
from evalsuite.models import load_model
from evalsuite.models.qwen3next import paper_to_qwen3next, qwen3next_to_paper

WINDOWS = [list(range(1, 60)), list(range(100, 131))]


@pytest.fixture(scope="module")
def paper_and_next(tiny_checkpoint):
    paper, _ = load_model(str(tiny_checkpoint("elementwise", layers=3)))
    return paper, paper_to_qwen3next(paper)


def test_the_converted_model_is_a_qwen3_next_with_the_same_logits(paper_and_next):
    paper, nxt = paper_and_next
    assert type(nxt).__name__ == "Qwen3NextForCausalLM"
    assert [type(layer.self_attn).__name__ for layer in nxt.model.layers] == ["Qwen3NextAttention"] * 3
    ids = torch.randint(0, 1000, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(paper(ids).logits, nxt(ids).logits)
        back = qwen3next_to_paper(nxt)
        assert torch.equal(back(ids).logits, paper(ids).logits)
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), paper.state_dict().values()))


def test_diagnostics_are_identical_after_conversion(paper_and_next):
    paper, nxt = paper_and_next
    a, b = diagnose_windows(paper, WINDOWS, window=59), diagnose_windows(nxt, WINDOWS, window=59)
    assert (a.gates.layout, b.gates.layout) == ("paper", "per_head")  # read from two different row layouts
    ga, gb = a.gates.to_json(), b.gates.to_json()
    ga.pop("layout"), gb.pop("layout")
    assert ga == gb  # every gate statistic, bit for bit
    assert a.first_token_share == b.first_token_share and a.max_abs_hidden == b.max_abs_hidden
    assert a.head_first_token_share == b.head_first_token_share


def test_only_an_elementwise_gate_has_a_qwen3_next_twin(tiny_checkpoint):
    headwise, _ = load_model(str(tiny_checkpoint("headwise")))
    with pytest.raises(ValueError, match="elementwise"):
        paper_to_qwen3next(headwise)
    from evalsuite.models.tiny_hybrid import hybrid_config, random_hybrid

    with pytest.raises(ValueError, match="full_attention"):
        qwen3next_to_paper(random_hybrid(hybrid_config("qwen3_next", vocab_size=300), seed=0))
