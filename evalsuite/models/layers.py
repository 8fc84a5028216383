"""What each decoder layer of a loaded model is, read from its own modules: token mixer and output gate.

Hybrid models (Qwen3-Next, Qwen3.5) interleave softmax-attention layers
(``self_attn``) with Gated DeltaNet linear-attention layers (``linear_attn``),
named per layer in ``config.layer_types``. The output gate of a softmax layer
comes in two row layouts of a widened ``q_proj`` (see :mod:`.convert`):

* **paper** — evalsuite's :class:`~evalsuite.models.gated_qwen3.GatedQwen3Attention`,
  which says its gate in ``gate_kind``; rows grouped per KV head;
* **per_head** — transformers' own gated attention (Qwen3-Next, Qwen3.5), always
  elementwise: ``q_proj`` has ``2*H*D`` rows, ``[q_h | gate_h]`` per head.

Nothing here depends on class names: a layer is read from which modules it has
and how wide its ``q_proj`` is, and what cannot be read is a
:class:`~evalsuite.errors.ModelLoadError` naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from evalsuite.errors import ModelLoadError
from evalsuite.models.convert import GateKind, split_paper_q_rows

LayerKind = Literal["attention", "linear_attention"]
GateLayout = Literal["paper", "per_head"]
LINEAR_LAYER_TYPES = ("linear_attention",)  # config.layer_types values whose layer has no softmax attention


@dataclass(frozen=True)
class GateSpec:
    """The output gate of one softmax-attention layer: ``sigmoid(gate)`` per head (1) or per channel (D)."""

    kind: GateKind  # "headwise" or "elementwise"
    layout: GateLayout


@dataclass(frozen=True)
class LayerInfo:
    """One decoder layer: its token mixer, and (softmax layers) the attention module and its gate."""

    index: int
    kind: LayerKind
    attention: nn.Module | None  # the softmax attention module; None for linear-attention layers
    gate: GateSpec | None
    num_heads: int = 0
    num_kv_heads: int = 0


def decoder_of(model: nn.Module) -> nn.Module:
    """The decoder stack (``model.model`` of a ``*ForCausalLM``, or the model itself) with its ``layers``."""
    decoder = getattr(model, getattr(model, "base_model_prefix", "model"), None)
    decoder = decoder if isinstance(getattr(decoder, "layers", None), nn.ModuleList) else getattr(model, "model", model)
    if not isinstance(getattr(decoder, "layers", None), nn.ModuleList):
        raise ModelLoadError(f"{type(model).__name__} has no decoder layers (model.model.layers) to read")
    return decoder


def _heads(attn: nn.Module, config: Any, i: int) -> tuple[int, int]:
    heads = getattr(attn, "num_heads", None) or getattr(config, "num_attention_heads", None)
    kv = getattr(attn, "num_kv_heads", None) or getattr(config, "num_key_value_heads", None) or heads
    if not heads:
        raise ModelLoadError(f"layer {i}: the attention has no num_heads and the config no num_attention_heads")
    return int(heads), int(kv)


def _gate(attn: nn.Module, heads: int, i: int) -> GateSpec | None:
    """The gate a softmax-attention module carries, from its ``gate_kind`` or its ``q_proj`` width."""
    kind = getattr(attn, "gate_kind", None)
    if kind is not None:  # evalsuite's native gated Qwen3 says its gate (paper row layout)
        return None if kind == "none" else GateSpec(kind, "paper")
    q_proj, head_dim = getattr(attn, "q_proj", None), getattr(attn, "head_dim", None)
    if not isinstance(q_proj, nn.Linear) or not head_dim:
        missing = "q_proj (a Linear)" if not isinstance(q_proj, nn.Linear) else "head_dim"
        raise ModelLoadError(f"layer {i}: attention {type(attn).__name__} has no {missing}; cannot read its queries")
    rows = q_proj.out_features
    if rows == heads * head_dim:
        return None
    if rows == 2 * heads * head_dim:  # transformers' gated attention: [q_h | gate_h] per head
        return GateSpec("elementwise", "per_head")
    raise ModelLoadError(f"layer {i}: q_proj of {type(attn).__name__} has {rows} rows, which fits neither "
                         f"{heads}x{head_dim} queries nor queries plus an output gate")


def read_layers(model: nn.Module) -> tuple[LayerInfo, ...]:
    """Every decoder layer's kind (from ``config.layer_types`` or its modules), attention module and gate."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    layer_types = getattr(config, "layer_types", None)
    out = []
    for i, layer in enumerate(decoder_of(model).layers):
        declared = layer_types[i] if layer_types is not None and i < len(layer_types) else None
        attn = getattr(layer, "self_attn", None)
        if declared in LINEAR_LAYER_TYPES or (attn is None and hasattr(layer, "linear_attn")):
            out.append(LayerInfo(i, "linear_attention", None, None))
            continue
        if attn is None:
            raise ModelLoadError(f"decoder layer {i} ({type(layer).__name__}) has neither self_attn nor linear_attn"
                                 f"{f' (layer_types says {declared!r})' if declared else ''}: cannot read its token mixer")
        heads, kv = _heads(attn, config, i)
        out.append(LayerInfo(i, "attention", attn, _gate(attn, heads, i), heads, kv))
    return tuple(out)


def has_recurrent_layers(model: nn.Module) -> bool:
    """True when some layer mixes tokens by a recurrence (linear attention): a packed row or a tree mask
    would leak state between the sequences in it, so every sequence needs a row of its own."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    types = getattr(config, "layer_types", None) or ()
    if any(t in LINEAR_LAYER_TYPES for t in types):
        return True
    try:
        layers = decoder_of(model).layers
    except ModelLoadError:
        return False
    return any(hasattr(layer, "linear_attn") for layer in layers)


def split_query_and_gate(info: LayerInfo, q_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``q_proj`` output ``(..., R)`` as the query ``(..., H, D)`` and gate logits ``(..., H, 1|D)`` (or None)."""
    attn = info.attention
    assert attn is not None, f"layer {info.index} has no softmax attention"
    D = attn.head_dim
    if info.gate is None:
        return q_rows.reshape(*q_rows.shape[:-1], -1, D), None
    if info.gate.layout == "paper":
        return split_paper_q_rows(q_rows, gate=info.gate.kind, num_heads=info.num_heads,
                                  num_kv_heads=info.num_kv_heads, head_dim=D)
    query, gate = torch.chunk(q_rows.reshape(*q_rows.shape[:-1], -1, 2 * D), 2, dim=-1)  # as Qwen3NextAttention
    return query, gate


def training_context(config: Any) -> int | None:
    """The context the model was trained at, where the config says it: the pre-extension length of a
    YaRN/long-RoPE config (``original_max_position_embeddings``); None when the config does not say."""
    config = getattr(config, "text_config", None) or config
    for params in (getattr(config, "rope_parameters", None), getattr(config, "rope_scaling", None)):
        if isinstance(params, dict) and params.get("original_max_position_embeddings"):
            return int(params["original_max_position_embeddings"])
    return None
