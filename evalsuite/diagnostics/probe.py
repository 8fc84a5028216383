"""One diagnostic pass over token windows: the paper's table 4 / figure 2 numbers, per layer.

Definitions (``L`` decoder layers, ``H`` query heads, windows ``w`` of ``T_w`` tokens):

* **layer kind**: ``"attention"`` (softmax attention) or ``"linear_attention"`` (a
  Gated DeltaNet layer of Qwen3-Next / Qwen3.5), read by
  :func:`evalsuite.models.layers.read_layers`. A linear-attention layer has no
  softmax over keys, so it has no first-token share: its entry is None ("no
  softmax attention"), never 0, and the means are over the softmax layers only.
* **first-token attention share** of layer ``l``: the causal softmax probability
  ``p_{w,h}(t -> 0)`` that query position ``t`` of head ``h`` puts on key position
  0 of its window, averaged over windows, heads and query positions ``t = 1 ..
  T_w - 1``::

      share_l = sum_{w,h,t>=1} p_{w,h}(t -> 0) / (H * sum_w (T_w - 1))

  Query 0 is excluded: it can only see key 0, so its share is 1 by causality and
  says nothing about the model. Every (window, head, query) counts once, so
  longer windows weigh more. Uniform attention gives ``mean_t 1/(t+1)``.
  ``first_token_share_mean`` is the plain mean over layers (the paper's number).
  Because it is a mean over query positions it falls with the window, so it is
  also given relative to uniform attention over the same queries
  (``uniform_share``, ``first_token_share_vs_uniform``: 1 = no preference for
  token 0), and per head: ``frac_heads_above_0_3`` is the fraction of (layer, head)
  pairs whose share exceeds 0.3 (a sink head), per layer and overall.
* **max activation** of layer ``l``: ``max |h_l|`` over all windows, positions and
  channels, where ``h_l`` is the residual stream output by decoder layer ``l``
  (before the final norm; position 0 included, which is where massive
  activations usually sit). Summarised as the mean and the max over layers.
* **gate scores** (gated models only): every element ``sigmoid(gate)`` the
  model's own forward multiplies into the attention output, recomputed from the
  layer's ``q_proj`` in either row layout (the paper's, or Qwen3-Next's built-in
  per-head gate) (headwise: one per
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
from evalsuite.engine import finite
from evalsuite.models.layers import LayerInfo, decoder_of, read_layers, training_context

DEFAULT_WINDOW = 1024
GATE_THRESHOLD = 0.1
SINK_HEAD_SHARE = 0.3  # a head putting more than this on token 0 (averaged over queries) counts as a sink head
ProbsCallback = Callable[[int, torch.Tensor], None]  # (layer index, first-token probs (H, T) of one sequence)

__all__ = ["DEFAULT_WINDOW", "choose_window", "decoder_of", "default_window", "diagnose", "diagnose_windows"]


class _Probe:
    """Hooks on every decoder layer and its softmax attention; running per-layer sums on the model's device.

    A context manager: the hooks are installed on entry and removed on exit, even when the forward fails.
    """

    def __init__(self, model: nn.Module, *, chunk: int | None, on_probs: ProbsCallback | None):
        self.layers = list(decoder_of(model).layers)
        self.infos: tuple[LayerInfo, ...] = read_layers(model)
        for info in self.infos:
            if info.attention is not None:
                check_supported(info)
        self.chunk, self.on_probs = chunk, on_probs
        device = next(model.parameters()).device
        L = len(self.layers)
        H = max((info.num_heads for info in self.infos), default=0)
        f64 = dict(device=device, dtype=torch.float64)
        self.share_sum = torch.zeros(L, **f64)  # per layer: sum over windows, heads and queries t >= 1
        self.head_share_sum = torch.zeros(L, max(H, 1), **f64)  # per (layer, head): sum over windows and queries
        self.share_count = 0  # queries (t >= 1) seen by one head of one softmax layer
        self.uniform_sum = 0.0  # sum over those queries of 1/(t+1)
        self.max_abs = torch.zeros(L, **f64)
        self.gate_sum, self.gate_below = torch.zeros(L, **f64), torch.zeros(L, **f64)
        self.gate_count = [0] * L
        self.gate_hist = torch.zeros(GATE_BINS, device=device, dtype=torch.int64)
        self._handles: list[Any] = []
        self._counted = False  # the first softmax layer of each window counts its queries

    def __enter__(self) -> _Probe:
        for info, layer in zip(self.infos, self.layers):
            if info.attention is not None:
                self._handles.append(info.attention.register_forward_pre_hook(self._attention_hook(info),
                                                                              with_kwargs=True))
            self._handles.append(layer.register_forward_hook(self._layer_hook(info.index)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()

    def _attention_hook(self, info: LayerInfo):
        i, attn = info.index, info.attention
        first_softmax = next(x.index for x in self.infos if x.attention is not None)

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]  # (B, T, C)
            rope = kwargs.get("position_embeddings", args[1] if len(args) > 1 else None)
            if rope is None:
                raise ModelLoadError(f"layer {i}: the attention got no position_embeddings to recompute RoPE from")
            q, k, gate_logits = project_qk(info, hidden, rope)  # (B, H, T, D), (B, KV, T, D), (B, T, H, 1|D)
            for b in range(q.shape[0]):
                probs = first_token_probs(q[b], k[b], scaling=attn.scaling, chunk=self.chunk,
                                          sliding_window=sliding_window_of(attn))  # (H, T)
                self.share_sum[i] += probs[:, 1:].sum(dtype=torch.float64)
                self.head_share_sum[i, :probs.shape[0]] += probs[:, 1:].sum(dim=1, dtype=torch.float64)
                if i == first_softmax:  # every softmax layer sees the same queries: count them once
                    T = probs.shape[1]
                    self.share_count += T - 1
                    self.uniform_sum += sum(1.0 / (t + 1) for t in range(1, T))
                if self.on_probs is not None:
                    self.on_probs(i, probs)
            if gate_logits is not None:  # contiguous first, as the models' own forwards have it: CPU sigmoid on a
                # strided view takes a scalar path that rounds differently from the vectorised one
                self._add_gates(i, torch.sigmoid(gate_logits.contiguous()))
        return hook

    def _add_gates(self, i: int, gate: torch.Tensor) -> None:
        gate = gate.float()  # (B, T, H, 1|D) sigmoid values
        self.gate_sum[i] += gate.sum(dtype=torch.float64)
        self.gate_below[i] += (gate < GATE_THRESHOLD).sum()
        self.gate_count[i] += gate.numel()
        bins = (gate * GATE_BINS).long().clamp_(0, GATE_BINS - 1)  # [k/B, (k+1)/B); 1.0 joins the last bin
        self.gate_hist += torch.bincount(bins.flatten(), minlength=GATE_BINS)

    def _layer_hook(self, i: int):
        def hook(layer: nn.Module, args: tuple, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output  # (B, T, C) residual stream
            self.max_abs[i] = torch.maximum(self.max_abs[i], hidden.detach().abs().max().double())
        return hook

    def head_shares(self) -> list[list[float] | None]:
        """Per layer, each head's mean first-token share; None for a layer without softmax attention."""
        sums = (self.head_share_sum.cpu() / max(1, self.share_count)).tolist()
        return [sums[x.index][:x.num_heads] if x.attention is not None else None for x in self.infos]

    def gate_stats(self) -> GateStats | None:
        gated = [x for x in self.infos if x.gate is not None]
        if not gated:
            return None
        if any(self.gate_count[x.index] == 0 for x in gated):
            raise ModelLoadError("some gated attention layers recorded no gate values; cannot summarise the gates")
        kinds = {(x.gate.kind, x.gate.layout) for x in gated}
        if len(kinds) > 1:
            raise ModelLoadError(f"layers carry different gates {sorted(kinds)}; cannot summarise them as one")
        counts = torch.tensor([max(1, c) for c in self.gate_count], dtype=torch.float64)
        mean, below = (self.gate_sum.cpu() / counts).tolist(), (self.gate_below.cpu() / counts).tolist()
        has = [x.gate is not None for x in self.infos]
        total = sum(self.gate_count)
        (kind, layout), = kinds
        return GateStats(
            kind=kind, mean_per_layer=tuple(m if g else None for m, g in zip(mean, has)),
            frac_below_0_1_per_layer=tuple(b if g else None for b, g in zip(below, has)),
            mean=float(self.gate_sum.sum()) / total, frac_below_0_1=float(self.gate_below.sum()) / total,
            histogram_edges=tuple(k / GATE_BINS for k in range(GATE_BINS + 1)),
            histogram_counts=tuple(int(c) for c in self.gate_hist.tolist()), n_values=total, layout=layout)


def _summarise(probe: _Probe, *, n_tokens: int, n_windows: int, window: int, window_source: str
               ) -> DiagnosticsResult:
    heads = probe.head_shares()
    sums = probe.share_sum.cpu().tolist()
    share = [sums[x.index] / (x.num_heads * probe.share_count) if x.attention is not None else None
             for x in probe.infos]
    softmax = [s for s in share if s is not None]
    above = [sum(v > SINK_HEAD_SHARE for v in h) / len(h) if h is not None else None for h in heads]
    all_heads = [v for h in heads if h is not None for v in h]
    uniform = probe.uniform_sum / probe.share_count if probe.share_count else None
    mean = sum(softmax) / len(softmax) if softmax else None
    max_abs = probe.max_abs.cpu().tolist()
    return DiagnosticsResult(
        first_token_share=tuple(share), max_abs_hidden=tuple(max_abs), first_token_share_mean=mean,
        max_abs_hidden_mean=sum(max_abs) / len(max_abs), max_abs_hidden_max=max(max_abs), gates=probe.gate_stats(),
        n_tokens=n_tokens, n_windows=n_windows, window=window,
        layer_kinds=tuple(x.kind for x in probe.infos), window_source=window_source,
        head_first_token_share=tuple(tuple(h) if h is not None else None for h in heads),
        frac_heads_above_0_3_per_layer=tuple(above), uniform_share=uniform,
        first_token_share_vs_uniform=mean / uniform if mean is not None and uniform else None,
        frac_heads_above_0_3=sum(v > SINK_HEAD_SHARE for v in all_heads) / len(all_heads) if all_heads else None)


def diagnose_windows(model: nn.Module, windows: Iterable[Sequence[int]], *, window: int, chunk: int | None = None,
                     on_probs: ProbsCallback | None = None, window_source: str = "asked") -> DiagnosticsResult:
    """Run each token window (one at a time) through the decoder and summarise; see the module docstring.

    ``window`` is recorded as asked, with ``window_source`` (why that length); ``chunk`` is query rows per
    attention chunk (None: sized to ~256 MiB of float32 scores); ``on_probs`` sees every softmax layer's
    ``(H, T)`` first-token probabilities (for tests and per-head analyses).
    """
    decoder = decoder_of(model)
    device = next(model.parameters()).device
    n_tokens = n_windows = 0
    finite_after: list[torch.Tensor] = []  # per window, on the device (no sync): every layer's max finite so far
    with _Probe(model, chunk=chunk, on_probs=on_probs) as probe, torch.no_grad():
        for ids in windows:
            if len(ids) < 2:
                raise DataError(f"window {n_windows} has {len(ids)} token(s); at least 2 are needed")
            # The decoder alone: the LM head's (T, vocab) logits are not needed.
            decoder(input_ids=torch.tensor([list(ids)], device=device), use_cache=False)
            n_tokens, n_windows = n_tokens + len(ids), n_windows + 1
            finite_after.append(torch.isfinite(probe.max_abs).all())
    if n_windows == 0:
        raise DataError("no text to diagnose: every text was empty")
    finite.check_layers(model, probe.max_abs.cpu().tolist(), finite_after)  # NaN/inf never becomes a diagnostic
    return _summarise(probe, n_tokens=n_tokens, n_windows=n_windows, window=window, window_source=window_source)


def choose_window(model: nn.Module, max_length: int | None = None) -> tuple[int, str]:
    """The diagnostics window and why: the model's training context where its config states it (the
    pre-YaRN ``original_max_position_embeddings``), else 1024 tokens; never past ``max_length`` or the
    model's ``max_position_embeddings``. The share is a mean over query positions, so it depends on this.
    """
    config = getattr(model, "config", None)
    trained = training_context(config)
    limits = [n for n in (max_length, getattr(config, "max_position_embeddings", None)) if n]
    if trained:
        window, why = trained, f"training context (config original_max_position_embeddings {trained})"
    else:
        window, why = DEFAULT_WINDOW, f"default ({DEFAULT_WINDOW}; the config states no training context)"
    if limits and min(limits) < window:
        window, why = min(limits), why + f", capped at {min(limits)}"
    return window, why


def default_window(model: nn.Module) -> int:
    """:func:`choose_window`'s length for ``model``."""
    return choose_window(model)[0]


def diagnose(model: nn.Module, tokenizer: Any, texts: Iterable[str], *, window: int | None = None,
             max_windows: int | None = None, chunk: int | None = None, max_length: int | None = None
             ) -> DiagnosticsResult:
    """The paper's per-layer diagnostics of ``model`` over ``texts``, cut into windows (see :mod:`.windows`).

    ``window`` defaults to :func:`choose_window` (capped at ``max_length``); ``max_windows`` caps the
    windows (None: all); ``chunk`` bounds attention memory (see :func:`diagnose_windows`).
    """
    window, why = (window, "asked") if window else choose_window(model, max_length)
    if window < 2:
        raise DataError(f"window={window}: a window needs at least 2 tokens")
    return diagnose_windows(model, iter_windows(tokenizer, texts, window=window, max_windows=max_windows),
                            window=window, chunk=chunk, window_source=why)
