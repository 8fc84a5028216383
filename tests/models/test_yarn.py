"""Static YaRN: the config it writes and the rotary embedding a model then really uses."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import Qwen3Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from evalsuite.errors import SpecError
from evalsuite.models import (
    GatedQwen3Config,
    GatedQwen3ForCausalLM,
    apply_yarn,
    load_paper_checkpoint,
    rope_summary,
)
from evalsuite.spec import YarnSpec


def _tiny_config(**kw) -> GatedQwen3Config:
    return GatedQwen3Config(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=16, elementwise_attn_output_gate=True,
                            rope_parameters={"rope_type": "default", "rope_theta": 1e6}, **kw)


def test_apply_yarn_writes_the_documented_config():
    config = apply_yarn(_tiny_config(), YarnSpec(factor=4.0, original_max_position_embeddings=32768))
    assert config.rope_parameters == {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0,
                                      "original_max_position_embeddings": 32768}
    assert config.max_position_embeddings == 131072


@pytest.mark.parametrize("factor", [2.0, 4.0])
def test_rotary_embedding_is_transformers_yarn(factor):
    spec = YarnSpec(factor=factor, original_max_position_embeddings=256)
    config = apply_yarn(_tiny_config(), spec)
    model = GatedQwen3ForCausalLM(config)
    rotary = model.model.rotary_emb
    want_inv_freq, want_scaling = ROPE_INIT_FUNCTIONS["yarn"](config)
    torch.testing.assert_close(rotary.inv_freq, want_inv_freq, rtol=0, atol=0)
    assert rotary.attention_scaling == pytest.approx(want_scaling)
    assert rotary.attention_scaling == pytest.approx(0.1 * math.log(factor) + 1.0)
    assert spec.default_attention_factor() == pytest.approx(0.1 * math.log(factor) + 1.0)
    assert config.max_position_embeddings == int(factor * 256)
    # YaRN interpolates: low frequencies slow down by `factor`, the highest stays put.
    plain = 1.0 / 1e6 ** (torch.arange(0, 16, 2, dtype=torch.float32) / 16)
    assert rotary.inv_freq[0] == plain[0]
    torch.testing.assert_close(rotary.inv_freq[-1], plain[-1] / factor)


def test_explicit_yarn_knobs_reach_the_rotary_embedding():
    spec = YarnSpec(factor=4.0, original_max_position_embeddings=256, attention_factor=1.25, beta_fast=16, beta_slow=2)
    config = apply_yarn(_tiny_config(), spec)
    assert config.rope_parameters["beta_fast"] == 16.0 and config.rope_parameters["beta_slow"] == 2.0
    rotary = GatedQwen3ForCausalLM(config).model.rotary_emb
    assert rotary.attention_scaling == 1.25
    torch.testing.assert_close(rotary.inv_freq, ROPE_INIT_FUNCTIONS["yarn"](config)[0], rtol=0, atol=0)


def test_load_paper_checkpoint_with_yarn(tiny_checkpoint):
    spec = YarnSpec(factor=4.0, original_max_position_embeddings=4096)
    model = load_paper_checkpoint(tiny_checkpoint("headwise"), dtype=torch.float32, device="cpu", yarn=spec)
    summary = rope_summary(model)
    assert summary == {
        "rope_type": "yarn", "rope_theta": 10000.0, "head_dim": 16, "rotary_dim": 16, "partial_rotary_factor": 1.0,
        "max_position_embeddings": 16384, "source": "rope_parameters", "factor": 4.0,
        "original_max_position_embeddings": 4096, "attention_scaling": pytest.approx(0.1 * math.log(4) + 1),
    }
    assert model.model.rotary_emb.attention_scaling == pytest.approx(summary["attention_scaling"])
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, ROPE_INIT_FUNCTIONS["yarn"](model.config)[0])


def test_rope_summary_without_scaling():
    summary = rope_summary(_tiny_config())
    assert summary["rope_type"] == "default" and summary["rope_theta"] == 1e6 and summary["attention_scaling"] == 1.0
    assert "factor" not in summary


def test_stock_config_and_legacy_rope_scaling():
    legacy = Qwen3Config(rope_theta=5e5, rope_scaling={"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64},
                         max_position_embeddings=128, head_dim=16, hidden_size=64, num_attention_heads=4)
    summary = rope_summary(legacy)
    assert (summary["rope_type"], summary["factor"], summary["rope_theta"]) == ("yarn", 2.0, 5e5)
    config = apply_yarn(Qwen3Config(rope_theta=5e5), YarnSpec(factor=8.0, original_max_position_embeddings=4096))
    assert config.rope_parameters["rope_theta"] == 5e5 and config.max_position_embeddings == 32768
    assert config.rope_scaling["factor"] == 8.0  # the legacy accessor sees the same dict


def test_top_level_original_max_position_embeddings_cannot_override():
    config = _tiny_config()
    config.original_max_position_embeddings = 999  # Phi-3 style key, which transformers lets win on every rope init
    apply_yarn(config, YarnSpec(factor=2.0, original_max_position_embeddings=128))
    ROPE_INIT_FUNCTIONS["yarn"](config)  # runs standardize_rope_params
    assert config.rope_parameters["original_max_position_embeddings"] == 128


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(factor=0.5, original_max_position_embeddings=10), "yarn.factor must be a number >= 1"),
    (dict(factor=2.0, original_max_position_embeddings=0), "original_max_position_embeddings must be a positive int"),
    (dict(factor=2.0, original_max_position_embeddings=10, attention_factor=-1.0), "attention_factor must be > 0"),
])
def test_yarn_spec_refuses_nonsense(kwargs, message):
    with pytest.raises(SpecError, match=message):
        YarnSpec(**kwargs)
