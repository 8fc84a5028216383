"""Diagnostics on hybrid models: layer kinds, no share for linear layers, the built-in gate read from q_proj."""

from __future__ import annotations

import pytest
import torch

from evalsuite.diagnostics import diagnose_windows
from evalsuite.diagnostics.cli import format_table
from evalsuite.diagnostics.probe import choose_window
from evalsuite.errors import ModelLoadError
from evalsuite.models.layers import read_layers
from evalsuite.models.tiny_hybrid import FAMILIES, hybrid_config, random_hybrid

IDS = [list(range(1, 42))]


def _model(family: str, attn: str = "sdpa") -> torch.nn.Module:
    return random_hybrid(hybrid_config(family, vocab_size=300), seed=0, attn_implementation=attn)


@pytest.mark.parametrize("family", FAMILIES)
def test_linear_layers_have_no_share_and_softmax_layers_match_eager(family):
    model = _model(family, attn="eager")
    captured: dict[int, torch.Tensor] = {}
    result = diagnose_windows(model, IDS, window=41, chunk=7, on_probs=lambda i, p: captured.setdefault(i, p))
    assert result.layer_kinds == ("linear_attention", "attention", "linear_attention", "attention")
    assert result.first_token_share[0] is None and result.first_token_share[2] is None  # not 0: no softmax
    assert result.head_first_token_share[0] is None and result.frac_heads_above_0_3_per_layer[0] is None
    assert sorted(captured) == [1, 3]
    with torch.no_grad():
        eager = model(torch.tensor(IDS), output_attentions=True).attentions  # the softmax layers only
    assert len(eager) == 2
    for layer, attn in zip((1, 3), eager):
        torch.testing.assert_close(captured[layer], attn[0, :, :, 0], atol=1e-5, rtol=0)
        assert result.first_token_share[layer] == pytest.approx(float(attn[0, :, 1:, 0].mean()), abs=1e-6)
    assert result.first_token_share_mean == pytest.approx((result.first_token_share[1] + result.first_token_share[3]) / 2)
    assert all(v > 0 for v in result.max_abs_hidden) and len(result.max_abs_hidden) == 4  # every layer
    uniform = sum(1 / (t + 1) for t in range(1, 41)) / 40
    assert result.uniform_share == pytest.approx(uniform)
    assert result.first_token_share_vs_uniform == pytest.approx(result.first_token_share_mean / uniform)
    g = result.gates
    assert g.kind == "elementwise" and g.layout == "per_head"
    assert g.mean_per_layer[0] is None and g.mean_per_layer[1] is not None
    assert g.n_values == 2 * 41 * 4 * 16  # two gated layers x tokens x heads x channels


def test_the_gate_is_read_from_the_gate_rows_of_each_head():
    """Gate rows zeroed, bias -10 on head 0's gate rows only: head 0 is shut (sigmoid(-10)), the others
    exactly 0.5. Reading the query rows, or the paper's per-KV-group order, would not give this."""
    model = random_hybrid(hybrid_config("qwen3_next", vocab_size=300, attention_bias=True), seed=0)
    with torch.no_grad():
        for info in read_layers(model):
            if info.attention is not None:
                q = info.attention.q_proj
                q.weight.view(4, 32, -1)[:, 16:] = 0  # per head [q_h (16) | gate_h (16)]
                q.bias.view(4, 32)[:, 16:] = 0
                q.bias.view(4, 32)[0, 16:] = -10.0
    g = diagnose_windows(model, IDS, window=41).gates
    shut = float(torch.sigmoid(torch.tensor(-10.0)))
    assert g.frac_below_0_1 == 0.25 and g.frac_below_0_1_per_layer == (None, 0.25, None, 0.25)
    assert g.mean == pytest.approx((3 * 0.5 + shut) / 4, abs=1e-9)
    assert g.histogram_counts[0] == g.n_values // 4 and g.histogram_counts[10] == 3 * g.n_values // 4


def test_the_table_says_no_softmax_attention():
    result = diagnose_windows(_model("qwen3_5_moe"), IDS, window=41)
    table = format_table("m", result)
    assert table.count("no softmax attention") == 2 and "linear_attention" in table and "heads with share" in table


def test_the_window_defaults_to_the_training_context_when_the_config_states_it():
    from evalsuite.models.yarn import apply_yarn
    from evalsuite.spec import YarnSpec

    model = _model("qwen3_next")
    assert choose_window(model, 4096)[0] == 1024 and "default" in choose_window(model, 4096)[1]
    apply_yarn(model.config, YarnSpec(4.0, 512))
    window, why = choose_window(model, 2048)
    assert window == 512 and why.startswith("training context") and "512" in why
    assert choose_window(model, 256) == (256, why + ", capped at 256")


def test_a_layer_the_probe_cannot_read_is_a_model_error_naming_it():
    model = _model("qwen3_5")
    del model.model.layers[3].self_attn.k_proj
    with pytest.raises(ModelLoadError, match="layer 3: diagnostics cannot read attention Qwen3_5Attention: it has no k_proj"):
        diagnose_windows(model, IDS, window=41)
