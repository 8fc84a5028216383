"""Greedy generation for ``generate_until``: prefill once, last-position logits only, stop early.

HF ``generate`` pays per-step overhead and, through lm-eval, left-truncates
prompts silently. Here a prompt that does not fit ``max_length - max_gen_toks``
is an error, the prefill never materialises logits for more than the last
position (a 128K x 152K fp32 logits tensor would be ~80 GB), and decoding stops
at the first stop string or EOS.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import DynamicCache

from evalsuite.errors import ContextLengthError


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


@torch.inference_mode()
def greedy_generate(model: torch.nn.Module, tokenizer, request: GenerationRequest, *, max_length: int,
                    eos_token_id: int | None, prefill_chunk: int = 32768) -> str:
    """Generated text, cut before the first stop string (lm-eval's convention)."""
    n_prompt = len(request.prompt_tokens)
    if n_prompt + request.max_gen_toks > max_length:
        raise ContextLengthError(
            f"prompt of {n_prompt} tokens + {request.max_gen_toks} generated tokens exceeds max_length {max_length}")
    device = next(model.parameters()).device
    cache = DynamicCache(config=model.config)
    kw = {_cache_kwarg(model): cache, "use_cache": True, "logits_to_keep": 1}
    ids = torch.tensor([list(request.prompt_tokens)], device=device)
    # Chunked prefill bounds activation memory at 128K; the KV cache grows chunk by chunk.
    for start in range(0, n_prompt, prefill_chunk):
        chunk = ids[:, start:start + prefill_chunk]
        pos = torch.arange(start, start + chunk.shape[1], device=device)[None]
        logits = model(input_ids=chunk, position_ids=pos, **kw).logits[:, -1]
    out: list[int] = []
    text = ""
    for step in range(request.max_gen_toks):
        nxt = int(logits.argmax(dim=-1))
        if eos_token_id is not None and nxt == eos_token_id:
            break
        out.append(nxt)
        text = tokenizer.decode(out, skip_special_tokens=True)
        if request.until and _first_stop(text, request.until) is not None:
            break
        if step + 1 == request.max_gen_toks:
            break
        pos = torch.tensor([[n_prompt + step]], device=device)
        logits = model(input_ids=torch.tensor([[nxt]], device=device), position_ids=pos, **kw).logits[:, -1]
    cut = _first_stop(text, request.until) if request.until else None
    return text if cut is None else text[:cut]
