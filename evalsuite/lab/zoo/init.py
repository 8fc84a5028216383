"""Initial weights drawn per parameter name, so the variants of a trio start from the same point.

Every tensor is drawn from its own generator, seeded by ``(seed, name)``; so a
parameter that exists in the baseline and a gated model with the same shape
gets the same values, whatever else the model holds. Where shapes differ:

* ``q_proj``: the query rows are drawn as ``(H, D, hidden)`` from ``(seed, name
  + "#query")`` and the gate rows from ``(seed, name + "#gate")``, then laid out
  in the paper's per-KV-group order. Query head ``h`` has the same weights in
  all three variants; the gate rows are extra.
* FFN narrowed for parameter matching: the full-width matrix is drawn and its
  first ``ffn`` units kept, so the units the models share are identical.

Values follow the reference code's ``_init_weights``: normal(0, 0.02) for every
matrix (the tied embedding included), ones for the RMSNorm weights.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from evalsuite.models.convert import gate_width, join_paper_q_rows
from evalsuite.models.gated_qwen3 import GatedQwen3ForCausalLM

INIT_STD = 0.02


def name_seed(seed: int, name: str) -> int:
    """A 63-bit seed from the run seed and a parameter name (stable across Python runs, unlike ``hash``)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _normal(shape: tuple[int, ...], seed: int, name: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(name_seed(seed, name))
    return torch.randn(shape, generator=gen) * INIT_STD


def _q_proj(name: str, model: GatedQwen3ForCausalLM, seed: int) -> torch.Tensor:
    cfg = model.config
    H, KV, D, hidden = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
    query = _normal((H, D, hidden), seed, name + "#query").permute(2, 0, 1)  # (hidden, H, D)
    width = gate_width(cfg.attn_output_gate, D)
    gate = _normal((H, width, hidden), seed, name + "#gate").permute(2, 0, 1) if width else None  # (hidden, H, w)
    return join_paper_q_rows(query, gate, num_kv_heads=KV).transpose(0, 1).contiguous()  # (R, hidden)


def initial_value(name: str, shape: tuple[int, ...], model: GatedQwen3ForCausalLM, *, seed: int,
                  full_ffn: int) -> torch.Tensor:
    """The initial value of parameter ``name`` (fp32, on the CPU)."""
    if name.endswith("norm.weight"):
        return torch.ones(shape)
    if name.endswith(".bias"):
        return torch.zeros(shape)
    if name.endswith("self_attn.q_proj.weight"):
        return _q_proj(name, model, seed)
    if name.endswith(("mlp.gate_proj.weight", "mlp.up_proj.weight")):
        return _normal((full_ffn, shape[1]), seed, name)[: shape[0]].clone()
    if name.endswith("mlp.down_proj.weight"):
        return _normal((shape[0], full_ffn), seed, name)[:, : shape[1]].clone()
    return _normal(shape, seed, name)


@torch.no_grad()
def init_weights(model: GatedQwen3ForCausalLM, *, seed: int, full_ffn: int | None = None) -> None:
    """Overwrite every parameter of ``model`` in place with its name-seeded initial value."""
    full_ffn = full_ffn or model.config.intermediate_size
    for name, param in model.named_parameters():
        if name == "lm_head.weight" and model.config.tie_word_embeddings:
            continue  # the same tensor as the embedding
        value = initial_value(name, tuple(param.shape), model, seed=seed, full_ffn=full_ffn)
        if value.shape != param.shape:
            raise RuntimeError(f"init of {name}: drew {tuple(value.shape)}, parameter is {tuple(param.shape)}")
        param.copy_(value)


def count_parameters(model: nn.Module) -> int:
    """Distinct parameters (a tied embedding counts once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
