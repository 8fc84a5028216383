"""The static KV cache of the fast decoders, and one query token's attention over it.

A row per sequence decoded at once (:mod:`evalsuite.engine.batch_decode`), one for a single request
(:mod:`evalsuite.engine.decode`); ``capacity`` positions per layer, preallocated, so a decode step writes K/V
in place (:func:`write_step_kv`) and a captured CUDA graph replays on the same buffers.

Two ways to attend one query token over it, same values up to rounding (``decode_attention``):

* ``split`` (:func:`split_decode_attention`): two batched matmuls over the whole cache, every row's every
  position read at every step, the positions past a row's own masked;
* ``flex`` (:class:`FlexDecodeMask`, :func:`flex_decode_attention`): FlexAttention's decoding kernel (split-KV,
  GQA in one block, online softmax; compiled on CUDA), told by a block mask that is updated on the device inside
  the step which 128-position blocks each row has filled, so a row reads only its own prefix, and a row of a
  static cache that holds no request (it decodes from position 0) costs a block or two, not the whole cache.

Shapes: B rows, KV key/value heads, G query heads per KV head, D head dim, T cache positions.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from evalsuite.engine import kernels
from evalsuite.engine.forward import LeanDecoder
from evalsuite.spec.engine import (DECODE_ATTENTION_CHOICES, DECODE_SPLIT_CHOICES,  # noqa: F401 - the engine's names
                                   DecodeAttention, DecodeSplit)

DECODE_CHUNK = 1024  # cache positions per P·V block in the fast decode attention
FLEX_BLOCK = 128  # cache positions per block of the flex decode mask (FlexAttention's default KV block)
# FlexAttention's decoding kernel on CUDA: 4 warps, 3 stages. Torch 2.11's own choice on an H100 (2 warps, 1 stage)
# read the K/V cache at 2.1-2.7 TB/s; these read it at 2.9-3.1 TB/s, the card's copy rate, with outputs equal to
# the defaults' bit for bit at 4K, 32K and 128K (run 8's sweep, results/bench/run8/sweep/).
FLEX_DECODE_OPTIONS = {"num_warps": 4, "num_stages": 3}
# The decoding kernel splits each row's keys SPLIT_KV ways, one program per (row, KV head, split). Torch's own
# split is 2 x (SMs // (rows x KV heads)): a cache of several rows gets few splits, which is right while every row
# reads its whole prefix but leaves the GPU mostly idle once rows are retired (each reads one block): one live row
# of three at 128K read its K/V in 2.21x the floor at torch's 10 splits, in 1.11x at a one-row cache's 32 (run 12,
# an H200; with every row live both 0.98x). The "wide" split (decode_split) is as wide as a one-row cache's, but
# never shorter than MIN_SPLIT_BLOCKS blocks: at 4K a one-row split of 1-block splits was 11-20 % slower with every
# row live.
MIN_SPLIT_BLOCKS = 32  # FLEX_BLOCK-position blocks (4,096 positions) a widened split keeps at least


class StaticKV:
    """Per-layer K and V buffers (rows, KV, capacity, D) in the model's dtype; a row per sequence decoded at once
    (:mod:`evalsuite.engine.batch_decode`), one for a single request."""

    def __init__(self, lean: LeanDecoder, capacity: int, rows: int = 1) -> None:
        shape = (rows, lean.n_kv_heads, capacity, lean.head_dim)
        self.capacity, self.rows = capacity, rows
        # Zeros, not empty: masked-out slots get probability 0, and 0 * NaN garbage would still be NaN.
        self.k = [torch.zeros(shape, dtype=lean.dtype, device=lean.device) for _ in range(lean.n_layers)]
        self.v = [torch.zeros(shape, dtype=lean.dtype, device=lean.device) for _ in range(lean.n_layers)]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v)


def capacity_for(n_tokens: int, *, minimum: int = 2048) -> int:
    """Cache size bucket: the next power of two (so graphs are reused across similar lengths)."""
    cap = minimum
    while cap < n_tokens:
        cap *= 2
    return cap


@functools.lru_cache(maxsize=None)
def bmm_out_dtype_ok(device_type: str) -> bool:
    """Whether ``torch.bmm(..., out_dtype=float32)`` works on this device (bf16 in, fp32 scores out)."""
    try:
        a = torch.ones(1, 1, 8, dtype=torch.bfloat16, device=device_type)
        return torch.bmm(a, a.transpose(1, 2), out_dtype=torch.float32).dtype == torch.float32
    except (TypeError, RuntimeError, NotImplementedError):
        return False


def _bmm_f32(a: torch.Tensor, b: torch.Tensor, f32_out: bool | None = None) -> torch.Tensor:
    if a.dtype == torch.float32:
        return torch.bmm(a, b)
    if f32_out if f32_out is not None else bmm_out_dtype_ok(a.device.type):
        return torch.bmm(a, b, out_dtype=torch.float32)
    return torch.bmm(a, b).float()  # bf16 scores: a fallback for torch without out_dtype


def decode_chunk(capacity: int) -> int:
    """Cache positions per P·V block: :data:`DECODE_CHUNK`, or the largest power of two <= it dividing
    ``capacity`` (batched caches are sized to the requests, a multiple of 128)."""
    chunk = min(DECODE_CHUNK, capacity)
    while capacity % chunk:
        chunk //= 2
    return chunk


def split_decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor,
                           scale: float, f32_out: bool | None = None) -> torch.Tensor:
    """One query token per row over a static cache. q (B,H,1,D); keys/values (B,KV,T,D); valid (B,T) or (T,)
    bool -> (B,H,1,D). Rows are independent sequences (each its own valid prefix).

    ``f32_out``: whether ``bmm(..., out_dtype=float32)`` works here (looked up when None; pass it inside
    ``torch.compile``, which does not trace through the cached lookup)."""
    B, H, _, D = q.shape
    KV, T = keys.shape[1], keys.shape[2]
    G = H // KV
    chunk = decode_chunk(T)
    S = T // chunk
    qg = q.reshape(B * KV, G, D)  # head h = kv*G + g
    bmm = functools.partial(_bmm_f32, f32_out=f32_out)
    scores = bmm(qg, keys.view(B * KV, T, D).transpose(1, 2)) * scale  # (B*KV, G, T) fp32
    mask = ~valid.view(-1, 1, 1, T)  # (B or 1, 1, 1, T)
    scores = scores.view(B, KV, G, T).masked_fill(mask, float("-inf")).view(B * KV, G, T)
    p = torch.softmax(scores, dim=-1).to(values.dtype)  # (B*KV, G, T)
    p = p.view(B * KV, G, S, chunk).transpose(1, 2).reshape(B * KV * S, G, chunk)
    out = bmm(p, values.view(B * KV * S, chunk, D)).view(B * KV, S, G, D).sum(1)  # (B*KV, G, D) fp32
    return out.to(values.dtype).view(B, H, 1, D)


def write_step_kv(cache: torch.Tensor, pos: torch.Tensor, new: torch.Tensor) -> None:
    """Write each row's new K or V (B,KV,1,D) into ``cache`` (B,KV,T,D) at that row's position ``pos`` (B,)."""
    B, KV, _, D = new.shape
    cache.scatter_(2, pos.view(B, 1, 1, 1).expand(B, KV, 1, D), new)


def attend_cache(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: "torch.Tensor | FlexDecodeMask",
                 scale: float, f32_out: bool | None = None) -> torch.Tensor:
    """One query token per row over the cache: :func:`flex_decode_attention` for a :class:`FlexDecodeMask`,
    :func:`split_decode_attention` for a (B,T) valid-key tensor."""
    if isinstance(mask, FlexDecodeMask):
        return flex_decode_attention(q, keys, values, mask, scale)
    return split_decode_attention(q, keys, values, mask, scale, f32_out)


class FlexDecodeMask:
    """The block mask of :func:`flex_decode_attention` for a cache of ``capacity`` positions and the rows whose
    current positions ``position`` (B,) holds (the decoder's own tensor, read at every step).

    Each row visits blocks ``0 .. position // FLEX_BLOCK`` (:meth:`update` recomputes the counts on the device, so
    a captured step replays it), and inside them sees keys ``<= position``: the cache slots beyond a row's position
    hold stale K/V from earlier batches or warm-up steps and are never read into its output. All visited blocks are
    "partial" (the element mask applies everywhere): one comparison per key, which the kernel fuses.

    ``end`` (B,), optional (the decoder's own tensor too): a row whose position has reached its end is retired, its
    tokens no longer wanted, and visits block 0 only. A finished row of a batch would otherwise read its whole
    cache at every step until the batch's longest row is done: at 128K, 15 GB a step for a row whose answer ended
    at 30 tokens. The kernel works each row from that row's own blocks (its split of the keys is fixed by the
    static shapes), so the other rows' outputs are the same bit for bit.

    ``kernel_options``: the decoding kernel's for this cache of ``kv_heads`` K/V heads (:func:`flex_decode_options`
    with ``split``), fixed here, outside any compiled step."""

    def __init__(self, position: torch.Tensor, capacity: int, end: torch.Tensor | None = None, *,
                 kv_heads: int | None = None, split: DecodeSplit | int = "torch") -> None:
        from torch.nn.attention.flex_attention import BlockMask

        if capacity % FLEX_BLOCK:
            raise ValueError(f"flex decode needs a cache of whole {FLEX_BLOCK}-position blocks, not {capacity}")
        if split not in DECODE_SPLIT_CHOICES and (isinstance(split, bool) or not isinstance(split, int) or split < 1):
            raise ValueError(f"split must be one of {', '.join(DECODE_SPLIT_CHOICES)} or a positive integer, "
                             f"not {split!r}")
        rows, blocks = position.shape[0], capacity // FLEX_BLOCK
        dev = position.device
        if dev.type == "cuda" and kv_heads is None:
            raise ValueError("a flex decode mask on CUDA needs the cache's kv_heads (its kernel's split)")
        self.position, self.end = position, end
        self.kernel_options = flex_decode_options(dev, rows=rows, kv_heads=kv_heads or 1, capacity=capacity,
                                                  split=split)
        self.kv_num_blocks = torch.ones((rows, 1, 1), dtype=torch.int32, device=dev)
        self.kv_indices = torch.arange(blocks, dtype=torch.int32, device=dev).expand(rows, 1, 1, blocks).contiguous()

        def mask_mod(b, h, q, k):  # noqa: ANN001 - FlexAttention's signature
            return k <= position[b]

        blocks_args = dict(BLOCK_SIZE=FLEX_BLOCK, mask_mod=mask_mod, seq_lengths=(1, capacity))
        try:  # the transposed (backward) indices are not needed, and would go stale
            self.block_mask = BlockMask.from_kv_blocks(self.kv_num_blocks, self.kv_indices, **blocks_args,
                                                       compute_q_blocks=False)
        except TypeError:  # torch without compute_q_blocks
            self.block_mask = BlockMask.from_kv_blocks(self.kv_num_blocks, self.kv_indices, **blocks_args)

    def update(self) -> None:
        """Each row's block count from its current position, one for a retired row (on the device: a captured step
        replays it)."""
        blocks = torch.div(self.position, FLEX_BLOCK, rounding_mode="floor") + 1
        if self.end is not None:
            blocks.masked_fill_(self.position >= self.end, 1)
        self.kv_num_blocks.view(-1).copy_(blocks.clamp_(max=self.kv_indices.shape[-1]))


def flex_decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: FlexDecodeMask,
                          scale: float, *, kernel_options: dict[str, Any] | None = None) -> torch.Tensor:
    """:func:`split_decode_attention` through FlexAttention: q (B,H,1,D); keys/values (B,KV,T,D) -> (B,H,1,D).
    ``kernel_options``: the decoding kernel's (None: the mask's, the engine's; a benchmark times others through this
    same call)."""
    groups = q.shape[1] // keys.shape[1]
    flex = kernels.flex_attention_fn(q.device.type, dynamic=False)  # static shapes: the decoding kernel
    options = mask.kernel_options if kernel_options is None else kernel_options
    return flex(q, keys, values, block_mask=mask.block_mask, scale=scale, enable_gqa=groups > 1,
                kernel_options=options)


def decode_split(rows: int, kv_heads: int, capacity: int, sms: int) -> int | None:
    """The ``wide`` split of each row's keys for a cache of ``rows`` x ``capacity`` positions on ``sms``
    multiprocessors: a one-row cache's (:func:`torch_split` of one row) where the cache is long enough that each
    split keeps :data:`MIN_SPLIT_BLOCKS` blocks, capped at that; None where that is no wider than torch's own for
    ``rows`` rows, which then runs unchanged. With 8 KV heads on 132 SMs: 32
    ways at 128K (torch: 10 for 3 rows, 32 for one), 16 at 64K, 8 at 32K, 4 at 16K, torch's at 4K."""
    wide = min(torch_split(1, kv_heads, sms), capacity // (FLEX_BLOCK * MIN_SPLIT_BLOCKS))
    return wide if wide > torch_split(rows, kv_heads, sms) else None


def torch_split(rows: int, kv_heads: int, sms: int) -> int:
    """The split torch's decoding kernel gives each row's keys in a cache of ``rows`` rows (``get_split_k``):
    ``2 x (sms // (rows x kv_heads))``, at least 1. One row's is what the wide split gives every row of a long
    cache."""
    return max(1, sms // max(rows * kv_heads, 1) * 2)


@functools.lru_cache(maxsize=None)
def multiprocessors(device: torch.device) -> int:
    """The CUDA device's streaming multiprocessors (looked up once)."""
    return int(torch.cuda.get_device_properties(device).multi_processor_count)


def flex_decode_options(device: torch.device | str, *, rows: int = 1, kv_heads: int = 1, capacity: int = 0,
                        split: DecodeSplit | int = "torch", sms: int | None = None) -> dict[str, int] | None:
    """The decoding kernel's ``kernel_options`` on ``device`` for a cache of ``rows`` x ``kv_heads`` x ``capacity``:
    on CUDA :data:`FLEX_DECODE_OPTIONS` and the split ``split`` asks for ("torch": torch's own; "wide":
    :func:`decode_split`'s, torch's own where it gives none; N: N ways), ``sms`` looked up when None; none
    elsewhere (the unfused reference has no kernel to tune)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    options: dict[str, int] = dict(FLEX_DECODE_OPTIONS)
    if split == "wide":
        split = decode_split(rows, kv_heads, capacity, multiprocessors(device) if sms is None else sms) or "torch"
    if split != "torch":
        options["SPLIT_KV"] = int(split)
    return options
