"""Layer kinds and gates are read from the model's own modules, and what cannot be read is named."""

from __future__ import annotations

import pytest
import torch

from evalsuite.errors import ModelLoadError
from evalsuite.models.layers import has_recurrent_layers, read_layers, split_query_and_gate, training_context
from evalsuite.models.tiny_hybrid import FAMILIES, hybrid_config, random_hybrid


@pytest.mark.parametrize("family", FAMILIES)
def test_hybrid_layers_are_linear_or_gated_softmax_attention(family):
    model = random_hybrid(hybrid_config(family, vocab_size=300), seed=0)
    infos = read_layers(model)
    assert [i.kind for i in infos] == ["linear_attention", "attention"] * 2
    assert [i.attention is None for i in infos] == [True, False, True, False]
    assert all(i.gate.kind == "elementwise" and i.gate.layout == "per_head" for i in infos if i.attention)
    assert has_recurrent_layers(model)


def test_the_paper_gate_and_a_plain_attention_are_told_apart(tiny_checkpoint):
    from evalsuite.models import load_model

    for gate in ("none", "headwise", "elementwise"):
        model, _ = load_model(str(tiny_checkpoint(gate)))
        infos = read_layers(model)
        assert all(i.kind == "attention" for i in infos) and not has_recurrent_layers(model)
        assert all((i.gate is None) if gate == "none" else (i.gate.kind, i.gate.layout) == (gate, "paper")
                   for i in infos)


def test_per_head_split_is_the_models_own_chunk():
    model = random_hybrid(hybrid_config("qwen3_next", vocab_size=300), seed=0)
    info = read_layers(model)[1]
    rows = torch.randn(2, 3, info.attention.q_proj.out_features)
    query, gate = split_query_and_gate(info, rows)
    ref_q, ref_g = torch.chunk(rows.view(2, 3, -1, 2 * info.attention.head_dim), 2, dim=-1)
    assert torch.equal(query, ref_q) and torch.equal(gate, ref_g)


def test_an_unreadable_layer_is_named():
    model = random_hybrid(hybrid_config("qwen3_5", vocab_size=300), seed=0)
    del model.model.layers[1].self_attn
    with pytest.raises(ModelLoadError, match="decoder layer 1 .* neither self_attn nor linear_attn"):
        read_layers(model)
    model = random_hybrid(hybrid_config("qwen3_5", vocab_size=300), seed=0)
    model.model.layers[3].self_attn.q_proj = torch.nn.Linear(64, 100, bias=False)
    with pytest.raises(ModelLoadError, match="layer 3: q_proj .* 100 rows"):
        read_layers(model)


def test_training_context_is_the_pre_yarn_length():
    from evalsuite.models.yarn import apply_yarn
    from evalsuite.spec import YarnSpec

    config = hybrid_config("qwen3_next")
    assert training_context(config) is None
    apply_yarn(config, YarnSpec(4.0, 1024))
    assert training_context(config) == 1024 and config.max_position_embeddings == 4096
