"""Native gated-attention Qwen3 (Qiu et al. 2025) on stock transformers 5.x classes.

The model is the stock ``Qwen3ForCausalLM`` with one change: every decoder
layer's ``self_attn`` is a :class:`GatedQwen3Attention`, whose ``q_proj`` is
widened to also produce the output-gate logits in the paper's per-KV-group row
layout (see :mod:`evalsuite.models.convert`). Caching, masks, ``generate()``,
sdpa/eager/flash and dtypes are all the stock code paths.

The config keeps a distinct ``model_type`` (``"gated_qwen3"``), registered with
``AutoConfig``/``AutoModel``/``AutoModelForCausalLM`` so that a model saved with
``save_pretrained`` reloads natively, without touching stock ``"qwen3"``. The
paper's own ``model_type: "qwen3"`` folders go through
:mod:`evalsuite.models.paper_format` instead.

Runs on transformers 5.17 (attention kwarg ``past_key_values``) and 5.24+
(renamed ``cache``): the attention accepts either.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from transformers import Qwen3Config
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.qwen3.modeling_qwen3 import (
    Qwen3Attention,
    Qwen3ForCausalLM,
    Qwen3Model,
    apply_rotary_pos_emb,
    eager_attention_forward,
)

from evalsuite.models.convert import GateKind, q_proj_rows, split_paper_q_rows

# transformers >= 5.24 passes the attention kwargs on to ``cache.update`` (continuous batching needs them);
# 5.17's caches take none. Mirror whichever the installed stock attention does.
_CACHE_UPDATE_TAKES_KWARGS = "cache" in inspect.signature(Qwen3Attention.forward).parameters


class GatedQwen3Config(Qwen3Config):
    """Qwen3 config plus the paper's gate flags and its optional QK-norm.

    At most one gate flag may be set. ``use_qk_norm=False`` drops q_norm/k_norm
    (the reference code allows it; stock Qwen3 always has them). Biases on the
    attention projections follow ``attention_bias`` (stock Qwen3 semantics: q, k,
    v and o), which is what the reference code's ``qkv_bias`` also switches.
    """

    model_type = "gated_qwen3"

    headwise_attn_output_gate: bool = False
    elementwise_attn_output_gate: bool = False
    use_qk_norm: bool = True

    def __post_init__(self, **kwargs):
        if self.headwise_attn_output_gate and self.elementwise_attn_output_gate:
            raise ValueError("headwise_attn_output_gate and elementwise_attn_output_gate are both set; pick one")
        super().__post_init__(**kwargs)

    @property
    def attn_output_gate(self) -> GateKind:
        """The gate as one word: ``"none"``, ``"headwise"`` or ``"elementwise"``."""
        if self.headwise_attn_output_gate:
            return "headwise"
        return "elementwise" if self.elementwise_attn_output_gate else "none"


def _cache_update(cache, key_states, value_states, layer_idx: int, kwargs: dict):
    if _CACHE_UPDATE_TAKES_KWARGS:
        return cache.update(key_states, value_states, layer_idx, kwargs=kwargs)
    return cache.update(key_states, value_states, layer_idx)


class GatedQwen3Attention(Qwen3Attention):
    """Qwen3 attention with the paper's sigmoid output gate (none, headwise or elementwise).

    ``out = attn(q, k, v) * sigmoid(gate)`` per query head, before ``o_proj``; the
    gate logits come from the same (normed) input of the current query token as
    the query itself. Set ``record_gates = True`` to keep the last
    ``sigmoid(gate)`` in ``last_gate`` (B, T, H, 1|D), detached; off by default.
    Subclassing the stock attention keeps ``output_attentions`` capture working.
    """

    def __init__(self, config: GatedQwen3Config, layer_idx: int):
        super().__init__(config, layer_idx)
        self.gate_kind: GateKind = config.attn_output_gate
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        rows = q_proj_rows(self.gate_kind, num_heads=self.num_heads, head_dim=self.head_dim)
        if rows != self.q_proj.out_features:
            self.q_proj = nn.Linear(config.hidden_size, rows, bias=config.attention_bias)
        if not config.use_qk_norm:
            self.q_norm = nn.Identity()
            self.k_norm = nn.Identity()
        self.record_gates = False
        self.last_gate: torch.Tensor | None = None

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache=None,
        past_key_values=None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cache = cache if cache is not None else past_key_values  # 5.24 name, 5.17 name
        input_shape = hidden_states.shape[:-1]  # (B, T)
        kv_shape = (*input_shape, -1, self.head_dim)

        query, gate_logits = split_paper_q_rows(
            self.q_proj(hidden_states),
            gate=self.gate_kind,
            num_heads=self.num_heads,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim,
        )  # (B, T, H, D), (B, T, H, 1|D) or None
        query_states = self.q_norm(query).transpose(1, 2)  # (B, H, T, D)
        key_states = self.k_norm(self.k_proj(hidden_states).view(kv_shape)).transpose(1, 2)  # (B, KV, T, D)
        value_states = self.v_proj(hidden_states).view(kv_shape).transpose(1, 2)  # (B, KV, T, D)

        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
        if cache is not None:
            key_states, value_states = _cache_update(cache, key_states, value_states, self.layer_idx, kwargs)

        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            sliding_window=self.sliding_window,
            **kwargs,
        )  # attn_output (B, T, H, D)

        if gate_logits is not None:
            gate = torch.sigmoid(gate_logits)  # (B, T, H, 1|D), broadcast over D for headwise
            if self.record_gates:
                self.last_gate = gate.detach()
            attn_output = attn_output * gate
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()  # (B, T, H*D)
        return self.o_proj(attn_output), attn_weights


def _install_gated_attention(model: Qwen3Model, config: GatedQwen3Config) -> None:
    """Swap each stock decoder layer's attention for the gated one (weights are (re)initialised by post_init)."""
    for layer_idx, layer in enumerate(model.layers):
        layer.self_attn = GatedQwen3Attention(config, layer_idx)


class _GateRecording:
    """Diagnostics shared by the model classes: switch gate recording, read the recorded gates."""

    def gated_attention_layers(self) -> list[GatedQwen3Attention]:
        return [m for m in self.modules() if isinstance(m, GatedQwen3Attention)]

    def set_record_gates(self, enabled: bool = True) -> None:
        """Keep (or stop keeping) each layer's last ``sigmoid(gate)``; turning it off frees them."""
        for attn in self.gated_attention_layers():
            attn.record_gates = enabled
            if not enabled:
                attn.last_gate = None

    def last_gates(self) -> list[torch.Tensor | None]:
        """Per layer, the last recorded ``sigmoid(gate)`` (B, T, H, 1|D); None where nothing was recorded."""
        return [attn.last_gate for attn in self.gated_attention_layers()]


class GatedQwen3Model(_GateRecording, Qwen3Model):
    """The decoder stack (no LM head) with gated attention."""

    config_class = GatedQwen3Config
    config: GatedQwen3Config

    def __init__(self, config: GatedQwen3Config):
        super().__init__(config)
        _install_gated_attention(self, config)
        self.post_init()


class GatedQwen3ForCausalLM(_GateRecording, Qwen3ForCausalLM):
    """Stock ``Qwen3ForCausalLM`` whose attention layers carry the paper's output gate."""

    config_class = GatedQwen3Config
    config: GatedQwen3Config

    def __init__(self, config: GatedQwen3Config):
        super().__init__(config)
        _install_gated_attention(self.model, config)
        self.post_init()


def _register_auto_classes() -> None:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    AutoConfig.register(GatedQwen3Config.model_type, GatedQwen3Config, exist_ok=True)
    AutoModel.register(GatedQwen3Config, GatedQwen3Model, exist_ok=True)
    AutoModelForCausalLM.register(GatedQwen3Config, GatedQwen3ForCausalLM, exist_ok=True)


_register_auto_classes()
