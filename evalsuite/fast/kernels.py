"""Attention kernels for the lean forward pass, and which SDPA backends to ask for.

``causal`` (one plain causal sequence per row) goes to SDPA's fused kernels
with ``is_causal`` and native GQA, as transformers' sdpa path does; ``tree``
(a packed prefix tree, see :mod:`evalsuite.fast.tree`) builds the boolean
ancestor mask ``k <= q < end[k]`` on the device and runs SDPA with it (the
memory-efficient kernel on CUDA; GQA heads are expanded because that kernel
has no native GQA).

On CUDA, :func:`sdpa_backends` prefers cuDNN's fused attention for unmasked
causal rows (on Hopper it runs near FlashAttention-3 speed, about twice
FlashAttention-2) once :func:`cudnn_attention_ok` has checked it against
FlashAttention on random inputs; otherwise FlashAttention-2.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from evalsuite.fast.lean import expand_kv


Attend = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def causal(groups: int, scale: float, *, expand: bool = False) -> Attend:
    """Plain causal attention: GQA native (transformers' sdpa call without a mask), or with K/V heads
    expanded (``expand``: cuDNN attention takes equal head counts)."""
    gqa = {"enable_gqa": True} if groups > 1 and not expand else {}

    def attend(_: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if expand:
            k, v = expand_kv(k, groups), expand_kv(v, groups)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, **gqa)

    return attend


def use_cudnn(device: torch.device, prefer: bool) -> bool:
    """Whether unmasked attention on ``device`` should go to cuDNN (CUDA, asked for, and it passed its check)."""
    return prefer and device.type == "cuda" and cudnn_attention_ok(device.index or 0)


def tree_mask(end: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool from (B, L) ends: query q sees key k iff k <= q < end[k]."""
    L = end.shape[1]
    idx = torch.arange(L, device=end.device)
    return ((idx[None, None, :] <= idx[None, :, None]) & (idx[None, :, None] < end[:, None, :]))[:, None]


def tree(mask: torch.Tensor, groups: int, scale: float) -> Attend:
    """Attention under a packed-tree mask (B, 1, L, L); K/V heads expanded for the memory-efficient kernel."""
    def attend(_: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, expand_kv(k, groups), expand_kv(v, groups), attn_mask=mask,
                                              scale=scale)

    return attend


def _backend_names(names: tuple[str, ...]):
    from torch.nn.attention import SDPBackend

    return [getattr(SDPBackend, n) for n in names if hasattr(SDPBackend, n)]


@contextlib.contextmanager
def sdpa_backends(device: torch.device, *, masked: bool, prefer_cudnn: bool) -> Iterator[None]:
    """Restrict (and order, where torch allows) SDPA backends on CUDA; a no-op elsewhere."""
    if device.type != "cuda":
        yield
        return
    from torch.nn.attention import sdpa_kernel

    if masked:
        names = ("EFFICIENT_ATTENTION", "MATH")
    elif prefer_cudnn and cudnn_attention_ok(device.index or 0):
        names = ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
    else:
        names = ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
    backends = _backend_names(names)
    try:
        ctx = sdpa_kernel(backends, set_priority=True)
    except TypeError:  # torch without set_priority: the listed set, torch's own order
        ctx = sdpa_kernel(backends)
    with ctx:
        yield


DISABLED: set[str] = set()  # backends switched off after a runtime failure


@functools.lru_cache(maxsize=None)
def cudnn_attention_ok(device_index: int) -> bool:
    """cuDNN attention agrees with FlashAttention-2 on random causal inputs (bf16, 16 heads, D=128)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if "cudnn" in DISABLED or not hasattr(SDPBackend, "CUDNN_ATTENTION"):
        return False
    dev = torch.device("cuda", device_index)
    g = torch.Generator(device=dev).manual_seed(0)
    q = torch.randn(1, 16, 3000, 128, device=dev, dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, 16, 3000, 128, device=dev, dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, 16, 3000, 128, device=dev, dtype=torch.bfloat16, generator=g)
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    try:
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            got = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            fa2 = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    except RuntimeError:
        return False
    err = lambda x: float((x.float() - ref).norm() / ref.norm())  # noqa: E731
    return bool(torch.isfinite(got).all()) and err(got) <= 2 * err(fa2) + 1e-3
