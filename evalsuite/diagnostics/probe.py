"""One diagnostic pass over token windows: the paper's table 4 / figure 2 numbers, per layer.

Definitions (``L`` decoder layers, ``H`` query heads, windows ``w`` of ``T_w`` tokens):

* **first-token attention share** of layer ``l``: the causal softmax probability
  ``p_{w,h}(t -> 0)`` that query position ``t`` of head ``h`` puts on key position
  0 of its window, averaged over windows, heads and query positions ``t = 1 ..
  T_w - 1``::

      share_l = sum_{w,h,t>=1} p_{w,h}(t -> 0) / (H * sum_w (T_w - 1))

  Query 0 is excluded: it can only see key 0, so its share is 1 by causality and
  says nothing about the model. Every (window, head, query) counts once, so
  longer windows weigh more. Uniform attention gives ``mean_t 1/(t+1)``.
  ``first_token_share_mean`` is the plain mean over layers (the paper's number).
* **max activation** of layer ``l``: ``max |h_l|`` over all windows, positions and
  channels, where ``h_l`` is the residual stream output by decoder layer ``l``
  (before the final norm; position 0 included, which is where massive
  activations usually sit). Summarised as the mean and the max over layers.
* **gate scores** (gated models only): every element ``sigmoid(gate)`` the
  model's own forward multiplies into the attention output (headwise: one per
  token and head; elementwise: one per token, head and channel). Per layer and
  overall: the mean and the fraction below 0.1; overall: a histogram with
  ``GATE_BINS`` equal bins on [0, 1].

Probabilities come from :mod:`evalsuite.diagnostics.attention`, so the model's
own attention implementation (sdpa, flash) stays as loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from evalsuite.diagnostics.attention import check_supported, first_token_probs, project_qk, sliding_window_of
from evalsuite.diagnostics.result import GATE_BINS, DiagnosticsResult, GateStats
from evalsuite.diagnostics.windows import iter_windows
from evalsuite.errors import DataError, ModelLoadError

DEFAULT_WINDOW = 1024
GATE_THRESHOLD = 0.1
ProbsCallback = Callable[[int, torch.Tensor], None]  # (layer index, first-token probs (H, T) of one sequence)


def decoder_of(model: nn.Module) -> nn.Module:
    """The decoder stack (``model.model`` of a ``*ForCausalLM``, or the model itself) with its ``layers``."""
    decoder = getattr(model, "model", model)
    if not isinstance(getattr(decoder, "layers", None), nn.ModuleList):
        raise ModelLoadError(f"{type(model).__name__} has no decoder layers (model.model.layers) to diagnose")
    return decoder


def _is_gated(attn: nn.Module) -> bool:
    return hasattr(attn, "record_gates") and getattr(attn, "gate_kind", "none") != "none"


class _Probe:
    """Hooks on every decoder layer and its attention; running per-layer sums on the model's device.

    A context manager: the hooks and gate recording are installed on entry and
    removed (recording restored) on exit, even when the forward fails.
    """

    def __init__(self, model: nn.Module, *, chunk: int | None, on_probs: ProbsCallback | None):
        self.layers = list(decoder_of(model).layers)
        for layer in self.layers:
            check_supported(layer.self_attn)
        self.chunk, self.on_probs = chunk, on_probs
        self.gated = [_is_gated(layer.self_attn) for layer in self.layers]
        device = next(model.parameters()).device
        L = len(self.layers)
        f64 = dict(device=device, dtype=torch.float64)
        self.share_sum, self.share_count = torch.zeros(L, **f64), 0
        self.max_abs = torch.zeros(L, **f64)
        self.gate_sum, self.gate_below = torch.zeros(L, **f64), torch.zeros(L, **f64)
        self.gate_count = [0] * L
        self.gate_hist = torch.zeros(GATE_BINS, device=device, dtype=torch.int64)
        self._handles: list[Any] = []
        self._recording: list[bool] = []

    def __enter__(self) -> _Probe:
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            self._handles.append(attn.register_forward_pre_hook(self._attention_hook(i), with_kwargs=True))
            self._handles.append(layer.register_forward_hook(self._layer_hook(i)))
            if self.gated[i]:
                self._recording.append(attn.record_gates)
                attn.record_gates = True
                self._handles.append(attn.register_forward_hook(self._gate_hook(i)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        gated = [layer.self_attn for layer, g in zip(self.layers, self.gated) if g]
        for attn, was in zip(gated, self._recording):
            attn.record_gates, attn.last_gate = was, None

    def _attention_hook(self, i: int):
        def hook(attn: nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]  # (B, T, C)
            rope = kwargs.get("position_embeddings", args[1] if len(args) > 1 else None)
            if rope is None:
                raise ModelLoadError(f"layer {i}: the attention got no position_embeddings to recompute RoPE from")
            q, k = project_qk(attn, hidden, rope)  # (B, H, T, D), (B, KV, T, D)
            for b in range(q.shape[0]):
                probs = first_token_probs(q[b], k[b], scaling=attn.scaling, chunk=self.chunk,
                                          sliding_window=sliding_window_of(attn))  # (H, T)
                self.share_sum[i] += probs[:, 1:].sum(dtype=torch.float64)
                if i == 0:  # every layer sees the same queries: count them once
                    self.share_count += probs.shape[0] * (probs.shape[1] - 1)
                if self.on_probs is not None:
                    self.on_probs(i, probs)
        return hook

    def _layer_hook(self, i: int):
        def hook(layer: nn.Module, args: tuple, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output  # (B, T, C) residual stream
            self.max_abs[i] = torch.maximum(self.max_abs[i], hidden.detach().abs().max().double())
        return hook

    def _gate_hook(self, i: int):
        def hook(attn: nn.Module, args: tuple, output: Any) -> None:
            gate = attn.last_gate  # (B, T, H, 1|D) sigmoid values
            if gate is None:
                return
            attn.last_gate = None  # free it now; only the sums are kept
            gate = gate.float()
            self.gate_sum[i] += gate.sum(dtype=torch.float64)
            self.gate_below[i] += (gate < GATE_THRESHOLD).sum()
            self.gate_count[i] += gate.numel()
            bins = (gate * GATE_BINS).long().clamp_(0, GATE_BINS - 1)  # [k/B, (k+1)/B); 1.0 joins the last bin
            self.gate_hist += torch.bincount(bins.flatten(), minlength=GATE_BINS)
        return hook

    def gate_stats(self) -> GateStats | None:
        if not any(self.gated):
            return None
        if not all(self.gated) or min(self.gate_count) == 0:
            raise ModelLoadError("some attention layers recorded no gate values; cannot summarise the gates")
        counts = torch.tensor(self.gate_count, dtype=torch.float64)
        mean = (self.gate_sum.cpu() / counts).tolist()
        below = (self.gate_below.cpu() / counts).tolist()
        total = int(counts.sum())
        return GateStats(
            kind=self.layers[0].self_attn.gate_kind, mean_per_layer=tuple(mean), frac_below_0_1_per_layer=tuple(below),
            mean=float(self.gate_sum.sum()) / total, frac_below_0_1=float(self.gate_below.sum()) / total,
            histogram_edges=tuple(k / GATE_BINS for k in range(GATE_BINS + 1)),
            histogram_counts=tuple(int(c) for c in self.gate_hist.tolist()), n_values=total)


def diagnose_windows(model: nn.Module, windows: Iterable[Sequence[int]], *, window: int, chunk: int | None = None,
                     on_probs: ProbsCallback | None = None) -> DiagnosticsResult:
    """Run each token window (one at a time) through the decoder and summarise; see the module docstring.

    ``window`` is recorded as asked; ``chunk`` is query rows per attention chunk
    (None: sized to ~256 MiB of float32 scores); ``on_probs`` sees every layer's ``(H, T)``
    first-token probabilities (for tests and per-head analyses).
    """
    decoder = decoder_of(model)
    device = next(model.parameters()).device
    n_tokens = n_windows = 0
    with _Probe(model, chunk=chunk, on_probs=on_probs) as probe, torch.no_grad():
        for ids in windows:
            if len(ids) < 2:
                raise DataError(f"window {n_windows} has {len(ids)} token(s); at least 2 are needed")
            # The decoder alone: the LM head's (T, vocab) logits are not needed.
            decoder(input_ids=torch.tensor([list(ids)], device=device), use_cache=False)
            n_tokens, n_windows = n_tokens + len(ids), n_windows + 1
    if n_windows == 0:
        raise DataError("no text to diagnose: every text was empty")
    share = (probe.share_sum.cpu() / probe.share_count).tolist()
    max_abs = probe.max_abs.cpu().tolist()
    return DiagnosticsResult(
        first_token_share=tuple(share), max_abs_hidden=tuple(max_abs),
        first_token_share_mean=sum(share) / len(share), max_abs_hidden_mean=sum(max_abs) / len(max_abs),
        max_abs_hidden_max=max(max_abs), gates=probe.gate_stats(), n_tokens=n_tokens, n_windows=n_windows,
        window=window)


def default_window(model: nn.Module) -> int:
    """1024 tokens, or the model's ``max_position_embeddings`` if that is smaller."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return min(DEFAULT_WINDOW, limit) if limit else DEFAULT_WINDOW


def diagnose(model: nn.Module, tokenizer: Any, texts: Iterable[str], *, window: int | None = None,
             max_windows: int | None = None, chunk: int | None = None) -> DiagnosticsResult:
    """The paper's per-layer diagnostics of ``model`` over ``texts``, cut into windows (see :mod:`.windows`).

    ``window`` defaults to :func:`default_window`; ``max_windows`` caps the
    windows (None: all); ``chunk`` bounds attention memory (see :func:`diagnose_windows`).
    """
    window = window or default_window(model)
    if window < 2:
        raise DataError(f"window={window}: a window needs at least 2 tokens")
    return diagnose_windows(model, iter_windows(tokenizer, texts, window=window, max_windows=max_windows),
                            window=window, chunk=chunk)
