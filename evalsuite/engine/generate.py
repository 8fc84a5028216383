"""Greedy generation for ``generate_until``: one prefill, last-position logits only, stop early.

HF ``generate`` pays per-step overhead and, through lm-eval, left-truncates
prompts silently. Here a prompt that does not fit ``max_length - max_gen_toks``
is an error, the prefill never materialises logits for more than the last
position (a 128K x 152K fp32 logits tensor would be ~80 GB), and decoding stops
at the first stop string or EOS.

Engines (``mode``), for models :class:`~evalsuite.engine.forward.LeanDecoder` supports:

* ``"fast"`` (default): static KV cache, decode steps replayed as a CUDA graph,
  the prefill on the fastest checked causal kernel (FlashAttention-4, cuDNN;
  :func:`evalsuite.engine.kernels.causal_backend`; :mod:`evalsuite.engine.decode`);
* ``"compiled"``: ``fast`` with the prefill's layers and the decode step compiled
  by ``torch.compile`` first (fewer, fused kernels; ~10 s of compilation once per
  process and cache size: for runs of many samples);
* ``"exact"``: static KV cache, eager steps with transformers' own kernels and
  arguments: greedy tokens equal ``model.generate``'s bit for bit;
* ``"hf"`` (and any unsupported model): the model's ``forward`` with a
  ``DynamicCache``, chunked prefill (one chunk for hybrid models: a Gated
  DeltaNet layer's recurrent state is only carried across a multi-token call
  by recent transformers, so the whole prompt goes in one call).

:func:`greedy_generate_batch` decodes many requests at once in the ``fast`` and
``compiled`` engines (:mod:`evalsuite.engine.batch_decode`: one KV cache of B rows, one
captured step for all of them; the same tokens as one at a time).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import DynamicCache

from evalsuite.errors import ContextLengthError
from evalsuite.engine import finite
from evalsuite.engine.batch_decode import BatchDecodeCache, BatchItem, greedy_batched
from evalsuite.engine.decode import DecodeCache, greedy
from evalsuite.engine.kernels import AttentionChoice
from evalsuite.engine.forward import LeanDecoder
from evalsuite.models.layers import has_recurrent_layers
from evalsuite.spec.engine import GENERATION_MODES, DecodeAttention, DecodeSplit, GenerationMode  # noqa: F401



@dataclass(frozen=True)
class GenerationRequest:
    prompt_tokens: Sequence[int]
    max_gen_toks: int
    until: tuple[str, ...]


def _cache_kwarg(model: torch.nn.Module) -> str:
    # transformers renamed `past_key_values` to `cache` in 5.2x; the GPU image runs 5.17.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _first_stop(text: str, until: Sequence[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in until if s) if i >= 0]
    return min(hits) if hits else None


class _StopStrings:
    """``stop(tokens)``: True once the decoded text contains a stop string (decodes only when there are any)."""

    def __init__(self, tokenizer, until: Sequence[str]) -> None:
        self.tokenizer, self.until = tokenizer, tuple(s for s in until if s)

    def __call__(self, tokens: list[int]) -> bool:
        if not self.until:
            return False
        return _first_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), self.until) is not None


@torch.inference_mode()
def greedy_generate_tokens(model: torch.nn.Module, tokenizer, request: GenerationRequest, *, max_length: int,
                           eos_token_id: int | None, mode: GenerationMode = "fast",
                           cache: DecodeCache | None = None, prefill_chunk: int = 32768,
                           attention: AttentionChoice = "auto", compile_prefill: bool | None = None,
                           decode_attention: DecodeAttention = "split",
                           timings: dict[str, float] | None = None) -> list[int]:
    """The greedy continuation's token ids (EOS excluded; tokens after a stop string may follow).

    ``timings`` receives the phases of the static-cache engines (see :func:`evalsuite.engine.decode.greedy`);
    ``attention`` picks the fast prefill's causal kernel (:func:`evalsuite.engine.kernels.causal_backend`).
    """
    _check_fits(request, max_length)
    stop = _StopStrings(tokenizer, request.until)
    lean = LeanDecoder.wrap(model) if mode != "hf" else None
    if lean is not None:
        if cache is not None and cache.lean.model is not model:
            cache = None
        return greedy(lean, list(request.prompt_tokens), max_new_tokens=request.max_gen_toks,
                      eos_token_id=eos_token_id, stop=stop, fast=mode in ("fast", "compiled"), cache=cache,
                      timings=timings, compile=mode == "compiled", compile_prefill=compile_prefill,
                      attention=attention, decode_attention=decode_attention)
    if has_recurrent_layers(model):
        prefill_chunk = max(prefill_chunk, len(request.prompt_tokens))  # one call: see the module docstring
    return _hf_greedy(model, request, eos_token_id, stop, prefill_chunk)


def generation_path(model: torch.nn.Module, mode: GenerationMode) -> str:
    """Which decoder :func:`greedy_generate_tokens` runs for ``model`` in ``mode``, for the unit record."""
    if mode != "hf" and LeanDecoder.wrap(model) is not None:
        return f"lean, {mode}"
    if has_recurrent_layers(model):
        return "hf (model forward with its own cache; linear-attention layers)"
    return f"hf (model forward, DynamicCache; {'asked' if mode == 'hf' else 'unsupported'})"


def _check_fits(request: GenerationRequest, max_length: int) -> None:
    n_prompt = len(request.prompt_tokens)
    if n_prompt + request.max_gen_toks > max_length:
        raise ContextLengthError(
            f"prompt of {n_prompt} tokens + {request.max_gen_toks} generated tokens exceeds max_length {max_length}")


def batchable(model: torch.nn.Module, mode: GenerationMode) -> bool:
    """Whether :func:`greedy_generate_batch` serves ``mode`` on ``model`` (the static-cache graph engines)."""
    return mode in ("fast", "compiled") and LeanDecoder.wrap(model) is not None


@torch.inference_mode()
def greedy_generate_batch(model: torch.nn.Module, tokenizer, requests: Sequence[GenerationRequest], *,
                          max_length: int, eos_token_id: int | None, mode: GenerationMode = "fast",
                          cache: BatchDecodeCache | None = None, attention: AttentionChoice = "auto",
                          compile_prefill: bool | None = None, max_rows: int | None = None,
                          decode_attention: DecodeAttention = "split", share_prefix: bool = False,
                          pack_tokens: int | None = None, retire_rows: bool = True,
                          decode_split: DecodeSplit = "torch",
                          timings: list[dict] | None = None) -> list[list[int]]:
    """:func:`greedy_generate_tokens` for every request, decoded together in batches of rows (see
    :mod:`evalsuite.engine.batch_decode`; ``share_prefix``: a prefix held in the cache is copied, not prefilled
    again; ``pack_tokens``, ``retire_rows``, ``decode_split``: :func:`~evalsuite.engine.batch_decode.greedy_batched`'s);
    only for :func:`batchable` engines. Every prompt is checked first: one that does not fit is a
    :class:`ContextLengthError` before any work."""
    lean = LeanDecoder.wrap(model)
    if lean is None or mode not in ("fast", "compiled"):
        raise ValueError(f"batched generation needs the fast or compiled engine on a supported model, not {mode!r}")
    for request in requests:
        _check_fits(request, max_length)
    items = [BatchItem(prompt=r.prompt_tokens, max_new_tokens=r.max_gen_toks, stop=_StopStrings(tokenizer, r.until))
             for r in requests]
    if cache is not None and cache.lean.model is not model:
        cache = None
    kwargs = {"max_rows": max_rows} if max_rows is not None else {}
    return greedy_batched(lean, items, eos_token_id=eos_token_id, compile=mode == "compiled",
                          compile_prefill=compile_prefill, attention=attention, decode_attention=decode_attention,
                          cache=cache, share_prefix=share_prefix, pack_tokens=pack_tokens,
                          retire_rows=retire_rows, decode_split=decode_split, timings=timings, **kwargs)


def _hf_greedy(model, request: GenerationRequest, eos_token_id: int | None, stop: _StopStrings,
               prefill_chunk: int) -> list[int]:
    n_prompt = len(request.prompt_tokens)
    device = next(model.parameters()).device
    # A hybrid model builds its own cache (recurrent and convolution states beside the KV cache; transformers
    # 5.17 has a model-specific class for it): pass none and carry the one each call returns.
    cache = None if has_recurrent_layers(model) else DynamicCache(config=model.config)
    name = _cache_kwarg(model)
    ids = torch.tensor([list(request.prompt_tokens)], device=device)

    def step(tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        nonlocal cache
        output = model(input_ids=tokens, position_ids=pos, use_cache=True, logits_to_keep=1, **{name: cache})
        returned = getattr(output, "past_key_values", None)  # 5.17's name; later versions call it `cache`
        returned = returned if returned is not None else getattr(output, "cache", None)
        cache = returned if returned is not None else cache
        return output.logits[:, -1]

    # Chunked prefill bounds activation memory at 128K; the KV cache grows chunk by chunk.
    for start in range(0, n_prompt, prefill_chunk):
        chunk = ids[:, start:start + prefill_chunk]
        logits = step(chunk, torch.arange(start, start + chunk.shape[1], device=device)[None])
    out: list[int] = []
    for i in range(request.max_gen_toks):
        nxt = finite.chosen(int(finite.next_token(logits)), step=i, model=model, prompt=request.prompt_tokens,
                            generated=out)
        if eos_token_id is not None and nxt == eos_token_id:
            break
        out.append(nxt)
        if stop(out) or i + 1 == request.max_gen_toks:
            break
        logits = step(torch.tensor([[nxt]], device=device), torch.tensor([[n_prompt + i]], device=device))
    return out


def greedy_generate(model: torch.nn.Module, tokenizer, request: GenerationRequest, *, max_length: int,
                    eos_token_id: int | None, mode: GenerationMode = "fast", cache: DecodeCache | None = None,
                    prefill_chunk: int = 32768) -> str:
    """Generated text, cut before the first stop string (lm-eval's convention)."""
    tokens = greedy_generate_tokens(model, tokenizer, request, max_length=max_length, eos_token_id=eos_token_id,
                                    mode=mode, cache=cache, prefill_chunk=prefill_chunk)
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    cut = _first_stop(text, request.until) if request.until else None
    return text if cut is None else text[:cut]
