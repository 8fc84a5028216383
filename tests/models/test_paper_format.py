"""Reading the paper's released format: what loads, what is refused and how the refusal reads."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from evalsuite.errors import ModelLoadError
from evalsuite.models import is_paper_format, load_paper_checkpoint, read_config_json


def _load(folder: Path, **kw):
    return load_paper_checkpoint(folder, dtype=torch.float32, device="cpu", **kw)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# Each edit takes a fresh copy of a tiny checkpoint folder and breaks it one way.
def _config(**changes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = json.loads((folder / "config.json").read_text())
        for key, value in changes.items():
            if value is _DROP:
                cfg.pop(key)
            else:
                cfg[key] = value
        (folder / "config.json").write_text(json.dumps(cfg))
    return edit


_DROP = object()


def _weights(fn: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        state = load_file(str(folder / "model.safetensors"))
        fn(state)
        save_file(state, str(folder / "model.safetensors"))
    return edit


def _set(name: str, shape: tuple[int, ...]) -> Callable[[dict], None]:
    return lambda state: state.__setitem__(name, torch.zeros(shape))


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


REFUSALS = [  # (id, gate of the source checkpoint, edit, regex the one-line message must match)
    ("both-gates", "headwise", _config(elementwise_attn_output_gate=True),
     r"both headwise_attn_output_gate and elementwise_attn_output_gate are true"),
    ("rows-say-headwise-flags-say-elementwise", "headwise",
     _config(headwise_attn_output_gate=False, elementwise_attn_output_gate=True),
     r"layer 0 q_proj has 68 rows but elementwise_attn_output_gate: true needs 128 \(H=4, D=16\); 68 rows is the headwise layout"),
    ("rows-say-elementwise-no-flag", "elementwise", _config(elementwise_attn_output_gate=False),
     r"layer 0 q_proj has 128 rows but a config with no gate flag needs 64 .*elementwise layout"),
    ("one-layer-off", "none", _weights(_set("model.layers.1.self_attn.q_proj.weight", (70, 64))),
     r"layer 1 q_proj has 70 rows .* fits no gate layout"),
    ("qk-norm-weights-but-flag-false", "none", _config(use_qk_norm=False),
     r"model\.layers\.0\.self_attn\.[kq]_norm\.weight but config\.json says use_qk_norm: false"),
    ("unknown-gate-flag", "headwise", _config(headwise_attn_output_gate_v2=True),
     r"unknown gate setting headwise_attn_output_gate_v2=True"),
    ("unknown-gate-key", "none", _config(attn_gate_type="sigmoid"), r"unknown gate setting attn_gate_type='sigmoid'"),
    ("qkv-bias-without-biases", "none", _config(qkv_bias=True),
     r"missing weights model\.layers\.0\.self_attn\.[kqvo]_proj\.bias.*\(qkv_bias: true\)"),
    ("biases-without-qkv-bias", "none", _weights(_set("model.layers.0.self_attn.q_proj.bias", (64,))),
     r"unexpected weights model\.layers\.0\.self_attn\.q_proj\.bias \(qkv_bias: false\)"),
    ("flag-not-bool", "elementwise", _config(elementwise_attn_output_gate="yes"),
     r"elementwise_attn_output_gate must be true or false, got 'yes'"),
    ("not-qwen3", "none", _config(model_type="llama"), r"model_type is 'llama'"),
    ("sliding-window", "none", _config(use_sliding_window=True), r"use_sliding_window: true is not supported"),
    ("heads-not-multiple", "none", _config(num_key_value_heads=3), r"num_attention_heads=4 is not a multiple of num_key_value_heads=3"),
    ("missing-size", "none", _config(hidden_size=_DROP), r"missing required key hidden_size"),
    ("bad-size", "none", _config(num_hidden_layers=0), r"num_hidden_layers must be a positive integer, got 0"),
    ("shape-mismatch", "none", _weights(_set("model.layers.0.self_attn.k_proj.weight", (16, 64))),
     r"model\.layers\.0\.self_attn\.k_proj\.weight has shape \[16, 64\], config\.json implies \[32, 64\]"),
    ("missing-layer", "none", _config(num_hidden_layers=3), r"missing weights model\.layers\.2\."),
    ("untied-without-lm-head", "none", _config(tie_word_embeddings=False), r"missing weights lm_head\.weight"),
    ("tied-but-lm-head-differs", "none", _weights(_set("lm_head.weight", (49152, 64))),
     r"tie_word_embeddings is true but lm_head\.weight differs"),
    ("no-config", "none", _remove("config.json"), r"no config\.json"),
    ("no-weights", "none", _remove("model.safetensors"), r"no weights \(model\.safetensors"),
    ("bad-json", "none", lambda f: (f / "config.json").write_text("{not json"), r"invalid JSON at line 1"),
]


@pytest.mark.parametrize(("gate", "edit", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_problem_in_one_line(tiny_checkpoint, tmp_path, gate, edit, message):
    folder = _copy(tiny_checkpoint(gate), tmp_path / "ckpt")
    edit(folder)
    with pytest.raises(ModelLoadError, match=message) as info:
        _load(folder)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_auto_map_is_never_imported(tiny_checkpoint):
    folder = tiny_checkpoint("headwise")
    assert "modeling_qwen3.Qwen3ForCausalLM" in json.dumps(read_config_json(folder)["auto_map"])  # points nowhere
    model = _load(folder)
    assert model.config.attn_output_gate == "headwise"
    assert not any(m.startswith("transformers_modules") for m in sys.modules)


def test_is_paper_format():
    assert is_paper_format({"model_type": "qwen3", "use_qk_norm": True, "headwise_attn_output_gate": False})
    assert is_paper_format({"model_type": "qwen3", "elementwise_attn_output_gate": True})
    assert is_paper_format({"model_type": "qwen3", "headwise_attn_output_gate_v2": True})  # dispatched, then refused
    assert not is_paper_format({"model_type": "qwen3", "hidden_size": 2048})  # stock Qwen3
    assert not is_paper_format({"model_type": "gated_qwen3", "elementwise_attn_output_gate": True})  # our own save
    assert not is_paper_format({"model_type": "llama", "use_qk_norm": True})


def test_bin_weights_load_through_weights_only(tiny_checkpoint, monkeypatch):
    calls: list[dict] = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    from_bin = _load(tiny_checkpoint("elementwise", weights="bin"))
    assert calls and all(c.get("weights_only") is True for c in calls)
    from_safetensors = _load(tiny_checkpoint("elementwise"))
    ids = torch.randint(0, 1000, (1, 7))
    with torch.no_grad():
        torch.testing.assert_close(from_bin(ids).logits, from_safetensors(ids).logits, rtol=0, atol=0)


class _NotATensor:
    pass


def test_bin_with_pickled_code_is_refused(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint("none", weights="bin"), tmp_path / "ckpt")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["payload"] = _NotATensor()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin: cannot read weights: UnpicklingError"):
        _load(folder)


def test_sharded_safetensors_load(tiny_checkpoint):
    sharded = _load(tiny_checkpoint("headwise", weights="sharded"))
    single = _load(tiny_checkpoint("headwise"))
    assert (tiny_checkpoint("headwise", weights="sharded") / "model.safetensors.index.json").is_file()
    ids = torch.randint(0, 1000, (1, 7))
    with torch.no_grad():
        torch.testing.assert_close(sharded(ids).logits, single(ids).logits, rtol=0, atol=0)


def test_missing_shard_is_refused(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint("none", weights="sharded"), tmp_path / "ckpt")
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"the index names model-00002-of-00002\.safetensors, which is missing"):
        _load(folder)


def test_liberal_in_what_it_accepts(tiny_checkpoint, tmp_path):
    """Extra standard keys, a legacy rope_scaling, a tied lm_head saved anyway, an old inv_freq buffer: all fine."""
    folder = _copy(tiny_checkpoint("elementwise"), tmp_path / "ckpt")
    _config(some_future_key=3, rope_scaling={"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 2048},
            attention_bias=True, qkv_bias=_DROP)(folder)

    def extras(state):
        state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()
        state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)

    _weights(extras)(folder)
    model = _load(folder)
    assert model.config.some_future_key == 3
    assert model.config.rope_parameters["rope_type"] == "yarn" and model.config.rope_parameters["factor"] == 2.0
    assert model.config.attention_bias is False  # the reference code ignores attention_bias; qkv_bias defaults off
    assert model.lm_head.weight is model.model.embed_tokens.weight
