"""The native gated Qwen3 against a plain re-implementation, stock Qwen3 and stock Qwen3-Next."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from evalsuite.models import GatedQwen3ForCausalLM, load_paper_checkpoint, paper_to_qwen3next_q_proj

GATES = ["none", "headwise", "elementwise"]


def _load(folder, **kw) -> GatedQwen3ForCausalLM:
    kw.setdefault("dtype", torch.float32)
    kw.setdefault("device", "cpu")
    return load_paper_checkpoint(folder, **kw)


# ---------------------------------------------------------------- a plain, loop-over-heads reference


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate-half RoPE on (B, T, D): pairs (i, i + D/2) turn by angle pos * theta^(-2i/D)."""
    T, D = x.shape[-2], x.shape[-1]
    half = D // 2
    inv_freq = 1.0 / theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D)  # (D/2,)
    angle = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]  # (T, D/2)
    cos, sin = angle.cos(), angle.sin()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def reference_forward(w: dict[str, torch.Tensor], cfg: dict, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's gated Qwen3, written out: explicit GQA, per-head loops, explicit sigmoid gate.

    Returns the final normed hidden state (B, T, C) and the logits (B, T, V).
    """
    H, KV, D, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    G = H // KV
    gw = D if cfg["elementwise_attn_output_gate"] else 1 if cfg["headwise_attn_output_gate"] else 0
    T = ids.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()

    def lin(x, name):
        out = x @ w[f"{name}.weight"].T
        return out + w[f"{name}.bias"] if f"{name}.bias" in w else out

    x = w["model.embed_tokens.weight"][ids]  # (B, T, C)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = _rms(x, w[p + "input_layernorm.weight"], eps)
        q_all, k_all, v_all = lin(h, p + "self_attn.q_proj"), lin(h, p + "self_attn.k_proj"), lin(h, p + "self_attn.v_proj")
        heads = []
        for head in range(H):
            kv, g = divmod(head, G)  # query head h = kv*G + g reads KV head kv
            base = kv * G * (D + gw)  # start of this KV group's rows: [G*D query | G*gw gate]
            q = q_all[..., base + g * D: base + (g + 1) * D]
            k = k_all[..., kv * D: (kv + 1) * D]
            v = v_all[..., kv * D: (kv + 1) * D]
            if cfg["use_qk_norm"]:
                q, k = _rms(q, w[p + "self_attn.q_norm.weight"], eps), _rms(k, w[p + "self_attn.k_norm.weight"], eps)
            q, k = _rope(q, cfg["rope_theta"]), _rope(k, cfg["rope_theta"])
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
            probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
            out = probs @ v  # (B, T, D)
            if gw:
                gate_logit = q_all[..., base + G * D + g * gw: base + G * D + (g + 1) * gw]  # (B, T, 1|D)
                out = out * (1.0 / (1.0 + torch.exp(-gate_logit)))
            heads.append(out)
        x = x + lin(torch.cat(heads, dim=-1), p + "self_attn.o_proj")
        h = _rms(x, w[p + "post_attention_layernorm.weight"], eps)
        up = lin(h, p + "mlp.gate_proj")
        x = x + lin(up * torch.sigmoid(up) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = _rms(x, w["model.norm.weight"], eps)
    return x, x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T


def _assert_matches_reference(model, weights, cfg, ids) -> None:
    """Hidden states (O(1)) to 1e-5; logits (|logit| up to ~40 here) to 1e-5 relative to their scale."""
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        want_hidden, want_logits = reference_forward(weights, cfg, ids)
    torch.testing.assert_close(out.hidden_states[-1], want_hidden, rtol=1e-5, atol=1e-5)
    scale = float(want_logits.abs().max())
    torch.testing.assert_close(out.logits, want_logits, rtol=1e-5, atol=1e-5 * scale)


def _weights_and_config(folder):
    import json

    return load_file(str(folder / "model.safetensors")), json.loads((folder / "config.json").read_text())


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("gate", GATES)
def test_forward_matches_plain_reimplementation(tiny_checkpoint, gate, attn):
    folder = tiny_checkpoint(gate)
    weights, cfg = _weights_and_config(folder)
    ids = torch.randint(0, cfg["vocab_size"], (2, 11))
    _assert_matches_reference(_load(folder, attn_implementation=attn), weights, cfg, ids)


def test_forward_with_qkv_bias_matches_plain_reimplementation(tiny_checkpoint):
    folder = tiny_checkpoint("elementwise", qkv_bias=True)
    weights, cfg = _weights_and_config(folder)
    assert "model.layers.0.self_attn.o_proj.bias" in weights  # the reference code's o_proj follows qkv_bias too
    ids = torch.randint(0, cfg["vocab_size"], (2, 7))
    _assert_matches_reference(_load(folder), weights, cfg, ids)


def test_without_qk_norm_matches_plain_reimplementation(tiny_checkpoint, tmp_path):
    import json
    import shutil

    from safetensors.torch import save_file

    folder = shutil.copytree(tiny_checkpoint("headwise"), tmp_path / "no-qk-norm")
    weights, cfg = _weights_and_config(folder)
    cfg["use_qk_norm"] = False
    (folder / "config.json").write_text(json.dumps(cfg))
    save_file({k: v for k, v in weights.items() if "_norm." not in k}, str(folder / "model.safetensors"))
    weights, cfg = _weights_and_config(folder)
    model = _load(folder)
    assert isinstance(model.model.layers[0].self_attn.q_norm, torch.nn.Identity)
    _assert_matches_reference(model, weights, cfg, torch.randint(0, cfg["vocab_size"], (2, 7)))


def test_auto_model_builds_the_gated_stack():
    from transformers import AutoModel

    from evalsuite.models import GatedQwen3Attention, GatedQwen3Config, GatedQwen3Model

    config = GatedQwen3Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=8, headwise_attn_output_gate=True)
    model = AutoModel.from_config(config)
    assert type(model) is GatedQwen3Model
    assert all(isinstance(layer.self_attn, GatedQwen3Attention) for layer in model.layers)
    assert model.layers[1].self_attn.q_proj.out_features == 4 * 8 + 4
    with torch.no_grad():
        assert model(torch.randint(0, 64, (1, 5))).last_hidden_state.shape == (1, 5, 32)


def test_baseline_equals_stock_qwen3(tiny_checkpoint):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = tiny_checkpoint("none")
    weights, cfg = _weights_and_config(folder)
    stock_cfg = Qwen3Config(**{k: cfg[k] for k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rms_norm_eps", "tie_word_embeddings", "rope_theta")})
    stock = Qwen3ForCausalLM(stock_cfg).eval()
    missing, unexpected = stock.load_state_dict(weights, strict=False)
    assert missing == ["lm_head.weight"] and not unexpected  # tied
    stock.tie_weights()
    ids = torch.randint(0, cfg["vocab_size"], (2, 13))
    with torch.no_grad():
        torch.testing.assert_close(_load(folder)(ids).logits, stock(ids).logits, rtol=0, atol=1e-6)


def test_elementwise_equals_qwen3next_attention_after_reordering(tiny_checkpoint):
    """Same weights, Qwen3-Next's per-head row order: same attention output.

    Qwen3-Next quirks set so the comparison is well-defined: full rotary
    (partial_rotary_factor=1.0; its default is 0.25), eager attention on both
    sides, no bias, and its zero-centred RMSNorm (``x̂ * (1 + w)``) gets ``w - 1``.
    Both modules receive the same cos/sin and the same causal mask.
    """
    from transformers import Qwen3NextConfig
    from transformers.models.qwen3_next.modeling_qwen3_next import Qwen3NextAttention

    folder = tiny_checkpoint("elementwise")
    ours_model = _load(folder, attn_implementation="eager")
    ours = ours_model.model.layers[0].self_attn
    c = ours_model.config
    next_cfg = Qwen3NextConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim, num_hidden_layers=1,
        layer_types=["full_attention"], partial_rotary_factor=1.0, rms_norm_eps=c.rms_norm_eps,
        attention_bias=False, attention_dropout=0.0, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    next_cfg._attn_implementation = "eager"
    theirs = Qwen3NextAttention(next_cfg, layer_idx=0).eval()
    assert next_cfg.rope_parameters.get("partial_rotary_factor", 1.0) == 1.0
    shape = dict(num_heads=c.num_attention_heads, num_kv_heads=c.num_key_value_heads, head_dim=c.head_dim)
    with torch.no_grad():
        theirs.q_proj.weight.copy_(paper_to_qwen3next_q_proj(ours.q_proj.weight, **shape))
        for name in ("k_proj", "v_proj", "o_proj"):
            getattr(theirs, name).weight.copy_(getattr(ours, name).weight)
        theirs.q_norm.weight.copy_(ours.q_norm.weight - 1.0)
        theirs.k_norm.weight.copy_(ours.k_norm.weight - 1.0)

        B, T = 2, 9
        hidden = torch.randn(B, T, c.hidden_size)
        position_embeddings = ours_model.model.rotary_emb(hidden, torch.arange(T)[None].expand(B, T))
        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None].expand(B, 1, T, T)
        got, _ = ours(hidden, position_embeddings, mask)
        want, _ = theirs(hidden, position_embeddings, mask)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gate", GATES)
def test_record_gates_is_off_by_default_and_keeps_the_last_sigmoid(tiny_checkpoint, gate):
    model = _load(tiny_checkpoint(gate))
    ids = torch.randint(0, 1000, (2, 5))
    with torch.no_grad():
        model(ids)
        assert all(g is None for g in model.last_gates())
        model.set_record_gates(True)
        model(ids)
    gates = model.last_gates()
    assert len(gates) == model.config.num_hidden_layers
    if gate == "none":
        assert all(g is None for g in gates)
        return
    width = 1 if gate == "headwise" else model.config.head_dim
    for g in gates:
        assert g.shape == (2, 5, model.config.num_attention_heads, width)
        assert float(g.min()) > 0 and float(g.max()) < 1 and not g.requires_grad
    model.set_record_gates(False)
    assert all(g is None for g in model.last_gates())


def test_eager_attention_weights_are_captured(tiny_checkpoint):
    model = _load(tiny_checkpoint("headwise"), attn_implementation="eager")
    with torch.no_grad():
        out = model(torch.randint(0, 1000, (1, 6)), output_attentions=True)
    assert len(out.attentions) == model.config.num_hidden_layers
    assert out.attentions[0].shape == (1, model.config.num_attention_heads, 6, 6)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(1, model.config.num_attention_heads, 6))


def test_save_pretrained_reloads_natively_without_clobbering_qwen3(tiny_checkpoint, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM, Qwen3Config

    model = _load(tiny_checkpoint("elementwise"))
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    assert type(again) is GatedQwen3ForCausalLM and again.config.attn_output_gate == "elementwise"
    ids = torch.randint(0, 1000, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, model(ids).logits, rtol=0, atol=0)
    assert type(AutoConfig.for_model("qwen3")) is Qwen3Config


def test_bf16_smoke(tiny_checkpoint):
    folder = tiny_checkpoint("elementwise")
    model = _load(folder, dtype=torch.bfloat16)
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32  # RoPE frequencies are not rounded to bf16
    ids = torch.randint(0, 1000, (2, 16))
    with torch.no_grad():
        low = model(ids).logits.float()
        high = _load(folder)(ids).logits
        new = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert torch.isfinite(low).all() and new.shape == (2, 19)
    assert (low.argmax(-1) == high.argmax(-1)).float().mean() > 0.9
    assert float((low - high).abs().max()) < 0.05 * float(high.abs().max())
