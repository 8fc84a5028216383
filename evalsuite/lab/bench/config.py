"""What one benchmark run does: models, workloads, sizes. Two presets: ``h200`` (the real run) and ``tiny`` (CPU, CI)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from evalsuite.lab.bench.workloads import ScoringWorkload
from evalsuite.errors import SpecError


# Scoring variants the benchmark can run besides the default (attention "auto"; compiled layers on CUDA, eager on
# CPU): EngineConfig fields over the workload's. "nocheck" turns
# off the non-finite log-likelihood check (issue 18) to measure its cost; "check" is the default again, so that
# `--variants nocheck,check` times on, off and on in one process.
SCORING_VARIANTS: dict[str, dict[str, Any]] = {
    "nocheck": {"check_finite": False},
    "check": {},
    "eager": {"compile_scoring": False},
    "compiled": {"compile_scoring": True},
    "flash": {"attention": "flash"},
    "cudnn": {"attention": "cudnn"},
    "fa4": {"attention": "fa4"},
    "compiled_cudnn": {"compile_scoring": True, "attention": "cudnn"},
    "flex": {"tree_attention": "flex"},
    "sdpa": {"tree_attention": "sdpa"},  # the dense mask for packed rows (the CUDA default before run 5)
}


@dataclass(frozen=True)
class RulerWorkload:
    """One niah_single_1 sample at ``length`` tokens; ``yarn_factor`` > 1 stretches the model's RoPE first.

    ``modes``: generation modes (evalsuite.engine.generate), each optionally ``@attention`` for the prefill's causal
    kernel (``compiled@cudnn``: the compiled decoder after a cuDNN prefill; plain: ``auto``)."""

    length: int
    yarn_factor: float = 1.0
    modes: tuple[str, ...] = ("fast", "compiled", "exact")
    repeat: int = 2  # requests per call; the last is reported (steady state), see workloads.ruler_ours


@dataclass(frozen=True)
class QuickTask:
    task: str
    shots: int = 0
    limit: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchConfig:
    name: str
    device: str
    dtype: str
    seed: int = 1234
    model_overrides: dict[str, Any] = field(default_factory=dict)  # on top of paper_shaped_config
    original_max_position: int = 32768  # the un-stretched context (YaRN's original_max_position_embeddings)
    scoring: tuple[ScoringWorkload, ...] = ()
    ruler: tuple[RulerWorkload, ...] = ()
    ruler_gated: str | None = "elementwise"  # issue 4: the gated model's RULER samples (evalsuite, fast mode)
    quick_gates: tuple[str, ...] = ("none", "headwise", "elementwise")  # issue 3: quick tasks + diagnostics
    quick_tasks: tuple[QuickTask, ...] = ()
    quick_max_length: int = 4096
    diagnostics_window: int = 4096
    diagnostics_windows: int = 2
    with_stock: bool = True
    stock_batch_size: str = "auto"  # for loglikelihood tasks; RULER's single sample uses 1 (see README)
    deadline_s: float | None = None  # skip stock runs once past this
    parts: tuple[str, ...] = ("ruler", "scoring", "gated", "quick")  # what to run, in this order
    warm_up: bool = True  # one small untimed run of each backend first (imports, CUDA init, first task load)
    ruler_max_gen: int | None = None  # cap on generated tokens (tiny preset); None: the task's 128
    # Each scoring workload once more per variant (SCORING_VARIANTS: EvalsuiteLM options), after stock, agreement
    # checked against the same stock items; compiled variants are compiled by the warm-up (its time recorded there).
    scoring_variants: tuple[str, ...] = ("compiled",)

    def with_(self, **kw: Any) -> "BenchConfig":
        return replace(self, **kw)


def _quick(ruler_lengths: tuple[int, ...], samples: int, *, hellaswag: int, mmlu: int, wikitext: int,
           ruler_tasks: str = "ruler_es_synthetic") -> tuple[QuickTask, ...]:
    return (QuickTask("es_wikitext", 0, wikitext), QuickTask("es_hellaswag", 0, hellaswag),
            QuickTask("es_mmlu", 5, mmlu),
            QuickTask(ruler_tasks, 0, None, {"max_seq_lengths": list(ruler_lengths), "samples": samples,
                                             "verify": "spot"}))


def h200() -> BenchConfig:
    """The paper-shaped 1.7B on one H200: full HellaSwag/MMLU/WikiText, RULER 32K and 128K (YaRN x4)."""
    return BenchConfig(
        name="h200", device="cuda", dtype="bfloat16",
        scoring=(ScoringWorkload("hellaswag", "es_hellaswag", 0, None, None, 4096, 32768, 512),
                 ScoringWorkload("mmlu", "es_mmlu", 5, None, 12, 4096, 32768, 4096),
                 ScoringWorkload("wikitext", "es_wikitext", 0, None, None, 4096, 32768, 4096)),
        ruler=(RulerWorkload(32768), RulerWorkload(131072, 4.0)),
        quick_tasks=_quick((1024, 2048), 1, hellaswag=40, mmlu=1, wikitext=4),  # quick.yaml has 2 RULER samples
        deadline_s=330.0, scoring_variants=("eager", "sdpa"))  # CUDA default: compiled + flex; eager, sdpa compared


def tiny() -> BenchConfig:
    """The same code path on CPU in seconds: a 2-layer model, a few items of each workload."""
    return BenchConfig(
        name="tiny", device="cpu", dtype="float32",
        model_overrides=dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=16),
        original_max_position=512,
        scoring=(ScoringWorkload("hellaswag", "es_hellaswag", 0, 4, None, 512, 2048, 256),
                 ScoringWorkload("mmlu", "es_mmlu_anatomy", 5, 3, 2, 2048, 4096, 1024),
                 ScoringWorkload("wikitext", "es_wikitext", 0, 1, None, 512, 2048, 512)),
        ruler=(RulerWorkload(512), RulerWorkload(1024, 2.0, modes=("fast", "exact"))),
        ruler_max_gen=8,
        quick_gates=("elementwise",),
        quick_tasks=(QuickTask("es_mmlu_anatomy", 5, 2),
                     QuickTask("ruler_es_niah_single_1", 0, None,
                               {"max_seq_lengths": [512], "samples": 1, "verify": "spot"})),
        quick_max_length=1024, diagnostics_window=128, diagnostics_windows=1, stock_batch_size="4",
        warm_up=False)


PRESETS = {"h200": h200, "tiny": tiny}


def preset(name: str) -> BenchConfig:
    if name not in PRESETS:
        raise SpecError(f"unknown bench preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()
