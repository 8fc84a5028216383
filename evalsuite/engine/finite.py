"""Non-finite model outputs: the checks at the source, and where the numbers went wrong.

A diverged checkpoint (a tensor of NaN or inf) or an fp16 overflow makes every log-likelihood NaN; ``argmax``
over NaNs still picks a choice, so without a check an accuracy is computed from it. The checks cost nothing
on the device:

* the scorer already copies every scored token's log-probability to the host in one sync at the end; the
  check is :func:`first_nonfinite` over the per-request sums there (NumPy, host side);
* a decoder chooses the next token with :func:`next_token`: the argmax, plus a gather of the chosen logit
  and a select inside the same step (a NaN wins ``argmax`` in torch, and an infinite logit is the maximum),
  so a non-finite row comes back as token ``-1`` through the step's existing sync;
* the diagnostics pass keeps ``max |hidden|`` per layer anyway; a non-finite maximum names its layer.

Only after a check fires, :func:`locate` runs the offending request once more through the model's own
forward with hooks, to name the first module whose output is non-finite, count that module's non-finite
weights, and say when float16's range is the likely cause (:func:`cause`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from evalsuite.errors import NonFiniteError

FP16_MAX = 65504.0  # the largest finite float16


def next_token(logits: torch.Tensor) -> torch.Tensor:
    """Greedy choice per row of logits (B, V): the argmax (B,), or -1 where the chosen logit is NaN or infinite.

    ``argmax`` is kept (not ``max``) so tokens stay bit-identical with transformers' greedy decoding; in torch a
    NaN wins ``argmax``, so a row with any NaN, or an infinite maximum, has a non-finite chosen logit."""
    return flag_nonfinite(logits, logits.argmax(dim=-1))


def flag_nonfinite(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``index`` (the chosen token per row of ``logits``), or -1 where that row's chosen logit is not finite."""
    chosen = logits.gather(-1, index[..., None])[..., 0]
    return torch.where(torch.isfinite(chosen), index, -1)


def first_nonfinite(values: np.ndarray) -> tuple[int, int] | None:
    """(index of the first non-finite value, how many are non-finite), or None when all are finite."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return int(np.flatnonzero(bad)[0]), int(bad.sum())


def kind(value: float) -> str:
    """'NaN', '+inf' or '-inf'."""
    return "NaN" if value != value else ("+inf" if value > 0 else "-inf")


def decoder_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(label, module) in the order the forward runs them: embeddings, each decoder layer, final norm, LM head."""
    decoder = getattr(model, getattr(model, "base_model_prefix", "model"), model)
    layers = list(getattr(decoder, "layers", []))
    out: list[tuple[str, nn.Module]] = []
    if getattr(decoder, "embed_tokens", None) is not None:
        out.append(("the embeddings", decoder.embed_tokens))
    out += [(f"decoder layer {i} of {len(layers)}", layer) for i, layer in enumerate(layers)]
    if getattr(decoder, "norm", None) is not None:
        out.append(("the final norm", decoder.norm))
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        out.append(("the LM head", head))
    return out


def nonfinite_weights(module: nn.Module) -> int:
    """How many of the module's parameters are NaN or infinite."""
    return int(sum(int((~torch.isfinite(p)).sum()) for p in module.parameters()))


def cause(model: nn.Module, label: str, module: nn.Module) -> str:
    """Why ``module`` (the first with a non-finite output) went non-finite, as far as its weights and the
    model's dtype tell: broken weights, float16's range, or activations past the dtype's range."""
    bad = nonfinite_weights(module)
    if bad:
        return (f"first non-finite output: {label}, whose weights hold {bad} NaN or infinite values "
                "(the checkpoint itself is broken)")
    dtype = next(model.parameters()).dtype
    if dtype == torch.float16:
        return (f"first non-finite output: {label}, whose weights are finite: the model runs in float16, whose "
                f"largest number is {FP16_MAX:.0f}, and its activations overflowed; run it in bfloat16 or float32 "
                "(dtype: bfloat16 in the suite, --dtype bfloat16 on the command line)")
    return (f"first non-finite output: {label}, whose weights are finite: its activations left the range of "
            f"{str(dtype).removeprefix('torch.')}")


@torch.inference_mode()
def locate(model: nn.Module, tokens: Sequence[int]) -> str:
    """Run ``tokens`` once through the model's own forward with hooks and describe the first module whose
    output is non-finite (:func:`cause`); a diagnostic pass, only after a check fired."""
    modules = decoder_modules(model)
    found: list[tuple[str, nn.Module]] = []

    def hook(label: str):
        def record(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output
            if not found and torch.is_tensor(out) and out.is_floating_point() and not bool(torch.isfinite(out).all()):
                found.append((label, module))
        return record

    handles = [m.register_forward_hook(hook(label)) for label, m in modules]
    device = next(model.parameters()).device
    decoder = getattr(model, getattr(model, "base_model_prefix", "model"), None)
    try:
        ids = torch.tensor([list(tokens)], device=device)
        if decoder is not None and decoder is not model and modules[-1][0] == "the LM head":
            # The decoder, then the head at the last position only: a 128K prompt's full logits would not fit.
            modules[-1][1](decoder(input_ids=ids, use_cache=False).last_hidden_state[:, -1:])
        else:
            model(input_ids=ids, use_cache=False)
    except Exception as exc:  # noqa: BLE001 - a diagnostic pass: say what happened, never hide the first error
        return f"the diagnostic pass through the model's own forward failed ({type(exc).__name__})"
    finally:
        for h in handles:
            h.remove()
    if not found:
        return ("the model's own forward pass on this request is finite at every layer "
                "(the non-finite value came from the scoring or decoding kernels)")
    return cause(model, *found[0])


def raise_nonfinite(what: str, *, request: int | None = None, count: int | None = None, of: int | None = None,
                    model: nn.Module | None = None, tokens: Sequence[int] | None = None) -> None:
    """Raise :class:`NonFiniteError`: ``what`` went non-finite (for ``count`` of ``of`` requests), and, given the
    model and the offending request's tokens, where (:func:`locate`)."""
    message = what if count is None else f"{what} in {count} of {of} requests"
    if model is not None and tokens is not None:
        message += f"; {locate(model, tokens)}"
    raise NonFiniteError(message, request=request)


def chosen(token: int, *, step: int, model: nn.Module, prompt: Sequence[int], generated: Sequence[int] = ()) -> int:
    """``token`` (from :func:`next_token`) when the step's logits were finite; else raise, naming the generation
    step and, via the model and the tokens so far (``prompt`` + ``generated``), where it went non-finite."""
    if token < 0:
        raise_nonfinite(f"non-finite logits at generation step {step}", model=model,
                        tokens=[*prompt, *generated])
    return token


def check_layers(model: nn.Module, max_abs: Sequence[float], finite_after: Sequence[torch.Tensor]) -> None:
    """Raise when a layer's ``max |hidden|`` over the diagnostics pass is non-finite, naming the first window
    that went non-finite (``finite_after[w]``: a device bool, all layers finite after window w) and the first
    such layer (:func:`cause`)."""
    bad = first_nonfinite(np.asarray(max_abs, dtype=np.float64))
    if bad is None:
        return
    layer, n = bad
    flags = torch.stack(list(finite_after)).cpu() if finite_after else torch.zeros(1, dtype=torch.bool)
    window = int((~flags).nonzero()[0]) if (~flags).any() else 0
    layers = [(label, m) for label, m in decoder_modules(model) if label.startswith("decoder layer")]
    raise NonFiniteError(f"diagnostics window {window}: non-finite hidden state ({kind(max_abs[layer])}) in "
                         f"{n} of {len(max_abs)} layers; {cause(model, *layers[layer])}", request=window)
