"""Greedy decoding on a static KV cache: eager ("exact") or replayed as one CUDA graph per step ("fast").

The prompt is prefilled in one pass that writes K/V straight into a
preallocated cache (a row per sequence, ``capacity`` positions per layer; no copies as the
sequence grows) and computes logits only at the last position. Then:

* ``exact``: each step runs the lean forward pass eagerly with SDPA on the
  cache prefix, the same kernels and arguments transformers' ``generate`` uses
  (fused attention for the prefill, SDPA with native GQA for a one-token
  query), so greedy tokens equal ``model.generate``'s bit for bit;
* ``fast``: the prefill may use cuDNN attention (see
  :mod:`evalsuite.engine.kernels`) and a decode step is one CUDA graph replay:
  static shapes (attention over the whole cache with a "position <= p" mask),
  RoPE from a precomputed table, the new K/V scattered to each row's
  device-side position, the argmax fed back on the device. Attention for the
  single query is split over the cache (flash-decoding style: fp32 scores for
  all keys, one softmax, then per-chunk P·V products summed in fp32), which
  reads the cache once at full bandwidth. Launch overhead (about 28 x 15
  kernels per step) disappears; what is left is reading the KV cache and the
  weights once per token. RMSNorms run fused (``LeanDecoder.fused_norm``). ``decode_attention="flex"`` attends
  with FlexAttention's decoding kernel instead, each row reading only the blocks it has filled
  (:mod:`evalsuite.engine.static_cache`);
* ``compiled``: the ``fast`` prefill with its layers' pure halves compiled
  (dynamic shapes, shared with compiled scoring), and the ``fast`` step with its decoder layer compiled by
  ``torch.compile`` (inductor fuses the ~1,500 small elementwise kernels of a
  28-layer step: norms, RoPE, gate, residuals) before it is captured as a CUDA
  graph. One layer graph serves every layer; compiling costs seconds to tens of
  seconds once per cache size and process, so it pays on a RULER run (hundreds
  of samples per length), not on one prompt. A compile failure falls back to
  the ``fast`` step and says so in :attr:`GraphDecoder.engine`.

Shapes: KV key/value heads, G query heads per KV head, D head dim, T cache positions.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from evalsuite.errors import NonFiniteError
from evalsuite.engine import finite, kernels
from evalsuite.engine.forward import LeanDecoder
from evalsuite.engine.static_cache import (DECODE_ATTENTION_CHOICES, DecodeAttention, DecodeSplit, FlexDecodeMask,
                                          StaticKV, attend_cache, bmm_out_dtype_ok, capacity_for, write_step_kv)

def prefill(lean: LeanDecoder, kv: StaticKV, prompt: torch.Tensor, *, fast: bool,
            attention: kernels.AttentionChoice = "auto", compiled: bool = False,
            notes: list[str] | None = None, row: int = 0, start: int = 0) -> torch.Tensor:
    """Run the prompt (1, n), writing K/V to ``kv[row, :, :n]``; return the last position's logits (1, V).

    ``start`` > 0: ``prompt`` is the prompt's tokens from ``start`` on, and ``kv[row, :, :start]`` already holds
    the K/V of its first ``start`` tokens (a prefix shared with another prompt, :mod:`evalsuite.engine.batch_decode`):
    the suffix runs at positions ``start..``, writes ``kv[row, :, start:start + n]`` and attends over the whole
    row, causally aligned to its end.

    ``fast`` on CUDA: the causal kernel ``attention`` names (``"auto"``: FlashAttention-4, then cuDNN, whichever
    passed its check; one that raises is switched off and the prompt run again on the next); otherwise SDPA's
    default choice with native GQA, exactly as transformers calls it. ``compiled`` (with ``fast``): each layer's
    pure halves through torch.compile (:func:`evalsuite.engine.forward.compiled_halves`, dynamic shapes, shared with
    compiled scoring), attention eager; if compilation fails, the eager layers, with a line in ``notes``.
    """
    return _maybe_compiled(lean, compiled and fast, notes, lambda lean: _prefill(
        lean, kv, prompt, fast=fast, attention=attention, row=row, start=start))


def prefill_rows(lean: LeanDecoder, kv: StaticKV, prompts: torch.Tensor, lengths: Sequence[int],
                 rows: Sequence[int], *, attention: kernels.AttentionChoice = "auto", compiled: bool = False,
                 notes: list[str] | None = None) -> torch.Tensor:
    """Several prompts in one forward (``fast``): ``prompts`` (B, n) holds prompt j's ``lengths[j]`` tokens
    right-padded to n; its K/V go to ``kv[rows[j], :, :lengths[j]]``; returns each prompt's last-position logits
    (B, V).

    Why: a short prompt's prefill is a few milliseconds of GPU work behind ~28 x 15 kernel launches and a
    Python forward; several in one forward pay those once. Right padding changes no real position: each attends
    causally to positions before it only, and the padded positions' K/V are not written. ``compiled``: as
    :func:`prefill`."""
    B, n = prompts.shape
    if len(lengths) != B or len(rows) != B or max(lengths) > n:
        raise ValueError(f"prefill_rows: {B} prompts of width {n}, lengths {list(lengths)}, rows {list(rows)}")
    groups = lean.n_heads // lean.n_kv_heads
    positions = torch.arange(n, device=prompts.device)[None]

    def run(lean: LeanDecoder) -> torch.Tensor:
        def forward(causal: kernels.Attend) -> torch.Tensor:
            def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                for j, (row, m) in enumerate(zip(rows, lengths)):
                    kv.k[i][row, :, :m].copy_(k[j, :, :m])
                    kv.v[i][row, :, :m].copy_(v[j, :, :m])
                return causal(i, q, k, v)

            hidden = lean.hidden(prompts, positions, attend)
            # Views stacked, not an index tensor: a host-to-device copy would wait for the queued work.
            return lean.head(torch.stack([hidden[j, m - 1] for j, m in enumerate(lengths)]))

        return kernels.run_causal(prompts.device, attention, groups, lean.scaling, forward)

    return _maybe_compiled(lean, compiled, notes, run)


def right_padded(prompts: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
    """1-D token tensors on one device as :func:`prefill_rows` takes them: (B, longest) right-padded with 0, and
    their lengths."""
    lengths = [int(p.shape[0]) for p in prompts]
    out = torch.zeros((len(prompts), max(lengths)), dtype=torch.long, device=prompts[0].device)
    for j, p in enumerate(prompts):
        out[j, :lengths[j]] = p
    return out, lengths


def _maybe_compiled(lean: LeanDecoder, compiled: bool, notes: list[str] | None,
                    run: Callable[[LeanDecoder], torch.Tensor]) -> torch.Tensor:
    """``run`` on ``lean`` with its layers' pure halves compiled when ``compiled``; if compilation fails, on the
    eager layers, with a line in ``notes``."""
    if compiled:
        disabled = set(kernels.DISABLED)
        try:
            return run(dataclasses.replace(lean, compiled=True))
        except Exception as exc:  # noqa: BLE001 - compilation is an optimisation; the eager layers are correct
            kernels.restore_disabled(disabled)  # run_causal may have blamed a kernel for the compiler's error
            if notes is not None:
                notes.append(f"compiled prefill failed ({type(exc).__name__}: {str(exc)[:300]}); eager layers")
    return run(lean)


def _prefill(lean: LeanDecoder, kv: StaticKV, prompt: torch.Tensor, *, fast: bool,
             attention: kernels.AttentionChoice, row: int = 0, start: int = 0) -> torch.Tensor:
    end = start + prompt.shape[1]
    groups = lean.n_heads // lean.n_kv_heads
    positions = torch.arange(start, end, device=prompt.device)[None]

    def forward(causal: kernels.Attend) -> torch.Tensor:
        def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            kv.k[i][row:row + 1, :, start:end].copy_(k)
            kv.v[i][row:row + 1, :, start:end].copy_(v)
            if start:  # the suffix's queries over the shared prefix's cached keys and its own
                return causal(i, q, kv.k[i][row:row + 1, :, :end], kv.v[i][row:row + 1, :, :end])
            return causal(i, q, k, v)  # the fresh projections: the same values as the cache prefix

        return lean.head(lean.hidden(prompt, positions, attend)[:, -1])

    if not fast:
        return forward(kernels.causal(groups, lean.scaling))
    return kernels.run_causal(prompt.device, attention, groups, lean.scaling, forward)


def exact_step(lean: LeanDecoder, kv: StaticKV, token: int, position: int) -> torch.Tensor:
    """One eager decode step at ``position``; logits (1, V). Mirrors transformers' decode call."""
    device = lean.device
    groups = lean.n_heads // lean.n_kv_heads
    gqa = {"enable_gqa": True} if groups > 1 else {}

    def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        kv.k[i][:, :, position:position + 1].copy_(k)
        kv.v[i][:, :, position:position + 1].copy_(v)
        return F.scaled_dot_product_attention(q, kv.k[i][:, :, :position + 1], kv.v[i][:, :, :position + 1],
                                              scale=lean.scaling, **gqa)

    ids = torch.tensor([[token]], device=device)
    hidden = lean.hidden(ids, torch.tensor([[position]], device=device), attend)
    return lean.head(hidden[:, -1])


def pick_next(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy choice per row of logits (B, V): (the argmax, to feed back; the argmax or -1 where the chosen logit
    is not finite (:func:`evalsuite.engine.finite.flag_nonfinite`), for the host to read). The flag rides on the
    token read the decoder syncs on anyway."""
    nxt = logits.argmax(dim=-1)
    return nxt, finite.flag_nonfinite(logits, nxt)


class NonFiniteLogitsError(NonFiniteError):
    """A batched decode step's logits held NaN or inf: the argmax would be a meaningless token."""


def decode_layer(lean: LeanDecoder, layer: torch.nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                 keys: torch.Tensor, values: torch.Tensor, valid: "torch.Tensor | FlexDecodeMask", pos: torch.Tensor,
                 f32_out: bool) -> torch.Tensor:
    """One layer of a decode step: write this token's K/V at ``pos`` into the layer's cache, attend over it
    (``valid``: the (B,T) valid keys, or the flex block mask; :func:`~evalsuite.engine.static_cache.attend_cache`).

    A module-level function of its inputs only, so that its compiled form (:func:`compiled_decode_layer`) is
    shared by every layer and every cache and refers to none of them."""
    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        write_step_kv(keys, pos, k)
        write_step_kv(values, pos, v)
        return attend_cache(q, keys, values, valid, lean.scaling, f32_out)

    return lean.block(layer, x, cos, sin, attend)


def _decode_layer_split(pre: Callable, post: Callable, lean: LeanDecoder, layer: torch.nn.Module, x: torch.Tensor,
                        cos: torch.Tensor, sin: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                        valid: "torch.Tensor | FlexDecodeMask", pos: torch.Tensor, f32_out: bool) -> torch.Tensor:
    """:func:`decode_layer` with ``pre``/``post`` (compiled halves); the cache write and attention eager."""
    q, k, v, gate = pre(lean, layer, x, cos, sin)
    write_step_kv(keys, pos, k)
    write_step_kv(values, pos, v)
    return post(lean, layer, x, attend_cache(q, keys, values, valid, lean.scaling, f32_out), gate)


@functools.lru_cache(maxsize=None)
def compiled_decode_layer(*, split: bool = False) -> Callable[..., torch.Tensor]:
    """Regional compilation: one compiled "decoder layer" per process, reused by all layers (their weights and
    caches are inputs, not constants), so compile time does not grow with depth. ``split``: only the pure
    halves around the cache write and attention are compiled. Static shapes: one compiled form per cache shape,
    room for which :func:`~evalsuite.engine.kernels.allow_recompiles` makes."""
    kernels.allow_recompiles()
    if not split:
        return torch.compile(decode_layer, dynamic=False)
    pre = torch.compile(LeanDecoder.pre_attention, dynamic=False)
    post = torch.compile(LeanDecoder.post_attention, dynamic=False)
    return functools.partial(_decode_layer_split, pre, post)


class GraphDecoder:
    """A decode step for every row of one :class:`StaticKV`, captured as a CUDA graph; ``compile``:
    torch.compile'd first. Each row has its own token and position (no padding: a row's cache holds exactly its
    own sequence, as a one-row decode's would). ``decode_attention``: ``"split"`` or ``"flex"`` (see
    :mod:`evalsuite.engine.static_cache`); ``decode_split``: the flex kernel's split of each row's keys
    (:class:`~evalsuite.engine.static_cache.FlexDecodeMask`'s ``split``)."""

    def __init__(self, lean: LeanDecoder, kv: StaticKV, *, compile: bool = False,
                 decode_attention: DecodeAttention = "split", decode_split: DecodeSplit | int = "torch") -> None:
        if decode_attention not in DECODE_ATTENTION_CHOICES:
            raise ValueError(f"decode_attention must be one of {DECODE_ATTENTION_CHOICES}, not {decode_attention!r}")
        self.lean, self.kv = dataclasses.replace(lean, fused_norm=True), kv
        dev = lean.device
        self.compile = compile
        self._f32_out = bmm_out_dtype_ok(dev.type)
        self._layer_fn: Callable[..., torch.Tensor] = decode_layer
        self.step_engine = "eager static-shape step"
        rows = kv.rows
        self.token = torch.zeros((rows, 1), dtype=torch.long, device=dev)
        self.position = torch.zeros((rows,), dtype=torch.long, device=dev)
        self.next_token = torch.zeros((rows,), dtype=torch.long, device=dev)  # -1: non-finite logits
        # Each row's first position whose step is not wanted (flex attention then reads one block of the row; see
        # FlexDecodeMask): the capacity, never reached, unless :meth:`start` or :meth:`retire` says otherwise.
        self.end = torch.full((rows,), kv.capacity, dtype=torch.long, device=dev)
        self.logits = torch.zeros((rows, lean.head.out_features), dtype=lean.dtype, device=dev)  # last step's
        self.key_positions = torch.arange(kv.capacity, device=dev)
        probe = torch.zeros((1, 1), dtype=lean.dtype, device=dev)
        self.cos, self.sin = lean.rope(probe, self.key_positions[None])  # (1, T, D) each, model dtype
        self.graph: torch.cuda.CUDAGraph | None = None
        self.flex = (FlexDecodeMask(self.position, kv.capacity, self.end, kv_heads=lean.n_kv_heads, split=decode_split)
                     if decode_attention == "flex" else None)

    @property
    def engine(self) -> str:
        """What runs a step, for the records: the step (eager, compiled, captured) and, for flex, its attention."""
        return self.step_engine + (", flex attention" if self.flex is not None else "")

    def _step(self) -> None:
        lean, kv, pos = self.lean, self.kv, self.position
        x = lean.decoder.embed_tokens(self.token)  # (B, 1, hidden)
        cos, sin = self.cos[0].index_select(0, pos)[:, None], self.sin[0].index_select(0, pos)[:, None]  # (B,1,D)
        if self.flex is not None:
            self.flex.update()
            valid: torch.Tensor | FlexDecodeMask = self.flex
        else:
            valid = self.key_positions[None, :] <= pos[:, None]  # (B, T)
        for i, layer in enumerate(lean.decoder.layers):
            x = self._layer_fn(lean, layer, x, cos, sin, kv.k[i], kv.v[i], valid, pos, self._f32_out)
        logits = lean.head(lean.norm(lean.decoder.norm, x)[:, -1])  # (B, V)
        nxt, flagged = pick_next(logits)
        self.logits.copy_(logits)
        self.next_token.copy_(flagged)
        self.token.copy_(nxt.view(-1, 1))
        pos.add_(1)

    def compile_step(self, notes: list[str]) -> None:
        """Compile the step (and run it twice: compilation, then a compiled run); on failure keep the eager one.

        The warm-up runs write cache slots at positions 0 and 1, which the prefill overwrites."""
        if not self.compile:
            return
        # Regional compilation: one graph for "a decoder layer", reused by all of them (their weights and caches
        # are inputs, not constants), so compile time does not grow with depth. Two forms, the other one if
        # inductor cannot take the first: the whole layer (cache write and attention included), or its pure
        # halves around an eager cache write and attention. One row (the one-at-a-time decoder) takes the whole
        # layer first (run 3: a 32K sample 0.86 s against 1.20 s uncompiled); several rows (the batched decoder)
        # the halves: run 8's sweep timed the whole compiled layer at 2.3-3.8x the uncompiled step for 3-22 rows
        # (its attention's reduction split by inductor), the halves 8-20 % under it.
        self.step_engine = "eager static-shape step (compile failed)"
        whole, halves = "torch.compile'd step", "torch.compile'd step (attention eager)"
        for engine in ((whole, halves) if self.kv.rows == 1 else (halves, whole)):
            try:
                self._layer_fn = compiled_decode_layer(split=engine == halves)
                for _ in range(2):
                    self._step()
                if self.lean.device.type == "cuda":
                    torch.cuda.synchronize(self.lean.device)
                self.step_engine = engine
                break
            except Exception as exc:  # noqa: BLE001 - compilation is an optimisation; the eager step is correct
                notes.append(f"{engine}: compilation failed ({type(exc).__name__}: {str(exc)[:300]})")
                self._layer_fn = decode_layer
        self.position.zero_()

    def capture(self) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self._step()  # warm-up: cuBLAS handles, allocator; writes a slot the first real step overwrites
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step()
        self.step_engine = f"CUDA graph of the {self.step_engine}"

    def start(self, token: int | torch.Tensor, position: int | torch.Tensor,
              end: int | torch.Tensor | None = None) -> None:
        """Set every row's current token and position (scalars, or (B,) tensors), and the position from which its
        steps are no longer wanted (``end``; None: none is, every step reads the row's whole prefix)."""
        self.token.copy_(torch.as_tensor(token, device=self.token.device).view(-1, 1).expand_as(self.token))
        self.position.copy_(torch.as_tensor(position, device=self.position.device).expand_as(self.position))
        self.end.copy_(torch.as_tensor(self.kv.capacity if end is None else end, device=self.end.device)
                       .expand_as(self.end))

    def retire(self, row: int) -> None:
        """Row ``row``'s later steps are not wanted (the host saw it end: EOS, a stop string): from the next step
        queued, flex attention reads one block of it. A device write queued behind the steps already launched, so
        the host does not wait for them."""
        self.end[row].fill_(0)

    def advance(self) -> None:
        """Feed each row's current token at its position; :attr:`next_token` gets the argmax (-1: not finite)."""
        if self.graph is None:
            self._step()
        else:
            self.graph.replay()

    def step(self) -> int:
        """:meth:`advance` a one-row decoder and return the next token (the sync)."""
        self.advance()
        return int(self.next_token[0].item())  # -1: not finite (the caller raises, naming the layer)


def build_step(lean: LeanDecoder, kv: StaticKV, *, compile: bool, decode_attention: DecodeAttention, notes: list[str],
               capture_oom_raises: bool = True, decode_split: DecodeSplit | int = "torch") -> GraphDecoder:
    """The decode step over ``kv``, compiled if asked and captured on CUDA; its failures noted in ``notes``.

    ``flex`` attention whose kernel does not build or run here falls back to ``split`` (a line in ``notes``);
    a capture that fails leaves the same step eager. Out of memory is the caller's (the batched decoder sizes
    its rows by it); ``capture_oom_raises=False``: a capture out of memory leaves the step eager too (one row)."""
    for attention in dict.fromkeys((decode_attention, "split")):
        graph = GraphDecoder(lean, kv, compile=compile, decode_attention=attention, decode_split=decode_split)
        try:
            if graph.flex is not None:  # compile FlexAttention's kernel now, where a failure can fall back
                graph.advance()
                graph.position.zero_()
            graph.compile_step(notes)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the flex kernel is an optimisation; the split one is correct
            if attention == "split":
                raise
            notes.append(f"flex decode attention failed ({type(exc).__name__}: {str(exc)[:300]}); split attention")
            continue
        if lean.device.type == "cuda":
            try:
                graph.capture()
            except torch.cuda.OutOfMemoryError:
                if capture_oom_raises:
                    raise
                graph.graph = None
                notes.append("CUDA graph capture failed (out of memory); eager static-shape steps")
            except RuntimeError as exc:  # replay is an optimisation: run the same step eagerly
                graph.graph = None
                notes.append(f"CUDA graph capture failed ({exc}); eager static-shape steps")
        return graph
    raise AssertionError("unreachable: the split step either builds or raises")


StopCheck = Callable[[list[int]], bool]


def greedy(lean: LeanDecoder, prompt: list[int], *, max_new_tokens: int, eos_token_id: int | None,
           stop: StopCheck, fast: bool, cache: "DecodeCache | None" = None,
           timings: dict[str, Any] | None = None, compile: bool = False, compile_prefill: bool | None = None,
           attention: kernels.AttentionChoice = "auto", decode_attention: DecodeAttention = "split") -> list[int]:
    """Greedy continuation tokens (EOS excluded), ended by EOS, ``stop(tokens)`` or ``max_new_tokens``.

    ``fast`` uses the static-shape step of :class:`GraphDecoder` (captured as a CUDA graph on CUDA,
    run eagerly elsewhere; ``compile``: torch.compile'd first; ``decode_attention``: its attention, see
    :mod:`evalsuite.engine.static_cache`); otherwise :func:`exact_step`. ``compile_prefill``
    (None: as ``compile``) runs a ``fast`` prefill through the compiled layer halves.
    ``timings`` (if given) receives ``setup_s`` (cache allocation, compilation, graph capture),
    ``prefill_s`` (until the first token is known), ``decode_s``, ``decode_steps``, ``decode_engine`` and
    ``prefill_attention`` (the causal kernel of a ``fast`` prefill, ``attention`` choosing; see :func:`prefill`).
    """
    t0 = time.perf_counter()
    n = len(prompt)
    if cache is None or (cache.compile, cache.decode_attention) != (compile, decode_attention):
        cache = DecodeCache(lean, compile=compile, decode_attention=decode_attention)
    kv, graph = cache.get(capacity_for(n + max_new_tokens) if fast else n + max_new_tokens, graph=fast)
    t1 = time.perf_counter()
    failed = "compiled prefill failed"  # once per cache: later requests go straight to the eager layers
    wanted = compile if compile_prefill is None else compile_prefill  # None: as the step
    compiled_prefill = fast and wanted and not any(n.startswith(failed) for n in cache.notes)
    logits = prefill(lean, kv, torch.tensor([prompt], device=lean.device), fast=fast, attention=attention,
                     compiled=compiled_prefill, notes=cache.notes)
    out: list[int] = []
    token = finite.chosen(int(pick_next(logits)[1]), step=0, model=lean.model, prompt=prompt)  # the first sync
    t2 = time.perf_counter()
    steps = 0
    if graph is not None:
        graph.start(token, n)
    for step in range(max_new_tokens):
        if eos_token_id is not None and token == eos_token_id:
            break
        out.append(token)
        if stop(out) or step + 1 == max_new_tokens:
            break
        steps += 1
        if graph is not None:
            token = graph.step()
        else:
            token = int(pick_next(exact_step(lean, kv, token, n + step))[1])
        token = finite.chosen(token, step=step + 1, model=lean.model, prompt=prompt, generated=out)
    if timings is not None:
        timings.update(setup_s=t1 - t0, prefill_s=t2 - t1, decode_s=time.perf_counter() - t2, decode_steps=steps,
                       decode_engine=graph.engine if graph is not None else "eager (exact)",
                       prefill_attention=kernels.causal_backend(lean.device, attention) if fast else "sdpa",
                       prefill_compiled=compiled_prefill and not any(n.startswith(failed) for n in cache.notes))
    return out


class DecodeCache:
    """Keeps one :class:`StaticKV` (and its captured graph) for reuse by the next request of similar length."""

    def __init__(self, lean: LeanDecoder, *, compile: bool = False,
                 decode_attention: DecodeAttention = "split") -> None:
        self.lean = lean
        self.compile, self.decode_attention = compile, decode_attention
        self.kv: StaticKV | None = None
        self.graph: GraphDecoder | None = None
        self.notes: list[str] = []

    def get(self, capacity: int, *, graph: bool) -> tuple[StaticKV, GraphDecoder | None]:
        if self.kv is None or self.kv.capacity != capacity or (graph and self.graph is None):
            self.release()
            self.kv = StaticKV(self.lean, capacity)
            if graph:
                self.graph = build_step(self.lean, self.kv, compile=self.compile,
                                        decode_attention=self.decode_attention, notes=self.notes,
                                        capture_oom_raises=False)
        return self.kv, (self.graph if graph else None)

    def release(self) -> None:
        self.kv = self.graph = None
