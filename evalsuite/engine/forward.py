"""A lean forward pass for Llama-family decoders that reuses the model's own modules.

transformers' ``forward`` builds masks, caches and output objects around the
same few modules; for scoring and decoding we want the modules alone, with the
attention kernel and the KV storage chosen by the caller. :class:`LeanDecoder`
walks ``embed -> (norm, attention, norm, MLP) x L -> norm`` calling the model's
modules and mirroring transformers' attention code op for op (projections,
q/k norms, RoPE, the paper's output gate, ``o_proj``), so that with the same
attention kernel it produces the same bits as the model's own ``forward``.

Supported: the attention classes in :data:`SUPPORTED_ATTENTION` without a
sliding window; anything else returns None from :meth:`LeanDecoder.wrap` and
callers fall back to transformers' forward.

Shapes: B batch, T tokens, H query heads, KV key/value heads, D head dim.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_ATTENTION = ("LlamaAttention", "Qwen2Attention", "Qwen3Attention", "GatedQwen3Attention", "MistralAttention")
# RMSNorms computing weight * (x_fp32 * rsqrt(mean(x_fp32^2) + eps)).to(dtype): what ``fused_norm`` may replace.
FUSABLE_NORMS = ("LlamaRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm", "MistralRMSNorm")

# attend(layer_index, q (B,H,T,D), k (B,KV,T,D), v (B,KV,T,D)) -> (B,H,T,D)
Attend = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def rotary_of(attn: nn.Module) -> Callable:
    """The ``apply_rotary_pos_emb`` of the attention module's own modeling file (the math is shared; the file
    decides), transformers' Llama one if the file has none."""
    fn = getattr(sys.modules.get(type(attn).__module__), "apply_rotary_pos_emb", None)
    if fn is None:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb as fn
    return fn


def unsupported_reason(model: nn.Module) -> str | None:
    """Why :class:`LeanDecoder` cannot run ``model`` (None when it can)."""
    decoder = getattr(model, getattr(model, "base_model_prefix", "model"), None)
    for name in ("layers", "embed_tokens", "norm", "rotary_emb"):
        if not hasattr(decoder, name):
            return f"decoder has no {name}"
    if model.get_output_embeddings() is None:
        return "no LM head"
    cfg = model.config
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "use_sliding_window", False):
        return "logit softcapping / sliding window"
    for layer in decoder.layers:
        attn = getattr(layer, "self_attn", None)
        if type(attn).__name__ not in SUPPORTED_ATTENTION:
            return f"attention {type(attn).__name__} is not one of {SUPPORTED_ATTENTION}"
        if getattr(attn, "sliding_window", None) is not None:
            return "sliding-window attention"
        for name in ("input_layernorm", "post_attention_layernorm", "mlp"):
            if not hasattr(layer, name):
                return f"decoder layer has no {name}"
    return None


@dataclass(frozen=True)
class LeanDecoder:
    """The modules of a supported decoder-only model, and forward passes over them."""

    model: nn.Module
    decoder: nn.Module
    head: nn.Module
    n_heads: int
    n_kv_heads: int
    head_dim: int
    scaling: float
    # RMSNorms as one fused ``F.rms_norm`` (fp32) instead of the module's 7 elementwise kernels. The same
    # formula; the fused reduction may round differently in fp32's last bit. Off for scoring (bit parity with
    # transformers); the fast decode step turns it on, where kernel count is what costs (~1 ms of ~6.6 a step).
    fused_norm: bool = False
    # Run each layer's two pure halves (norm + projections + RoPE; gate + o_proj + residual + MLP) through
    # torch.compile with dynamic shapes (one compilation for every layer and batch shape); attention stays eager.
    compiled: bool = False

    @classmethod
    def wrap(cls, model: nn.Module, *, compiled: bool = False) -> "LeanDecoder | None":
        """The model's modules as a lean decoder (None for a model it does not support); ``compiled``: its
        layers' pure halves through torch.compile (:func:`compiled_halves`)."""
        if unsupported_reason(model) is not None:
            return None
        decoder = getattr(model, model.base_model_prefix)
        attn = decoder.layers[0].self_attn
        cfg = model.config
        lean = cls(model=model, decoder=decoder, head=model.get_output_embeddings(),
                   n_heads=int(cfg.num_attention_heads), n_kv_heads=int(cfg.num_key_value_heads),
                   head_dim=int(attn.head_dim), scaling=float(attn.scaling), compiled=compiled)
        for layer in decoder.layers:
            attach_query_first(layer.self_attn, lean)
        return lean

    @property
    def n_layers(self) -> int:
        return len(self.decoder.layers)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    def norm(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``module(x)`` for an RMSNorm (or Identity), fused when :attr:`fused_norm` and the module allows it."""
        if not self.fused_norm or type(module).__name__ not in FUSABLE_NORMS:
            return module(x)
        return module.weight * F.rms_norm(x.float(), (x.shape[-1],), eps=module.variance_epsilon).to(x.dtype)

    def rope(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each (B, T, D), from the model's own rotary module (YaRN scaling included)."""
        return self.decoder.rotary_emb(hidden, position_ids)

    def project(self, attn: nn.Module, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """q (B,H,T,D), k (B,KV,T,D), v (B,KV,T,D) after norms and RoPE; gate logits (B,T,H,1|D) or None."""
        B, T = h.shape[:2]
        gate = None
        query_first = getattr(attn, QUERY_FIRST, None) if self.compiled else None
        if query_first is not None:  # compiled: a gated q_proj's rows query first (attach_query_first), plain views
            rows = F.linear(h, query_first, getattr(attn, QUERY_FIRST_BIAS, None))
            width = self.n_heads * self.head_dim
            q = rows[..., :width].view(B, T, self.n_heads, self.head_dim)
            gate = rows[..., width:].view(B, T, self.n_heads, -1)
        elif hasattr(attn, "gate_kind"):  # evalsuite's GatedQwen3Attention: the paper's per-KV-group row layout
            from evalsuite.models.convert import split_paper_q_rows

            q, gate = split_paper_q_rows(attn.q_proj(h), gate=attn.gate_kind, num_heads=self.n_heads,
                                         num_kv_heads=self.n_kv_heads, head_dim=self.head_dim)
        else:
            q = attn.q_proj(h).view(B, T, -1, self.head_dim)
        k = attn.k_proj(h).view(B, T, -1, self.head_dim)
        q_norm, k_norm = getattr(attn, "q_norm", None), getattr(attn, "k_norm", None)
        if q_norm is not None:
            q, k = self.norm(q_norm, q), self.norm(k_norm, k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = attn.v_proj(h).view(B, T, -1, self.head_dim).transpose(1, 2)
        q, k = rotary_of(attn)(q, k, cos, sin)
        return q, k, v, gate

    def layer(self, i: int, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, attend: Attend) -> torch.Tensor:
        """One decoder layer on hidden states x (B, T, hidden)."""
        return self.block(self.decoder.layers[i], x, cos, sin, lambda q, k, v: attend(i, q, k, v))

    def block(self, layer: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
              attend: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Decoder layer ``layer`` (a module, not an index: ``torch.compile`` of a function taking it compiles
        once for every layer of the model) on x (B, T, hidden); ``attend(q, k, v)``."""
        pre, post = compiled_halves() if self.compiled else (LeanDecoder.pre_attention, LeanDecoder.post_attention)
        q, k, v, gate = pre(self, layer, x, cos, sin)
        return post(self, layer, x, attend(q, k, v), gate)

    def pre_attention(self, layer: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Input norm, projections, q/k norms, RoPE: q (B,H,T,D), k, v (B,KV,T,D), gate logits or None."""
        return self.project(layer.self_attn, self.norm(layer.input_layernorm, x), cos, sin)

    def post_attention(self, layer: nn.Module, x: torch.Tensor, o: torch.Tensor,
                       gate: torch.Tensor | None) -> torch.Tensor:
        """Output gate, ``o_proj`` and the residual, then the MLP half of the layer; ``o`` is (B,H,T,D)."""
        B, T = x.shape[:2]
        o = o.transpose(1, 2).contiguous()  # (B, T, H, D), as transformers' sdpa wrapper returns
        if gate is not None:
            o = o * torch.sigmoid(gate)
        x = x + layer.self_attn.o_proj(o.reshape(B, T, -1).contiguous())
        return x + layer.mlp(self.norm(layer.post_attention_layernorm, x))

    def hidden(self, input_ids: torch.Tensor, position_ids: torch.Tensor, attend: Attend) -> torch.Tensor:
        """Final-norm hidden states (B, T, hidden); ``attend`` is the attention kernel (and KV store)."""
        x = self.decoder.embed_tokens(input_ids)
        cos, sin = self.rope(x, position_ids)
        for i in range(self.n_layers):
            x = self.layer(i, x, cos, sin, attend)
        return self.norm(self.decoder.norm, x)


QUERY_FIRST, QUERY_FIRST_BIAS = "lean_q_proj_query_first", "lean_q_proj_query_first_bias"


def attach_query_first(attn: nn.Module, lean: LeanDecoder) -> None:
    """Give a gated attention module (``gate_kind``, the paper's ``q_proj`` layout) its ``q_proj`` weight (and
    bias) with the rows query first (:func:`~evalsuite.models.convert.query_first_order`), as non-persistent
    buffers the compiled lean forward multiplies by instead: the same products in other columns, with the query
    and the gate logits plain views of the output.

    Why: the paper's layout puts each KV group's gate rows between its queries, so its query has to be copied
    before the q norm and RoPE, and on CUDA that copy, fused into the norm, cost a 128K prefill 0.07 s (headwise)
    to 0.12 s (elementwise, with the gate's copy) beyond the baseline's pre-attention half (run 15).

    Only the compiled halves use it (:attr:`LeanDecoder.compiled`): the eager layers keep the module's own
    product, bit for bit as its forward computes it: used eagerly on CPU, the copy moved the last bits of the
    reference run's headwise WikiText logliks (windows of 1.4K-8.9K tokens, up to 2e-9 relative). The compiled
    halves make no such promise; Inductor fuses and orders their arithmetic its own way.

    The cost is a second copy of ``q_proj``'s weight (0.24 GB headwise, 0.47 GB elementwise, at 1.7B in bf16).
    The module's own forward, ``state_dict`` and checkpoints keep the paper's layout. The copy is made again when
    the weight changed since (another tensor, an in-place write outside inference mode, a move), into the same
    buffer when its shape, dtype and device allow (a captured decode step keeps reading the right memory). A weight
    on the meta device, or a ``q_proj`` that is not a plain ``nn.Linear`` of floats (quantised), gets none, and the
    forward splits the paper's layout as the module does."""
    if getattr(attn, "gate_kind", "none") == "none":
        return
    if type(attn.q_proj) is not nn.Linear or not attn.q_proj.weight.is_floating_point():
        return  # a quantised or wrapped projection: its own forward, not F.linear on its weight
    weight, bias = attn.q_proj.weight, attn.q_proj.bias
    if weight.is_meta:
        return
    key = (_identity(weight), None if bias is None else _identity(bias))
    if getattr(attn, "_lean_query_first_key", None) == key:
        return
    from evalsuite.models.convert import query_first_order

    order = query_first_order(attn.gate_kind, num_heads=lean.n_heads, num_kv_heads=lean.n_kv_heads,
                              head_dim=lean.head_dim).to(weight.device)
    with torch.inference_mode(False), torch.no_grad():  # ordinary tensors, usable outside inference mode too
        for name, source in ((QUERY_FIRST, weight), (QUERY_FIRST_BIAS, bias)):
            if source is None:
                continue
            rows = source.detach().index_select(0, order)
            held = getattr(attn, name, None)
            if held is not None and held.shape == rows.shape and held.dtype == rows.dtype and held.device == rows.device:
                held.copy_(rows)
            else:
                attn.register_buffer(name, rows, persistent=False)
    attn._lean_query_first_key = key


def _identity(t: torch.Tensor) -> tuple:
    """What changes when a tensor's values may have: its memory, dtype, device, and in-place writes (an inference
    tensor counts none)."""
    return t.data_ptr(), t.dtype, t.device, None if t.is_inference() else t._version


@functools.lru_cache(maxsize=None)
def compiled_halves() -> tuple[Callable, Callable]:
    """``pre_attention`` and ``post_attention`` compiled once per process, shapes dynamic (packed batches vary in
    rows and length; dynamo compiles single-row batches once more), reused by every layer: regional compilation,
    as the compiled decode step."""
    return (torch.compile(LeanDecoder.pre_attention, dynamic=True),
            torch.compile(LeanDecoder.post_attention, dynamic=True))


def expand_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV, T, D) -> (B, KV*groups, T, D), head h reading KV head h // groups (transformers' repeat_kv)."""
    if groups == 1:
        return x
    B, KV, T, D = x.shape
    return x[:, :, None].expand(B, KV, groups, T, D).reshape(B, KV * groups, T, D)
