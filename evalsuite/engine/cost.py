"""What a request costs: the product's cost model, priced at the roofline of the project's GPU.

The suite's progress line prices every request with it (its ETA) and the multi-process scheduler
(:mod:`evalsuite.run.distributed.balance`) splits requests across ranks by it; the lab's benchmark takes
its peak rates from here (:data:`PEAK_BF16_FLOPS`, :data:`PEAK_BYTES_PER_S`), so MFU and the schedule use
one figure.

Cost model (seconds on one GPU at its roofline; only ratios matter for balance)::

    prefill(T)        = a*T + b*T^2                 a = 2*N_mm / F,        b = 2*L*q_dim / F
    decode(T, G)      = G * (c0 + c1*(T + G/2))     c0 = N*bytes / B,      c1 = 2*L*kv_dim*bytes / B
    loglikelihood     = prefill(context + all its continuations)   (one pass per distinct context)
    rolling(T)        = a*T + b*T*min(T, max_length)                 (disjoint windows of max_length)
    generate_until    = prefill(prompt) + decode(prompt, max_gen_toks)

``N_mm`` are the parameters in matrix products per token (all but the token
embedding: the LM head runs only where a next token is scored); ``b`` is causal
attention's ``QK^T`` and ``AV`` (``2*T^2*q_dim`` FLOPs per layer); ``c0`` reads
every weight once per decoded token and ``c1`` reads the KV cache. F = 790 TFLOP/s
(bf16 matmul) and B = 4.3 TB/s (HBM) are the rates measured on the project's
H200 (DESIGN.md). For the paper's 1.7B dense shape in bf16 (28 layers, 16x128
query, 8x128 KV, N = 1.72e9) that gives a = 3.6e-6 s, b = 1.46e-10 s,
c0 = 8.0e-4 s, c1 = 2.7e-8 s: prefill of 128K tokens costs ~170x 4K tokens
(attention is 84% of it), and a RULER sample with 128 generated tokens costs
3.5 s at 128K vs 0.13 s at 4K, ~26x (decoding dominates short samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

# Roofline of the project's GPU (DESIGN.md, "The GPU machine" and its decision on the two measured rates: one
# constant, 790e12, here).
PEAK_BF16_FLOPS = 790e12  # bf16 dense matmul, measured on the H200 (8192^3 GEMM, random data)
PEAK_BYTES_PER_S = 4.3e12  # device-to-device copy, bytes read + written, measured on the H200


def causal_keys(start: int, stop: int) -> int:
    """Sum of (t + 1) for t in [start, stop): the keys attended by the tokens at those depths of a causal
    sequence (a prefill of n tokens: ``causal_keys(0, n)``; k decode steps after it: ``causal_keys(n, n + k)``)."""
    return (stop * (stop + 1) - start * (start + 1)) // 2
CHARS_PER_TOKEN_FALLBACK = 4.0  # without a tokenizer; English BPE averages ~4 characters per token
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task does not say


@dataclass(frozen=True)
class CostModel:
    """Estimated seconds for the work of one request (see the module docstring for the derivation)."""

    prefill_s_per_token: float  # a
    attention_s_per_token_sq: float  # b
    decode_s_per_token: float  # c0: reading the weights once
    decode_s_per_token_per_context: float  # c1: reading one cached token's K and V in every layer

    @classmethod
    def from_shape(cls, *, n_params: float, n_embedding_params: float, layers: int, q_dim: int, kv_dim: int,
                   bytes_per_param: int = 2, flops: float = PEAK_BF16_FLOPS,
                   bytes_per_s: float = PEAK_BYTES_PER_S) -> "CostModel":
        return cls(prefill_s_per_token=2.0 * (n_params - n_embedding_params) / flops,
                   attention_s_per_token_sq=2.0 * layers * q_dim / flops,
                   decode_s_per_token=n_params * bytes_per_param / bytes_per_s,
                   decode_s_per_token_per_context=2.0 * layers * kv_dim * bytes_per_param / bytes_per_s)

    @classmethod
    def paper_1p7b(cls) -> "CostModel":
        """The paper's 1.7B dense model (table 7) in bf16: the default when the model is not known."""
        return cls.from_shape(n_params=1.72e9, n_embedding_params=151936 * 2048, layers=28, q_dim=16 * 128,
                              kv_dim=8 * 128, bytes_per_param=2)

    @classmethod
    def from_model(cls, model: Any) -> "CostModel":
        """From a loaded transformers model's config and parameters; the paper's shape if they are unreadable."""
        cfg = getattr(model, "config", None)
        try:
            heads, kv_heads = int(cfg.num_attention_heads), int(cfg.num_key_value_heads)
            head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
            params = list(model.parameters())
            n = sum(p.numel() for p in params)
            emb = model.get_input_embeddings().weight.numel()
            return cls.from_shape(n_params=n, n_embedding_params=emb, layers=int(cfg.num_hidden_layers),
                                  q_dim=heads * head_dim, kv_dim=kv_heads * head_dim,
                                  bytes_per_param=params[0].element_size())
        except (AttributeError, TypeError, ValueError, IndexError):
            return cls.paper_1p7b()

    def prefill_s(self, tokens: float) -> float:
        return self.prefill_s_per_token * tokens + self.attention_s_per_token_sq * tokens * tokens

    def decode_s(self, context_tokens: float, new_tokens: float) -> float:
        mean_context = context_tokens + new_tokens / 2.0
        return new_tokens * (self.decode_s_per_token + self.decode_s_per_token_per_context * mean_context)

    def rolling_s(self, tokens: float, max_length: int) -> float:
        return self.prefill_s_per_token * tokens + self.attention_s_per_token_sq * tokens * min(tokens, max_length)


class TokenEstimator:
    """Token counts from character counts, at a ratio calibrated with the real tokenizer on a few texts.

    Tokenising every request on every rank only to plan the split would cost as much
    as tokenising them for the model (34M tokens for 5-shot MMLU); a ratio from
    <= 32 evenly spaced texts (<= 4,000 characters each) is deterministic, so all
    ranks compute the same counts, and it is accurate enough to balance.
    """

    SAMPLE_TEXTS = 32
    SAMPLE_CHARS = 4000

    def __init__(self, encode: Callable[[str], Sequence[int]] | None, texts: Sequence[str]) -> None:
        self.tokens_per_char = 1.0 / CHARS_PER_TOKEN_FALLBACK
        if encode is None or not texts:
            return
        step = max(1, len(texts) // self.SAMPLE_TEXTS)
        sample = [t[: self.SAMPLE_CHARS] for t in texts[::step][: self.SAMPLE_TEXTS] if t]
        chars = sum(len(t) for t in sample)
        if chars:
            self.tokens_per_char = max(1, sum(len(encode(t)) for t in sample)) / chars

    def __call__(self, text: str) -> float:
        return len(text) * self.tokens_per_char


def request_costs(kind: str, sizes: Sequence[tuple[float, int]], model: Any) -> list[float]:
    """Cost-model seconds per request from (input tokens, generated tokens): ``kind`` is ``score``,
    ``generate``, or ``generate_chars`` (input counted in characters, at the scheduler's ~4 per token).
    The model's shape prices them (the paper's 1.7B shape when it is unreadable)."""
    cm = _cost_model(model)
    if kind == "generate_chars":
        kind, sizes = "generate", [(n / CHARS_PER_TOKEN_FALLBACK, g) for n, g in sizes]
    if kind == "generate":
        return [cm.prefill_s(n) + cm.decode_s(n, g) for n, g in sizes]
    return [cm.prefill_s(n) for n, _ in sizes]


_COST_MODELS: dict[int, "CostModel"] = {}


def _cost_model(model: Any) -> "CostModel":
    key = id(model)
    if key not in _COST_MODELS:
        _COST_MODELS.clear()  # one model at a time: the runner keeps only the current one
        _COST_MODELS[key] = CostModel.from_model(model)
    return _COST_MODELS[key]
