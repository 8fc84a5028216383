"""Greedy decoding of many prompts at once: one static KV cache of B rows, one decode step for all rows.

A RULER run sends hundreds of prompts of one length. Decoded one at a time, a
short sample is ~90 % per-step overhead (a step reads every weight and launches
hundreds of kernels for one token); decoded together, one step serves B rows:
the weights are read once per step for all of them and the step's fixed cost is
paid once. What is left is each row's KV-cache read, the hardware limit.

How (shapes: B rows, T cache positions):

* requests are grouped by the cache size they need (:func:`capacity_for` of
  prompt + new tokens, a power of two), and a group's cache is sized to its
  longest prompt + largest ``max_new_tokens``, rounded up to :data:`CAPACITY_ALIGN`;
* B (:func:`rows_for`) is what the free GPU memory (the previous group's cache
  counted as free: it goes before the next is allocated) holds after the prefill's
  working memory, at most :data:`MAX_ROWS`, then evened out over the batches that
  takes (:func:`balanced_rows`); an out-of-memory error halves B and runs the
  batch again (rows are independent: same tokens);
* each prompt is prefilled into its row (never truncated: a prompt that
  does not fit is the caller's :class:`~evalsuite.errors.ContextLengthError`); with ``pack_tokens`` short
  prompts are prefilled several to a forward, right-padded to the longest (:data:`PACK_TOKENS`, on CUDA,
  :func:`~evalsuite.engine.decode.prefill_rows`): a 4K prompt's forward is ~18 ms of arithmetic on an H100
  behind a Python forward and ~400 kernel launches, which a pack pays once;
* ``share_prefix`` (for prompts too long to pack, where the prefill's kernel is one of :data:`SHARE_KERNELS`):
  a group's prompts go in token order, so that prompts sharing
  an opening (RULER's haystacks read from the start up to the first needle) are
  neighbours; a prompt whose first tokens (at least :data:`MIN_SHARED_PREFIX`)
  equal those of a prompt still held in some row of the cache (this batch's
  rows already prefilled, the previous batch's not yet overwritten) gets that
  prefix's K/V copied into its row and prefills only the rest, its queries over
  the whole row (:func:`~evalsuite.engine.decode.prefill` with ``start``). The
  prefix's K/V are what its own prefill would write (the same tokens at the same
  positions, computed causally); the suffix's rounding may differ in the last
  bit where a kernel's tiling depends on the length;
* the step is :class:`~evalsuite.engine.decode.GraphDecoder` over all rows (a
  CUDA graph, ``compile``: torch.compile'd first), each row at its own position
  with its own valid-key mask: no padding, so a row computes what a one-row
  decode of the same prompt computes;
* the host reads the new tokens of all rows once per :data:`SYNC_EVERY` steps
  (the next steps are already queued, so the GPU does not wait for the stop
  checks), applies each row's EOS / stop string / ``max_new_tokens`` in order,
  and the batch ends when every row has; a row that is done keeps decoding
  harmlessly until then (its tokens are ignored). A row whose logits are not
  finite where its token is chosen raises :class:`NonFiniteLogitsError`;
* a row that is done is retired (``retire_rows``): with flex attention it
  reads one block of its cache a step rather than its whole prefix. The device
  retires a row at its ``max_new_tokens`` by itself (each row's end position is
  set before the first step); a row ended by EOS or a stop string, by the host
  when it reads that token, from the next step it queues on. With
  ``decode_split="wide"`` the flex kernel splits each row's keys as a one-row
  cache's kernel would (:func:`~evalsuite.engine.static_cache.decode_split`),
  not fewer ways the more rows the cache has, so that the rows still live use
  the whole GPU.

Tokens equal :func:`evalsuite.engine.decode.greedy`'s for the same prompt (fp32 on CPU:
exactly, tested; bf16 on a GPU: up to the rounding of ties, measured in the benchmark).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from evalsuite.engine import finite, kernels
from evalsuite.engine.decode import (GraphDecoder, NonFiniteLogitsError, StopCheck, build_step, pick_next, prefill,
                                     prefill_rows, right_padded)
from evalsuite.engine.static_cache import DecodeAttention, DecodeSplit, StaticKV, capacity_for
from evalsuite.engine.forward import LeanDecoder

CAPACITY_ALIGN = 128  # cache positions: a batch's cache is its longest request rounded up to this
MAX_ROWS = 256  # beyond this a step is long enough that more rows buy nothing
SYNC_EVERY = 4  # decode steps queued between reads of the new tokens
MEMORY_FRACTION = 0.85  # of the free GPU memory the cache may take (fragmentation, cuBLAS / graph workspaces)
# Tokens: a shorter common prefix is prefilled again rather than copied (its saving is below a kernel launch's).
MIN_SHARED_PREFIX = 256
# Tokens of one prefill forward (padded rows x width), by device type (absent: 0, one prompt a forward). On CUDA
# prompts that fit together (4 rows at 4K, 2 at 8K) share a forward and its launches: run 10's 4K batch of 100
# (an H100, cuDNN prefills) prefilled in 2.64 s against 2.80 s one a forward, tokens identical on 100 of 100.
# On CPU the arithmetic is the time.
PACK_TOKENS: dict[str, int] = {"cuda": 16384}
# Prefill kernels whose suffix-over-cached-prefix attention is as fast as their whole-prompt attention: where the
# prefill runs on another (cuDNN: its suffix goes to SDPA's FlashAttention-2 with the lower-right bias), a shared
# prefix is not copied. Run 10 (an H100 without FlashAttention-4): a 128K row whose first 4-12K tokens were copied
# prefilled in ~6.7 s against ~4.3 s unshared, and 32 of 100 4K samples flipped bf16 near-ties.
SHARE_KERNELS = ("fa4", "sdpa")


def fits_pack(prompt_tokens: int, pack_tokens: int) -> bool:
    """A prompt of this length is prefilled in a pack of ``pack_tokens`` padded tokens (two such prompts fit in
    one), not alone and not from a shared prefix."""
    return 2 * prompt_tokens <= pack_tokens


@dataclass(frozen=True)
class BatchItem:
    """One request: prompt token ids, at most ``max_new_tokens`` generated, ``stop(tokens)`` ends it early."""

    prompt: Sequence[int]
    max_new_tokens: int
    stop: StopCheck


def prefill_workspace_bytes(lean: LeanDecoder, tokens: int) -> int:
    """Working memory of a lean prefill of ``tokens`` (an over-estimate: every activation of one layer alive at
    once, fp32 norm temporaries, the causal kernel's output), so that the rows chosen never starve it."""
    cfg = lean.model.config
    hidden = int(cfg.hidden_size)
    inter = int(getattr(cfg, "intermediate_size", 4 * hidden))
    elem = torch.empty((), dtype=lean.dtype).element_size()
    per_token = elem * (6 * hidden + 4 * lean.n_heads * lean.head_dim + 4 * inter) + 4 * 3 * hidden
    return per_token * tokens


def row_bytes(lean: LeanDecoder, capacity: int) -> int:
    """GPU memory one row costs: its K/V cache and its share of a decode step (logits, fp32 scores)."""
    elem = torch.empty((), dtype=lean.dtype).element_size()
    kv = lean.n_layers * 2 * lean.n_kv_heads * lean.head_dim * capacity * elem
    step = lean.head.out_features * (4 + 2 * elem) + 3 * 4 * lean.n_heads * capacity
    return kv + step


def rows_for(lean: LeanDecoder, capacity: int, *, longest_prompt: int, wanted: int, max_rows: int = MAX_ROWS,
             free_bytes: int | None = None, held_bytes: int = 0) -> int:
    """Rows of one batch: ``wanted`` (the group's requests), at most ``max_rows``, and on CUDA at most what
    :data:`MEMORY_FRACTION` of the free memory (``free_bytes``: measured when None) holds after the prefill's
    working memory. ``held_bytes``: what the cache this batch replaces or reuses holds, free for it too (the
    previous group's cache is released before the next is allocated; sized without it, a 128K group after six
    64K rows got one row where the card holds three). At least 1: a single row is what the one-at-a-time decoder
    would allocate anyway."""
    rows = max(1, min(wanted, max_rows))
    if free_bytes is None:
        if lean.device.type != "cuda":
            return rows
        free, _ = torch.cuda.mem_get_info(lean.device)
        # Memory torch's allocator holds but does not use is free for our tensors too.
        free_bytes = free + torch.cuda.memory_reserved(lean.device) - torch.cuda.memory_allocated(lean.device)
    budget = MEMORY_FRACTION * (free_bytes + held_bytes) - prefill_workspace_bytes(lean, longest_prompt)
    return max(1, min(rows, int(budget // row_bytes(lean, capacity))))


def batch_capacity(items: Sequence[BatchItem]) -> int:
    """Cache positions for a group: longest prompt + largest generation, rounded up to :data:`CAPACITY_ALIGN`."""
    need = max(len(it.prompt) for it in items) + max(it.max_new_tokens for it in items)
    return -(-need // CAPACITY_ALIGN) * CAPACITY_ALIGN


def balanced_rows(requests: int, rows_memory: int) -> int:
    """Rows per batch: as few batches as memory allows, then as few rows as fill them.

    With split attention every row of the static cache is read at every step, a finished or empty one too, so 11
    requests where memory holds 8 rows decode as 6 + 5 in a 6-row cache rather than 8 + 3 in an 8-row one: the
    same two batches, 12 row-steps of KV reads per step pair instead of 16 (run 5's 64K unit: the second batch of
    8 rows held 3 live ones and took as long as the first). With flex attention an empty or retired row reads one
    block, but the kernel splits each row's keys fewer ways the more rows the cache has, so live rows in a
    half-empty cache still read slower than in a cache of their own size (run 12: one live row of three at 128K,
    ~12 ms a step for a 5 ms read)."""
    batches = -(-requests // max(rows_memory, 1))
    return max(1, -(-requests // max(batches, 1)))


class BatchDecodeCache:
    """One batched :class:`StaticKV` and its captured step, reused by the next batch of the same shape."""

    def __init__(self, lean: LeanDecoder, *, compile: bool = False, decode_attention: DecodeAttention = "split",
                 decode_split: DecodeSplit = "torch") -> None:
        self.lean, self.compile, self.decode_attention = lean, compile, decode_attention
        self.decode_split = decode_split
        self.kv: StaticKV | None = None
        self.graph: GraphDecoder | None = None
        self.notes: list[str] = []
        # Per row, the prompt whose K/V fill the row's first len(prompt) positions (None: nothing reusable). The
        # decode step writes a live row only past its prompt, and a row holding no request from position 0.
        self.held: list[np.ndarray | None] = []

    def get(self, rows: int, capacity: int) -> tuple[StaticKV, GraphDecoder]:
        if self.kv is None or (self.kv.rows, self.kv.capacity) != (rows, capacity):
            self.release()
            self.kv = StaticKV(self.lean, capacity, rows)
            self.held = [None] * rows
            self.graph = build_step(self.lean, self.kv, compile=self.compile, decode_attention=self.decode_attention,
                                    notes=self.notes, decode_split=self.decode_split)
        assert self.graph is not None
        return self.kv, self.graph

    def release(self) -> None:
        self.kv = self.graph = None
        self.held = []
        if self.lean.device.type == "cuda":
            torch.cuda.empty_cache()

    def shared_prefix(self, prompt: np.ndarray) -> tuple[int, int]:
        """(tokens, row): the longest prefix of ``prompt`` that a held row's prompt starts with, at most all but
        its last token (whose logits the prefill must compute); (0, -1) when none reaches
        :data:`MIN_SHARED_PREFIX`."""
        best, source = 0, -1
        for row, held in enumerate(self.held):
            if held is None:
                continue
            n = min(len(held), len(prompt) - 1)
            differ = np.flatnonzero(held[:n] != prompt[:n])
            common = int(differ[0]) if len(differ) else n
            if common > best:
                best, source = common, row
        return (best, source) if best >= MIN_SHARED_PREFIX else (0, -1)

    def copy_prefix(self, source: int, row: int, tokens: int) -> None:
        """Row ``source``'s K/V of its first ``tokens`` positions into row ``row`` (every layer)."""
        assert self.kv is not None
        if source != row:
            for buf in (*self.kv.k, *self.kv.v):
                buf[row, :, :tokens].copy_(buf[source, :, :tokens])


@torch.inference_mode()
def greedy_batched(lean: LeanDecoder, items: Sequence[BatchItem], *, eos_token_id: int | None,
                   compile: bool = False, compile_prefill: bool | None = None,
                   attention: kernels.AttentionChoice = "auto", decode_attention: DecodeAttention = "split",
                   cache: BatchDecodeCache | None = None, max_rows: int = MAX_ROWS, share_prefix: bool = False,
                   pack_tokens: int | None = None, retire_rows: bool = True, decode_split: DecodeSplit = "torch",
                   timings: list[dict[str, Any]] | None = None) -> list[list[int]]:
    """Each item's greedy continuation (EOS excluded), as :func:`evalsuite.engine.decode.greedy` gives it with
    ``fast=True``; ``timings`` gets one dict per batch (rows, live rows, capacity, seconds by phase, the compile
    seconds inside the prefill, the prompt tokens and those whose K/V were copied from a shared prefix).
    ``compile``: the decode step (and, unless ``compile_prefill`` says otherwise, the prefill) compiled;
    ``decode_attention``: the step's attention (:mod:`evalsuite.engine.static_cache`); ``share_prefix``: prompts
    in token order, a prefix held in the cache copied rather than prefilled again (the module docstring);
    ``pack_tokens``: whole prompts prefilled together up to this many padded tokens a forward (None:
    :data:`PACK_TOKENS` for the device, 0 (one prompt a forward) where it names none); ``retire_rows``: a row
    that is done reads one block of its cache a step (flex attention; the split attention reads every row's whole
    cache either way). RULER's answers end at 30-128 tokens, so batches mix lengths; run 12 measured the decode
    8 % shorter at 4K, 27 % in a mixed 128K batch, the tokens identical. ``decode_split``: the flex kernel's split
    of each row's keys ("torch": torch's own; "wide": :func:`~evalsuite.engine.static_cache.decode_split`'s)."""
    pack = PACK_TOKENS.get(lean.device.type, 0) if pack_tokens is None else pack_tokens
    # The kernel is chosen (its check run, once a process) before any batch's clock starts: a priced unit takes
    # the check's seconds as paid once (kernels.check_seconds), not as a first prefill's.
    share_prefix = kernels.causal_backend(lean.device, attention) in SHARE_KERNELS and share_prefix
    owned = cache is None or ((cache.compile, cache.decode_attention, cache.decode_split)
                              != (compile, decode_attention, decode_split))
    if owned:
        cache = BatchDecodeCache(lean, compile=compile, decode_attention=decode_attention, decode_split=decode_split)
    out: list[list[int] | None] = [None] * len(items)
    groups: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(capacity_for(len(it.prompt) + it.max_new_tokens), []).append(i)
    for bucket in sorted(groups):
        if share_prefix:  # token order: prompts with a common opening are neighbours, in one batch or the next
            order = sorted(groups[bucket], key=lambda i: _as_list(items[i].prompt))
        else:  # longest first: the first batch meets the largest prefill workspace while the cache is smallest
            order = sorted(groups[bucket], key=lambda i: -len(items[i].prompt))
        group = [items[i] for i in order]
        capacity = batch_capacity(group)
        # What free memory allows at this capacity (recorded: it prices a larger run of the same prompts); this
        # group needs no more rows than it has requests (rows_for with wanted=len(group) gives the same).
        longest = max(len(it.prompt) for it in group)
        if fits_pack(longest, pack):  # a packed forward's working memory
            longest = pack
        rows_memory = rows_for(lean, capacity, longest_prompt=longest, wanted=max_rows,
                               max_rows=max_rows, held_bytes=cache.kv.nbytes if cache.kv is not None else 0)
        rows = balanced_rows(len(group), rows_memory)
        start = 0
        while start < len(group):
            chunk = group[start:start + rows]
            try:
                tokens = _run_batch(lean, cache, chunk, rows, capacity, eos_token_id, attention, timings,
                                    compile if compile_prefill is None else compile_prefill, share_prefix, pack,
                                    retire_rows)
            except NonFiniteLogitsError as exc:
                if exc.request is not None:  # the row of this chunk -> the caller's index, to name its document
                    exc.request = order[start + exc.request]
                raise
            except torch.cuda.OutOfMemoryError:
                if rows == 1:
                    raise
                cache.release()
                rows //= 2
                cache.notes.append(f"out of memory at {rows * 2} rows of {capacity} positions; {rows} rows")
                continue
            if timings:
                timings[-1]["rows_memory"] = rows_memory
            for i, toks in zip(order[start:start + rows], tokens):
                out[i] = toks
            start += len(chunk)
    if owned:  # the cache (GBs at long lengths) goes back now, not when the collector gets to it
        cache.release()
    return [toks if toks is not None else [] for toks in out]


def _run_batch(lean: LeanDecoder, cache: BatchDecodeCache, chunk: Sequence[BatchItem], rows: int, capacity: int,
               eos_token_id: int | None, attention: kernels.AttentionChoice,
               timings: list[dict[str, Any]] | None, compile_prefill: bool,
               share_prefix: bool = False, pack_tokens: int = 0, retire_rows: bool = True) -> list[list[int]]:
    """Prefill ``chunk`` into the first rows of a ``rows``-row cache, decode all rows until every live row is done.
    Rows past the chunk decode token 0 from position 0: ignored, and finite. ``share_prefix``: a prefix a held
    row shares is copied, the rest prefilled (:meth:`BatchDecodeCache.shared_prefix`)."""
    t0 = time.perf_counter()
    kv, graph = cache.get(rows, capacity)
    dev = lean.device
    t1 = time.perf_counter()
    compiling = kernels.compile_seconds()  # the prefill's compilation: once per process, not once per row
    first = torch.zeros(rows, dtype=torch.long, device=dev)  # -1 where the prompt's logits are not finite
    positions = torch.zeros(rows, dtype=torch.long, device=dev)
    failed = "compiled prefill failed"
    # Every prompt in one host-to-device copy: a copy per row would wait for the previous row's prefill.
    flat = torch.tensor([t for it in chunk for t in it.prompt], dtype=torch.long, device=dev)
    offsets = np.concatenate([[0], np.cumsum([len(it.prompt) for it in chunk])]).tolist()
    shared, forwards = 0, 0
    pack: list[int] = []  # rows whose whole prompts wait to be prefilled together

    def compiled() -> bool:
        return compile_prefill and not any(n.startswith(failed) for n in cache.notes)

    def alone(b: int, start: int = 0) -> torch.Tensor:
        """Row ``b``'s prompt from ``start`` on, in a forward of its own."""
        return prefill(lean, kv, flat[offsets[b] + start:offsets[b + 1]][None], fast=True, attention=attention,
                       compiled=compiled(), notes=cache.notes, row=b, start=start)

    def flush() -> None:
        nonlocal forwards
        if len(pack) == 1:
            logits = alone(pack[0])
        elif pack:
            prompts, lengths = right_padded([flat[offsets[b]:offsets[b + 1]] for b in pack])
            logits = prefill_rows(lean, kv, prompts, lengths, pack, attention=attention, compiled=compiled(),
                                  notes=cache.notes)
        if pack:
            flags = pick_next(logits)[1]
            for j, b in enumerate(pack):  # device copies: an index tensor's host-to-device copy would wait
                first[b] = flags[j]
            forwards += 1
            pack.clear()

    for b, it in enumerate(chunk):
        # A prompt that fits a pack is packed, not shared: a suffix is a forward of its own, whose launches cost a
        # short prompt more than the prefix's FLOPs save, and a copy from a row still waiting in the pack would
        # break the pack up.
        packable = fits_pack(len(it.prompt), pack_tokens)
        ids = np.asarray(it.prompt, dtype=np.int64) if share_prefix and not packable else None
        start, source = cache.shared_prefix(ids) if ids is not None else (0, -1)  # never a packed row: not held
        cache.held[b] = None  # overwritten from here on
        if start:
            cache.copy_prefix(source, b, start)
            first[b] = pick_next(alone(b, start))[1][0]
            forwards += 1
        else:
            if pack and (len(pack) + 1) * max(len(it.prompt), *(len(chunk[r].prompt) for r in pack)) > pack_tokens:
                flush()
            pack.append(b)
            if ids is not None:  # too long to pack, and maybe a source for the next prompt: its K/V now
                flush()
        cache.held[b] = ids
        shared += start
    flush()
    for b in range(len(chunk), rows):  # a row holding no request decodes from position 0: its prompt is gone
        cache.held[b] = None
    positions.copy_(torch.tensor([len(it.prompt) for it in chunk] + [0] * (rows - len(chunk))))
    # Step k (1, 2, ...) feeds a row's token k-1 at position len(prompt) + k - 1 and gives its token k: wanted while
    # k < max_new_tokens. A row holding no request wants none (and reads one block, from position 0, anyway).
    retire = retire_rows and graph.flex is not None
    ends = [len(it.prompt) + it.max_new_tokens - 1 for it in chunk] + [0] * (rows - len(chunk))
    graph.start(first.clamp(min=0), positions, torch.tensor(ends) if retire else None)
    steps_needed = max(it.max_new_tokens for it in chunk) - 1
    pinned = dev.type == "cuda"
    history = torch.zeros((steps_needed + 1, rows), dtype=torch.long, pin_memory=pinned)  # token j of each row
    history[0].copy_(first, non_blocking=pinned)
    t2 = time.perf_counter()
    compiling = kernels.compile_seconds() - compiling
    rows_out: list[list[int]] = [[] for _ in chunk]
    done = [False] * len(chunk)
    # Per live row, the steps that read its cache: until it is retired (its max_new_tokens, or the steps queued
    # when the host retired it), or every step the batch runs.
    read_steps = [it.max_new_tokens - 1 for it in chunk] if retire else None
    read, launched = 0, 0  # history columns read by the host; decode steps queued
    pending: list[tuple[int, Any]] = []  # (columns filled once the event completes, event)
    pending.append((1, _event(dev)))
    while True:
        if launched < steps_needed:  # queue the next steps before reading the last ones: the GPU keeps busy
            for _ in range(min(SYNC_EVERY, steps_needed - launched)):
                graph.advance()
                launched += 1
                history[launched].copy_(graph.next_token, non_blocking=pinned)
            pending.append((launched + 1, _event(dev)))
        upto, event = pending.pop(0)
        if event is not None:
            event.synchronize()
        for col, new in enumerate(history[read:upto].tolist(), start=read):
            for b, it in enumerate(chunk):
                if not done[b]:
                    if new[b] < 0:  # where it went non-finite: the model's own forward on this row's tokens so far
                        raise NonFiniteLogitsError(
                            f"non-finite logits at position {len(it.prompt) + col - 1} of a batched row; "
                            f"{finite.locate(lean.model, [*it.prompt, *rows_out[b]])}", request=b)
                    done[b] = _take(rows_out[b], new[b], col, it, eos_token_id)
                    if done[b] and read_steps is not None and col + 1 < it.max_new_tokens:  # ended early
                        graph.retire(b)
                        read_steps[b] = min(read_steps[b], launched)
        read = upto
        if all(done) or (read > steps_needed and not pending):
            break
    t3 = time.perf_counter()
    if timings is not None:
        timings.append({"rows": rows, "live_rows": len(chunk), "capacity": capacity, "setup_s": t1 - t0,
                        "prompt_tokens": sum(len(it.prompt) for it in chunk), "shared_prefix_tokens": shared,
                        "prefill_s": t2 - t1, "prefill_compile_s": compiling, "prefill_forwards": forwards,
                        "pack_tokens": pack_tokens,
                        "decode_s": t3 - t2,
                        "decode_steps": launched,
                        # the row-steps that read a row's cache (split attention: every row's, every step)
                        "decode_row_steps": (sum(min(n, launched) for n in read_steps) if read_steps is not None
                                             else launched * (len(chunk) if graph.flex is not None else rows)),
                        "retire_rows": retire,
                        # the flex kernel's options (SPLIT_KV absent: torch's own split); None for split attention
                        "decode_kernel_options": dict(graph.flex.kernel_options or {}) if graph.flex is not None
                        else None,
                        "decode_engine": graph.engine, "prefill_attention": kernels.causal_backend(dev, attention),
                        "notes": list(cache.notes)})
    return rows_out


def _as_list(prompt: Sequence[int]) -> list[int]:
    """The prompt as a list (lists compare in token order; the caller's own list, not a copy, when it is one)."""
    return prompt if isinstance(prompt, list) else list(prompt)


def _take(out: list[int], token: int, col: int, item: BatchItem, eos_token_id: int | None) -> bool:
    """Apply token ``col`` (a finite row's) of a row, as :func:`~evalsuite.engine.decode.greedy` does; True when the
    row is done."""
    if eos_token_id is not None and token == eos_token_id:
        return True
    out.append(token)
    return item.stop(out) or col + 1 == item.max_new_tokens


def _event(device: torch.device) -> Any:
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record()
    return event
