"""Attention kernels for the lean forward pass, and which SDPA backends to ask for.

``causal`` (one plain causal sequence per row) goes to SDPA's fused kernels
with ``is_causal`` and native GQA, as transformers' sdpa path does; ``tree``
(a packed prefix tree, see :mod:`evalsuite.engine.request_tree`) builds the boolean
ancestor mask ``k <= q < end[k]`` on the device and runs SDPA with it (the
memory-efficient kernel on CUDA; GQA heads are expanded because that kernel
has no native GQA).

Unmasked causal rows (a RULER prefill, rolling perplexity windows) go, on
CUDA, to the fastest kernel that passed its check against FlashAttention-2 on
random inputs (:func:`causal_backend`): FlashAttention-4 (``flash_attn.cute``,
its Hopper forward kernel; an optional package, see
``evalsuite/tools/build_fa4_parts.sh``), then cuDNN's fused attention
(:func:`sdpa_backends` asks SDPA for it), then FlashAttention-2. A kernel that
raises at run time is switched off for the process (:data:`DISABLED`) and the
batch is run again on the next one.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Callable, Iterator, Literal, TypeVar

import torch
import torch.nn.functional as F

from evalsuite.engine.forward import expand_kv
from evalsuite.spec.engine import ATTENTION_CHOICES, TREE_ATTENTION_CHOICES, AttentionChoice, TreeAttention  # noqa: F401


def compile_seconds() -> float:
    """Seconds this process has spent in ``torch.compile`` so far (TorchDynamo's tracing, Inductor's code
    generation and Triton's compilation), as torch reports them; 0.0 where it does not.

    Why it is counted apart: it is paid once per process and shape, not per item, so a unit's time can only be
    extrapolated to more items once it is taken out (run 5: the first scoring unit of a model load, WikiText,
    took 15.3 s at 8 documents and 10.1 s at 16 in the next process, against a hardware limit of 0.2-0.4 s;
    scaling all of it with the items predicted 30.4 s for the 16, 3x what they took).
    """
    try:
        from torch._dynamo.utils import compile_times

        names, values = compile_times(repr="csv", aggregate=True)
        return float(dict(zip(names, values)).get("_compile.compile_inner", 0.0))
    except Exception:  # noqa: BLE001 - a private API of torch's; the counter is informative, never required
        return 0.0


_CHECKING = [0.0]  # seconds inside the kernel checks, this process


def check_seconds() -> float:
    """Seconds this process has spent in the kernels' checks (:func:`fa4_attention_ok`,
    :func:`cudnn_attention_ok`), each run once on first use.

    Why it is counted apart, as :func:`compile_seconds` is: it is paid once per process, wherever the first
    kernel choice falls, and scaling it with the items misprices a unit (run 11, an H100: FlashAttention-4's
    check, which JIT-compiles its kernel, took ~5.5 s inside the first RULER unit of a process, outside its
    batches; scaled x100 it was 550 s of a 6,500 s extrapolation)."""
    return _CHECKING[0]


F_ = TypeVar("F_", bound=Callable[[int], bool])


def _timed_check(check: F_) -> F_:
    """``check`` with its seconds added to :func:`check_seconds` (its result forces the device's work)."""

    @functools.wraps(check)
    def timed(device_index: int) -> bool:
        start = time.perf_counter()
        try:
            return check(device_index)
        finally:
            _CHECKING[0] += time.perf_counter() - start

    return timed  # type: ignore[return-value]


Attend = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# What a caller may ask for unmasked causal attention (AttentionChoice, ATTENTION_CHOICES: the engine's knobs,
# evalsuite.spec.engine): "auto" = the fastest that passed its check.
# What runs: "fa4", "cudnn" (SDPA restricted to cuDNN, K/V heads expanded) or "sdpa" (SDPA's own choice with
# native GQA, as transformers calls it: FlashAttention-2 on CUDA).
Backend = Literal["fa4", "cudnn", "sdpa"]


def causal_backend(device: torch.device, choice: str = "auto") -> Backend:
    """The kernel for unmasked causal rows on ``device``: the one asked for, else the fastest that passed its
    check (FlashAttention-4, then cuDNN), else SDPA's default. Off CUDA always SDPA."""
    if choice not in ATTENTION_CHOICES:
        raise ValueError(f"attention must be one of {ATTENTION_CHOICES}, not {choice!r}")
    if device.type != "cuda" or choice == "flash":
        return "sdpa"
    index = device.index if device.index is not None else torch.cuda.current_device()
    if choice in ("auto", "fa4") and fa4_attention_ok(index):
        return "fa4"
    if choice in ("auto", "cudnn") and cudnn_attention_ok(index):
        return "cudnn"
    return "sdpa"


def causal(groups: int, scale: float, *, backend: Backend = "sdpa") -> Attend:
    """Plain causal attention: GQA native (``"sdpa"``: transformers' sdpa call without a mask), with K/V heads
    expanded (``"cudnn"``: cuDNN attention takes equal head counts), or FlashAttention-4 (``"fa4"``, GQA
    native, (B, T, heads, D) layout).

    Fewer queries than keys (a prompt's suffix over its cached prefix, :mod:`evalsuite.engine.batch_decode`): the
    queries are the last positions, the mask aligned bottom-right (query j sees keys up to ``Tk - Tq + j``).
    FlashAttention-4 aligns it so itself (checked by :func:`fa4_attention_ok`); SDPA's ``is_causal`` aligns it
    top-left, so its backends get :func:`suffix_causal` instead."""
    if backend == "fa4":
        return _fa4_causal(scale)
    expand = backend == "cudnn"
    gqa = {"enable_gqa": True} if groups > 1 and not expand else {}

    def attend(_: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if q.shape[2] != k.shape[2]:
            return suffix_causal(q, k, v, groups, scale)
        if expand:
            k, v = expand_kv(k, groups), expand_kv(v, groups)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, **gqa)

    return attend


def suffix_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, groups: int, scale: float) -> torch.Tensor:
    """Causal attention of the last ``Tq`` positions over ``Tk`` keys (bottom-right aligned), through SDPA with
    torch's lower-right causal bias (FlashAttention-2 / memory-efficient kernels on CUDA, math elsewhere); K/V
    heads expanded, which every backend of that bias takes."""
    from torch.nn.attention.bias import causal_lower_right

    mask = causal_lower_right(q.shape[2], k.shape[2])
    return F.scaled_dot_product_attention(q, expand_kv(k, groups), expand_kv(v, groups), attn_mask=mask, scale=scale)


def _fa4_causal(scale: float) -> Attend:
    from flash_attn.cute import flash_attn_func

    def attend(_: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # (B, heads, T, D) views of (B, T, heads, D) projections: the transposes are views, made contiguous
        # only if a caller handed in something else.
        out = flash_attn_func(q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(),
                              v.transpose(1, 2).contiguous(), softmax_scale=scale, causal=True)[0]
        return out.transpose(1, 2)

    return attend


T = TypeVar("T")


def run_causal(device: torch.device, choice: str, groups: int, scale: float, forward: Callable[[Attend], T]) -> T:
    """``forward(attend)`` with the causal kernel :func:`causal_backend` picks for ``choice`` (SDPA restricted to
    match); a kernel that raises is switched off for the process and ``forward`` runs again on the next one."""
    while True:
        backend = causal_backend(device, choice)
        try:
            with sdpa_backends(device, masked=False, prefer_cudnn=backend == "cudnn"):
                return forward(causal(groups, scale, backend=backend))
        except RuntimeError:
            if backend == "sdpa":
                raise
            disable(backend)


def disable(backend: Backend) -> None:
    """Switch ``backend`` off for the process after it raised (a kernel limit at some shape)."""
    DISABLED.add(backend)
    _forget_checks()


def restore_disabled(previous: set[str]) -> None:
    """Put :data:`DISABLED` back to ``previous``: a compiler error inside :func:`run_causal` got a kernel
    switched off that was not at fault."""
    DISABLED.clear()
    DISABLED.update(previous)
    _forget_checks()


def _forget_checks() -> None:
    cudnn_attention_ok.cache_clear()
    fa4_attention_ok.cache_clear()


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


def tree_flex(end: torch.Tensor, groups: int, scale: float, *, block: int = 128) -> Attend:
    """The packed-tree mask (``k <= q < end[k]``, see :func:`tree_mask`) as FlexAttention with a block mask.

    A packed row holds several items whose ancestor masks are block-diagonal: the dense masked kernel computes
    every (query block, key block) pair of the row, FlexAttention skips the pairs no query of which sees a
    key (and takes GQA natively). On CUDA ``flex_attention`` runs compiled (its fused kernel); elsewhere
    eagerly (an unfused reference, for tests)."""
    from torch.nn.attention.flex_attention import create_block_mask

    B, L = end.shape

    def mask_mod(b, h, q, k):  # noqa: ANN001 - FlexAttention's signature
        return (k <= q) & (q < end[b, k])

    block_mask = create_block_mask(mask_mod, B, None, L, L, device=end.device, BLOCK_SIZE=block)
    flex = flex_attention_fn(end.device.type, dynamic=True)

    def attend(_: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return flex(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=groups > 1)

    return attend


# Compiled forms dynamo may keep of one function before it runs the function's plain Python for every new input
# shape (its recompile limit, 8 by default), without an error. The engine compiles FlexAttention once per static
# decode shape (a batch cache's rows x capacity) and once or twice for the scorer's dynamic rows, and every caller
# in the process counts against the same function. One process of the paper suite reaches about 8: 4 native and 2
# YaRN lengths (runs 12-13: 4 + 2 shapes, the same for the three models), the scorer's forms, and more where two
# models' free memory gives a length different row counts (the 4K batches are memory-bound at the full counts).
# Past the limit a decode step would run FlexAttention's unfused reference, its scores materialised, at a
# fraction of its speed; a scorer's packed rows, their (rows x heads x T x T) scores.
RECOMPILE_LIMIT = 64


def allow_recompiles(limit: int = RECOMPILE_LIMIT) -> int:
    """Raise dynamo's recompile limit to at least ``limit`` (never lower it); the limit now in force (-1: this
    torch names none)."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):  # the name since torch 2.6, and before
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), limit))
            return int(getattr(torch._dynamo.config, name))
    return -1


@functools.lru_cache(maxsize=None)
def flex_attention_fn(device_type: str, *, dynamic: bool) -> Callable[..., torch.Tensor]:
    """FlexAttention as it runs here: compiled on CUDA (its fused kernels; ``dynamic``: shapes left symbolic, for
    the scorer's packed rows; static for a decode step, which picks the decoding kernel), with room for every
    shape a process compiles (:func:`allow_recompiles`); the unfused reference elsewhere, for tests."""
    import warnings

    from torch.nn.attention.flex_attention import flex_attention

    if device_type == "cuda":
        allow_recompiles()
        return torch.compile(flex_attention, dynamic=dynamic)

    def eager(*args, **kwargs):  # the unfused reference; its "use torch.compile" warning is expected here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return flex_attention(*args, **kwargs)

    return eager


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


def _random_qkv(device: torch.device, kv_heads: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(0)
    q = torch.randn(1, 16, 3000, 128, device=device, dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, kv_heads, 3000, 128, device=device, dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, kv_heads, 3000, 128, device=device, dtype=torch.bfloat16, generator=g)
    return q, k, v


def _rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x.float() - ref).norm() / ref.norm())


@functools.lru_cache(maxsize=None)
@_timed_check
def fa4_attention_ok(device_index: int) -> bool:
    """FlashAttention-4 is installed, runs on this GPU (Hopper or newer), and agrees with FlashAttention-2 on
    random causal GQA inputs (bf16, 16/8 heads, D=128): its error against an fp32 reference is at most twice
    FlashAttention-2's, for a square prompt and for a suffix of it over all its keys (the mask bottom-right
    aligned, as a prompt prefilled after its shared prefix needs). Compiles the kernel once (seconds, on first
    use)."""
    if "fa4" in DISABLED:
        return False
    dev = torch.device("cuda", device_index)
    if torch.cuda.get_device_capability(dev)[0] < 9:
        return False
    try:
        from flash_attn.cute import flash_attn_func  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or its runtime does not load here
        return False
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = _random_qkv(dev, kv_heads=8)
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True, enable_gqa=True)
    tail = 1000  # the suffix: the last positions' queries over every key
    try:
        fa4 = _fa4_causal(q.shape[-1] ** -0.5)
        got, got_tail = fa4(0, q, k, v), fa4(0, q[:, :, -tail:].contiguous(), k, v)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            fa2 = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    except Exception:  # noqa: BLE001 - a kernel that cannot run here is simply not used
        return False
    return (bool(torch.isfinite(got).all() and torch.isfinite(got_tail).all())
            and _rel_err(got, ref) <= 2 * _rel_err(fa2, ref) + 1e-3
            and _rel_err(got_tail, ref[:, :, -tail:]) <= 2 * _rel_err(fa2[:, :, -tail:], ref[:, :, -tail:]) + 1e-3)


@functools.lru_cache(maxsize=None)
@_timed_check
def cudnn_attention_ok(device_index: int) -> bool:
    """cuDNN attention agrees with FlashAttention-2 on random causal inputs (bf16, 16 heads, D=128)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if "cudnn" in DISABLED or not hasattr(SDPBackend, "CUDNN_ATTENTION"):
        return False
    q, k, v = _random_qkv(torch.device("cuda", device_index))
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    try:
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            got = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            fa2 = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    except RuntimeError:
        return False
    return bool(torch.isfinite(got).all()) and _rel_err(got, ref) <= 2 * _rel_err(fa2, ref) + 1e-3
