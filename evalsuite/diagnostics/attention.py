"""Attention probability on key 0, computed apart from the model's own attention kernel.

The evaluation runs with sdpa (or flash), which never materialises attention
probabilities, and ``output_attentions=True`` would force eager attention and a
``(H, T, T)`` tensor per layer. Instead, a forward pre-hook sees each attention
module's input, recomputes post-RoPE queries and keys with the module's own
projections, QK-norm and rotary embedding (:func:`project_qk`), and
:func:`first_token_probs` evaluates ``softmax(q k^T * scaling + causal mask)``
one chunk of queries at a time, keeping only the column of key 0. Memory is
``H x chunk x T`` floats per chunk, never ``H x T x T``.

Supported attention modules are the Llama-style ones whose forward is exactly
"project, optional per-head RMSNorm, RoPE, scaled dot product" (Llama, Mistral,
Qwen2, Qwen3, the native gated Qwen3, the softmax layers of Qwen3-Next and
Qwen3.5), recognised by their modules (:mod:`evalsuite.models.layers`), not by
class name; the widened ``q_proj`` of a gated layer also yields its gate logits.
What the probe cannot read is refused, naming what is missing, rather than
silently mis-measured.
"""

from __future__ import annotations

import torch
from torch import nn

from evalsuite.errors import ModelLoadError
from evalsuite.engine.forward import rotary_of
from evalsuite.models.layers import LayerInfo, split_query_and_gate

DEFAULT_BUDGET_ELEMENTS = 1 << 26  # float32 scores per chunk (256 MiB), before the softmax's temporaries


def check_supported(info: LayerInfo) -> None:
    """Refuse an attention module whose forward :func:`project_qk` cannot reproduce, naming what is missing.

    Read from the module itself: ``q_proj``/``k_proj`` projections, ``head_dim`` and
    ``scaling``, and no logit soft-capping (Gemma-style ``attn_logit_softcapping``
    changes the softmax). RoPE is the module's own file's ``apply_rotary_pos_emb``.
    """
    attn = info.attention
    name = type(attn).__name__
    for attr in ("q_proj", "k_proj", "head_dim", "scaling"):
        if not hasattr(attn, attr):
            raise ModelLoadError(f"layer {info.index}: diagnostics cannot read attention {name}: it has no {attr}")
    if getattr(getattr(attn, "config", None), "attn_logit_softcapping", None):
        raise ModelLoadError(f"layer {info.index}: attention {name} soft-caps its logits, which the probe does not "
                             "reproduce")


def project_qk(info: LayerInfo, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Post-RoPE queries ``(B, H, T, D)``, keys ``(B, KV, T, D)`` and gate logits ``(B, T, H, 1|D)`` (None
    without a gate), exactly as the layer's attention ``forward`` makes them.

    ``hidden_states`` is the module's input (the layer's normed residual), ``(B, T, C)``.
    """
    attn = info.attention
    B, T, _ = hidden_states.shape
    D = attn.head_dim
    query, gate = split_query_and_gate(info, attn.q_proj(hidden_states))  # (B, T, H, D), (B, T, H, 1|D)
    key = attn.k_proj(hidden_states).view(B, T, -1, D)  # (B, T, KV, D)
    if hasattr(attn, "q_norm"):  # Qwen3 family: RMSNorm over D per head, before RoPE
        query, key = attn.q_norm(query), attn.k_norm(key)
    cos, sin = position_embeddings  # partial rotary (Qwen3-Next): the module's own function rotates the first dims
    q, k = rotary_of(attn)(query.transpose(1, 2), key.transpose(1, 2), cos, sin)
    return q, k, gate


def auto_chunk(num_heads: int, seq_len: int, budget_elements: int = DEFAULT_BUDGET_ELEMENTS) -> int:
    """Query rows per chunk so that one chunk's scores ``(H, chunk, T)`` stay within the budget."""
    return max(1, min(seq_len, budget_elements // max(1, num_heads * seq_len)))


def first_token_probs(q: torch.Tensor, k: torch.Tensor, *, scaling: float, chunk: int | None = None,
                      sliding_window: int | None = None) -> torch.Tensor:
    """Causal attention probability on key 0 for every head and query: ``(H, T)``; query 0 gives 1.

    ``q`` is ``(H, T, D)`` and ``k`` is ``(KV, T, D)``, both post-RoPE; query head
    ``h`` reads KV head ``h // (H // KV)`` (as ``repeat_kv``). Computed in float32
    with a log-sum-exp per query, ``chunk`` queries at a time, each against only
    the keys it can see. With a sliding window, query ``t`` sees keys ``t - w < j <= t``
    (the masks' convention), so key 0 gets 0 once ``t >= w``.
    """
    H, T, D = q.shape
    KV = k.shape[0]
    assert H % KV == 0, f"{H} query heads are not a multiple of {KV} KV heads"
    assert k.shape[1:] == (T, D), f"keys {tuple(k.shape)} do not match queries {tuple(q.shape)}"
    G = H // KV
    chunk = chunk or auto_chunk(H, T)
    qg = q.float().reshape(KV, G, T, D)  # head h = kv*G + g
    kf = k.float()
    out = torch.empty(KV, G, T, device=q.device, dtype=torch.float32)
    positions = torch.arange(T, device=q.device)
    for start in range(0, T, chunk):
        end = min(T, start + chunk)
        scores = torch.einsum("kgcd,ktd->kgct", qg[:, :, start:end], kf[:, :end]) * scaling  # (KV, G, c, end)
        rows, cols = positions[start:end, None], positions[None, :end]
        hidden = cols > rows  # causal
        if sliding_window is not None:
            hidden = hidden | (rows - cols >= sliding_window)
        scores.masked_fill_(hidden, float("-inf"))
        out[:, :, start:end] = torch.exp(scores[..., 0] - torch.logsumexp(scores, dim=-1))
    return out.reshape(H, T)


def sliding_window_of(attn: nn.Module) -> int | None:
    """The layer's sliding window: Qwen2/Qwen3 keep it per layer, Mistral reads its config, Llama has none."""
    if hasattr(attn, "sliding_window"):
        return attn.sliding_window
    return getattr(attn.config, "sliding_window", None)
