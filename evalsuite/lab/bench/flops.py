"""Useful forward FLOPs and bytes, for MFU and the hardware limit of a decode.

Counting (forward only, multiply-add = 2 FLOPs), per *useful* token, each
distinct token counted once (a context shared by four choices, or an MMLU
subject's 5-shot prefix, counts once; padding and repeated prefixes do not):

* linear layers: ``2 * N_lin`` per token, ``N_lin`` = parameters of the
  decoder layers (q/k/v/o incl. the gate rows of a gated model, MLP; norms are
  noise), embeddings excluded;
* attention: a token at depth ``t`` (0-based) attends to ``t + 1`` keys; QK^T
  and PV cost ``2 * 2 * H * D`` per key and layer, so ``4 * L * H * D * (t+1)``
  (summed over a causal sequence of T tokens: ``4*L*d*T(T+1)/2``, the usual
  ``4*L*d*T^2/2``);
* LM head: ``2 * hidden * V`` only at positions whose logits are needed
  (scored positions; the last prompt position and each decode step when generating).

MFU = useful FLOPs / (seconds * 790e12), the bf16 dense rate measured on the H200.
A decode step must also read the KV cache written so far, ``L * 2 * KV * D *
bytes`` per cached position, and the weights: the hardware limit of a
generation is prefill FLOPs at the matmul rate plus, per decode step, those
bytes at the copy bandwidth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evalsuite.engine.cost import (  # the product's cost model: one figure, one count
    PEAK_BF16_FLOPS, PEAK_BYTES_PER_S, causal_keys)


@dataclass(frozen=True)
class ModelShape:
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    linear_params: int  # decoder-layer parameters
    total_params: int
    bytes_per_param: int = 2

    @classmethod
    def of(cls, model: Any) -> "ModelShape":
        cfg = model.config
        decoder = getattr(model, model.base_model_prefix)
        elem = next(model.parameters()).element_size()
        return cls(n_layers=int(cfg.num_hidden_layers), hidden=int(cfg.hidden_size),
                   n_heads=int(cfg.num_attention_heads), n_kv_heads=int(cfg.num_key_value_heads),
                   head_dim=int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads),
                   vocab=int(cfg.vocab_size), linear_params=sum(p.numel() for p in decoder.layers.parameters()),
                   total_params=sum(p.numel() for p in model.parameters()), bytes_per_param=elem)

    @property
    def attn_width(self) -> int:
        return self.n_heads * self.head_dim

    def kv_bytes_per_position(self) -> int:
        return self.n_layers * 2 * self.n_kv_heads * self.head_dim * self.bytes_per_param

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def forward_flops(shape: ModelShape, *, tokens: int, attended_keys: int, head_positions: int) -> float:
    """2*N_lin*tokens + 4*L*H*D*sum(keys attended) + 2*hidden*V*head_positions."""
    return (2.0 * shape.linear_params * tokens + 4.0 * shape.n_layers * shape.attn_width * attended_keys
            + 2.0 * shape.hidden * shape.vocab * head_positions)


@dataclass(frozen=True)
class GenerationCost:
    """Work of one greedy generation: prompt of n tokens, then ``decode_steps`` one-token forwards."""

    prefill_flops: float
    decode_flops: float
    decode_kv_bytes: float  # KV cache read by the decode steps (the brief's bandwidth term)
    decode_weight_bytes: float

    @property
    def flops(self) -> float:
        return self.prefill_flops + self.decode_flops

    def limit_seconds(self, *, with_weights: bool = False) -> float:
        """Prefill at the matmul rate + KV reads (and optionally weight reads) at the copy bandwidth."""
        read = self.decode_kv_bytes + (self.decode_weight_bytes if with_weights else 0.0)
        return self.prefill_flops / PEAK_BF16_FLOPS + read / PEAK_BYTES_PER_S


def generation_cost(shape: ModelShape, *, prompt_tokens: int, decode_steps: int) -> GenerationCost:
    n = prompt_tokens
    prefill = forward_flops(shape, tokens=n, attended_keys=causal_keys(0, n), head_positions=1)
    decode = forward_flops(shape, tokens=decode_steps, attended_keys=causal_keys(n, n + decode_steps),
                           head_positions=decode_steps)
    # Step i (position n+i) reads the n+i+1 cached positions, itself included.
    kv = shape.kv_bytes_per_position() * causal_keys(n, n + decode_steps)
    weights = float(shape.total_params * shape.bytes_per_param) * decode_steps
    return GenerationCost(prefill, decode, float(kv), weights)


def mfu(flops: float, seconds: float) -> float:
    return flops / (seconds * PEAK_BF16_FLOPS) if seconds > 0 else 0.0
