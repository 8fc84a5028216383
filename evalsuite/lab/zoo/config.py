"""Shapes and training settings of the mini replication, as frozen dataclasses.

A :class:`ShapeConfig` is one architecture (the gate is chosen per variant);
``TINY`` and ``SMALL`` are the two scales of issue 8. A :class:`TrainConfig`
holds everything that decides the numbers a run produces, so one object (and
its JSON in the run's record) reproduces a trio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from evalsuite.models.convert import GATE_KINDS, GateKind, gate_flags, q_proj_rows
from evalsuite.models.gated_qwen3 import GatedQwen3Config

SMOLLM2_VOCAB = 49152


@dataclass(frozen=True)
class ShapeConfig:
    """A Qwen3-style decoder; ``ffn`` is the baseline's FFN width (gated ones may narrow it, see ``ffn_for``)."""

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int = SMOLLM2_VOCAB
    rope_theta: float = 10000.0
    # What config.json advertises (the evaluation context); training uses TrainConfig.seq_len.
    max_position_embeddings: int = 2048
    # A gated model's narrowed FFN is rounded to a multiple of this. bf16 GEMMs whose width is not a multiple
    # of 8 miss cuBLAS's aligned tensor-core kernels: the first small trio (FFN 1533 / 1365) trained 31 %
    # slower per step than its baseline (1536) for that reason alone.
    ffn_multiple: int = 1

    def __post_init__(self) -> None:
        if self.heads % self.kv_heads:
            raise ValueError(f"{self.name}: heads={self.heads} is not a multiple of kv_heads={self.kv_heads}")

    def ffn_for(self, gate: GateKind, *, match_params: bool) -> int:
        """FFN width for ``gate``: the baseline's, or narrowed so the gate's extra q_proj rows are paid for.

        The gate adds ``(rows - H*D) * hidden`` weights per layer; each FFN unit costs
        ``3 * hidden`` (gate, up, down). Rounded to the nearest ``ffn_multiple`` units, so the gated
        model is within ``1.5 * ffn_multiple * hidden`` weights per layer of the baseline.
        """
        if not match_params or gate == "none":
            return self.ffn
        extra_rows = q_proj_rows(gate, num_heads=self.heads, head_dim=self.head_dim) - self.heads * self.head_dim
        m = self.ffn_multiple
        return self.ffn - m * round(extra_rows / 3 / m)

    def config_dict(self, gate: GateKind, *, match_params: bool = False) -> dict[str, Any]:
        """The paper-format config.json for this shape and gate (``model_type: qwen3`` + the gate flags)."""
        if gate not in GATE_KINDS:
            raise ValueError(f"unknown gate {gate!r}; expected one of {GATE_KINDS}")
        return {
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.ffn_for(gate, match_params=match_params),
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": self.max_position_embeddings,
            "initializer_range": 0.02,
            "rms_norm_eps": 1e-6,
            "use_cache": True,
            "tie_word_embeddings": True,
            "rope_theta": self.rope_theta,
            "rope_scaling": None,
            "use_sliding_window": False,
            "sliding_window": None,
            "max_window_layers": self.layers,
            "attention_dropout": 0.0,
            "use_qk_norm": True,
            **gate_flags(gate),
            "qkv_bias": False,
            "bos_token_id": 0,
            "eos_token_id": 0,
            "torch_dtype": "bfloat16",
            "transformers_version": "4.47.0",
        }

    def native_config(self, gate: GateKind, *, match_params: bool = False) -> GatedQwen3Config:
        """The native config the trainer builds the model from (the same parser the loader uses)."""
        from evalsuite.models.paper_format import paper_config_from_dict

        return paper_config_from_dict(self.config_dict(gate, match_params=match_params), where=f"zoo/{self.name}")


# 49,152 x 64 tied embedding = 3.1M of the ~3.4M weights: ~6.8 MB as bf16, small enough to commit.
TINY = ShapeConfig(name="tiny", hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ffn=256)
# The DESIGN.md probe's shape: ~50M weights, half of them the tied embedding.
SMALL = ShapeConfig(name="small", hidden=512, layers=8, heads=8, kv_heads=4, head_dim=64, ffn=1536, ffn_multiple=8)
# For CPU tests: a 512-token vocabulary keeps a step in milliseconds.
MICRO = ShapeConfig(name="micro", hidden=32, layers=2, heads=4, kv_heads=2, head_dim=8, ffn=64, vocab=512,
                    max_position_embeddings=256)
SHAPES = {s.name: s for s in (TINY, SMALL, MICRO)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trio's numbers. Shared by the three variants of a trio."""

    shape: ShapeConfig
    steps: int
    batch_size: int  # sequences per step
    seq_len: int = 512  # tokens a sequence feeds the model (each packed chunk holds seq_len + 1)
    lr: float = 1e-3  # peak, after linear warmup
    gated_lr_multiplier: float = 1.0  # the paper's "gated models tolerate a larger LR" option
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at the last step
    warmup_steps: int = 100
    weight_decay: float = 0.1  # matrices only; norms are not decayed
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    seed: int = 0  # initial weights (per parameter name) and data order
    match_params: bool = False  # narrow the gated models' FFN to the baseline's parameter count
    compile: bool = False
    eval_every: int = 0  # steps between held-out loss checks (0: only at the end)
    eval_windows: int = 64  # windows of the held-out books used by the periodic check
    gates: tuple[GateKind, ...] = field(default=("none", "headwise", "elementwise"))

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0 or self.seq_len <= 1:
            raise ValueError(f"steps={self.steps}, batch_size={self.batch_size}, seq_len={self.seq_len} must be positive")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps})")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def total_tokens(self) -> int:
        return self.steps * self.tokens_per_step

    def lr_for(self, gate: GateKind) -> float:
        return self.lr if gate == "none" else self.lr * self.gated_lr_multiplier

    def with_(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["tokens_per_step"], d["total_tokens"] = self.tokens_per_step, self.total_tokens
        return d
