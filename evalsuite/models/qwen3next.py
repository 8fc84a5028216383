"""Whole-model converters between the paper's elementwise-gated Qwen3 and transformers' Qwen3-Next.

Qwen3-Next's softmax-attention layer is the paper's elementwise gate with the
``q_proj`` rows per head instead of per KV group (:mod:`.convert` reorders
them), and its RMSNorms are zero-centred (``x_hat * (1 + w)`` instead of
``x_hat * w``). A paper model therefore is a Qwen3-Next model whose every layer
is ``full_attention`` with a dense MLP and full (not partial) rotary embedding;
these functions move the weights across, both ways. For norm weights in
[0.5, 2] (``w - 1`` is then exact in floating point) the two models compute the
same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from evalsuite.models.convert import paper_to_qwen3next_q_proj, qwen3next_to_paper_q_proj
from evalsuite.models.gated_qwen3 import GatedQwen3Config, GatedQwen3ForCausalLM

_NORMS = ("input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_norm.weight",
          "self_attn.k_norm.weight")
_SHARED_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps",
                "tie_word_embeddings", "attention_bias", "bos_token_id", "eos_token_id", "pad_token_id")


def _rope(config: Any) -> dict[str, Any]:
    params = dict(config.rope_parameters or {})
    params.setdefault("rope_type", "default")
    return params


def _is_norm(name: str) -> bool:
    return name.endswith(_NORMS) or name == "model.norm.weight"


def _heads(config: Any) -> dict[str, int]:
    return {"num_heads": config.num_attention_heads, "num_kv_heads": config.num_key_value_heads,
            "head_dim": config.head_dim}


def _moved(model: torch.nn.Module, target_cls: type, target_cfg: Any, reorder_q: Callable[..., torch.Tensor], *,
           norm_shift: float) -> torch.nn.Module:
    """``model``'s weights in a new ``target_cls(target_cfg)``: q_proj rows reordered, RMSNorm weights shifted
    by ``norm_shift`` (Qwen3-Next's norms scale by ``1 + w``), everything else as is."""
    target_cfg._attn_implementation = model.config._attn_implementation
    state = {}
    for name, value in model.state_dict().items():
        if name.endswith(("self_attn.q_proj.weight", "self_attn.q_proj.bias")):
            value = reorder_q(value, **_heads(model.config))
        elif _is_norm(name):
            value = value + norm_shift
        state[name] = value
    first = next(model.parameters())
    with torch.device(first.device):
        out = target_cls(target_cfg).to(first.dtype)
    out.load_state_dict(state, strict=True)
    return out.eval()


def paper_to_qwen3next(model: GatedQwen3ForCausalLM) -> torch.nn.Module:
    """A ``Qwen3NextForCausalLM`` computing what the elementwise-gated paper ``model`` computes."""
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    cfg = model.config
    if cfg.attn_output_gate != "elementwise" or not cfg.use_qk_norm:
        raise ValueError(f"Qwen3-Next carries an elementwise gate with QK-norm; this model has gate "
                         f"{cfg.attn_output_gate!r}, use_qk_norm={cfg.use_qk_norm}")
    L = cfg.num_hidden_layers
    rope = {**_rope(cfg), "partial_rotary_factor": 1.0}
    next_cfg = Qwen3NextConfig(**{k: getattr(cfg, k) for k in _SHARED_KEYS}, rope_parameters=rope,
                               layer_types=["full_attention"] * L, mlp_only_layers=list(range(L)))
    return _moved(model, Qwen3NextForCausalLM, next_cfg, paper_to_qwen3next_q_proj, norm_shift=-1.0)


def qwen3next_to_paper(model: torch.nn.Module) -> GatedQwen3ForCausalLM:
    """The paper-format elementwise-gated model of a Qwen3-Next ``model`` whose every layer is softmax attention
    with a dense MLP and full rotary embedding (what :func:`paper_to_qwen3next` makes)."""
    cfg = model.config
    rope = _rope(cfg)
    if any(t != "full_attention" for t in cfg.layer_types):
        raise ValueError("only a Qwen3-Next model whose every layer is full_attention has a paper-format twin")
    if sorted(cfg.mlp_only_layers or []) != list(range(cfg.num_hidden_layers)) and cfg.num_experts > 0:
        raise ValueError("the paper's model has a dense MLP in every layer; this one has MoE layers")
    if rope.pop("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("the paper's model rotates every query/key dimension; this one has partial rotary")
    paper_cfg = GatedQwen3Config(**{k: getattr(cfg, k) for k in _SHARED_KEYS}, rope_parameters=rope,
                                 elementwise_attn_output_gate=True, use_qk_norm=True)
    return _moved(model, GatedQwen3ForCausalLM, paper_cfg, qwen3next_to_paper_q_proj, norm_shift=1.0)
