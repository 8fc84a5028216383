"""Tiny seeded checkpoints of the production gated families: Qwen3-Next, Qwen3.5 (text) and Qwen3.5-MoE.

These are transformers' own classes (``qwen3_next``, ``qwen3_5_text``,
``qwen3_5_moe_text``) at toy size, saved with ``save_pretrained``: softmax
attention with the built-in elementwise output gate (``q_proj`` emits
``[q_h | gate_h]`` per head) every ``full_attention_interval``-th layer, Gated
DeltaNet linear attention in the others, MoE feed-forwards for the MoE families.
They exist to run every stage offline on CPU; ``hybrid_config`` with ``shape="paper"``
is the ~1.7B Qwen3.5-style shape for random-weight throughput runs on a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch

Family = Literal["qwen3_next", "qwen3_5", "qwen3_5_moe"]
FAMILIES: tuple[Family, ...] = ("qwen3_next", "qwen3_5", "qwen3_5_moe")


def _classes(family: Family) -> tuple[type, type]:
    if family == "qwen3_next":
        from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

        return Qwen3NextConfig, Qwen3NextForCausalLM
    if family == "qwen3_5":
        from transformers.models.qwen3_5 import Qwen3_5ForCausalLM, Qwen3_5TextConfig

        return Qwen3_5TextConfig, Qwen3_5ForCausalLM
    if family == "qwen3_5_moe":
        from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM, Qwen3_5MoeTextConfig

        return Qwen3_5MoeTextConfig, Qwen3_5MoeForCausalLM
    raise ValueError(f"unknown hybrid family {family!r}; expected one of {FAMILIES}")


def hybrid_config(family: Family, *, shape: Literal["tiny", "paper"] = "tiny", layers: int | None = None,
                  full_attention_interval: int = 2, **overrides: Any) -> Any:
    """A config of ``family``: every ``full_attention_interval``-th layer softmax attention, the rest linear.

    ``"tiny"``: hidden 64, 4 Q / 2 KV heads of 16, 4 layers, SmolLM2's 49,152 vocabulary.
    ``"paper"``: the paper's 1.7B dense shape (28 layers, hidden 2048, 16 Q / 8 KV heads of 128,
    FFN 6144) with Qwen3.5's hybrid layout (every 4th layer full attention, 16 linear heads of 128)
    and vocabulary (248,320), tied embeddings.
    """
    config_cls, _ = _classes(family)
    if shape == "tiny":
        values: dict[str, Any] = dict(
            vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=layers or 4,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, linear_key_head_dim=16,
            linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4, max_position_embeddings=4096,
            initializer_range=0.1, tie_word_embeddings=False)
    else:
        values = dict(
            vocab_size=248320, hidden_size=2048, intermediate_size=6144, num_hidden_layers=layers or 28,
            num_attention_heads=16, num_key_value_heads=8, head_dim=128, linear_key_head_dim=128,
            linear_value_head_dim=128, linear_num_key_heads=16, linear_num_value_heads=16,
            max_position_embeddings=32768, tie_word_embeddings=True)
        full_attention_interval = 4 if full_attention_interval == 2 else full_attention_interval
    if family != "qwen3_5":  # MoE feed-forwards: 4 experts, 2 per token, plus the shared expert
        values.update(moe_intermediate_size=values["intermediate_size"] // 4,
                      shared_expert_intermediate_size=values["intermediate_size"] // 4, num_experts=4,
                      num_experts_per_tok=2)
    n = values["num_hidden_layers"]
    values["layer_types"] = ["full_attention" if (i + 1) % full_attention_interval == 0 else "linear_attention"
                             for i in range(n)]
    values.update(overrides)
    return config_cls(**values)


def random_hybrid(config: Any, *, seed: int, dtype: torch.dtype = torch.float32, device: str = "cpu",
                  attn_implementation: str = "sdpa") -> torch.nn.Module:
    """A seeded model of the config's family (transformers' own initialisation), in eval mode."""
    family = {"qwen3_next": "qwen3_next", "qwen3_5_text": "qwen3_5", "qwen3_5_moe_text": "qwen3_5_moe"}.get(
        config.model_type)
    if family is None:
        raise ValueError(f"model_type {config.model_type!r} is not a hybrid family this module builds")
    _, model_cls = _classes(family)
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    with torch.device(device):
        model = model_cls(config)
    return model.to(dtype).eval()


def write_tiny_hybrid(path: str | os.PathLike[str], *, family: Family, seed: int = 0, tokenizer: str = "smollm2",
                      **config_overrides: Any) -> Path:
    """Write a tiny seeded ``family`` checkpoint (config, safetensors, tokenizer) with ``save_pretrained``."""
    from evalsuite.models.tiny import _write_tokenizer

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    ids = _write_tokenizer(folder, tokenizer) if tokenizer != "none" else {}
    config = hybrid_config(family, **ids, **config_overrides)
    random_hybrid(config, seed=seed).save_pretrained(folder)
    return folder
