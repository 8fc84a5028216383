"""Tiny seeded stock models built from a config in memory (fast: no files, no tokenizer)."""

from __future__ import annotations

import torch

VOCAB = 300  # the byte tokenizer has 257 symbols


def tiny_stock(arch: str = "qwen3", *, layers: int = 3, attn: str = "sdpa", seed: int = 0, std: float = 0.02,
               **overrides) -> torch.nn.Module:
    """A seeded ``Qwen3ForCausalLM`` / ``LlamaForCausalLM``: hidden 64, 4 Q heads over 2 KV heads (GQA), D 16."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    config_cls, model_cls = {"qwen3": (Qwen3Config, Qwen3ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}[arch]
    values = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                  initializer_range=std, tie_word_embeddings=False)
    values.update(overrides)
    config = config_cls(**values)
    config._attn_implementation = attn
    torch.manual_seed(seed)
    return model_cls(config).eval()
