"""The named training plans: which trios to train, in what order, with which settings.

``mini`` is issue 8's GPU run: the tiny trio (committed as the embedded
default), the small trio (steps fitted to a time budget from a timing probe,
never fewer than 40M tokens), then, if the deadline allows, the gated models
again at twice the learning rate (the paper's "gating tolerates a larger LR"
option): ``tiny-lr2`` against the same tiny baseline, and ``small-lr2``, which
trains its own baseline with the small trio's exact settings (the small
weights do not outlive a GPU call, so a later call cannot reuse them; the
retrained baseline also shows how reproducible a run is). ``smoke`` is the same code
path at CPU size, for the dry run; ``micro`` is for the unit tests. All settings were fixed
before any GPU run; nothing was tuned toward an expected answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalsuite.lab.zoo.config import MICRO, SMALL, TINY, TrainConfig


@dataclass(frozen=True)
class TrioSpec:
    """One trio of a plan. With ``budget_seconds``, steps are fitted to the budget within [min_steps, config.steps]."""

    name: str
    config: TrainConfig
    budget_seconds: float | None = None  # for all variants together
    min_steps: int = 1
    optional: bool = False  # skipped when the plan's deadline would pass
    baseline_from: str | None = None  # a gated-only trio: test against this trio's baseline


def _mini() -> tuple[TrioSpec, ...]:
    batch = 64  # x 512 = 32,768 tokens a step
    tiny = TrainConfig(shape=TINY, steps=600, batch_size=batch, lr=3e-3, warmup_steps=60, eval_every=100,
                       match_params=True)
    small = TrainConfig(shape=SMALL, steps=2400, batch_size=batch, lr=1e-3, warmup_steps=100, eval_every=200,
                        match_params=True)
    min_small = -(-40_000_000 // small.tokens_per_step)  # 1,221 steps: the 40M-token floor
    return (
        TrioSpec("tiny", tiny),
        TrioSpec("small", small, budget_seconds=170.0, min_steps=min_small),
        TrioSpec("tiny-lr2", tiny.with_(gated_lr_multiplier=2.0, gates=("headwise", "elementwise")),
                 optional=True, baseline_from="tiny"),
        TrioSpec("small-lr2", small.with_(gated_lr_multiplier=2.0), budget_seconds=170.0, min_steps=min_small,
                 optional=True),
    )


def _smoke() -> tuple[TrioSpec, ...]:
    tiny = TrainConfig(shape=TINY, steps=12, batch_size=4, seq_len=64, lr=3e-3, warmup_steps=2, eval_every=6,
                       eval_windows=4)
    small = TrainConfig(shape=TINY, steps=40, batch_size=4, seq_len=32, lr=3e-3, warmup_steps=4)
    return (
        TrioSpec("tiny", tiny),
        TrioSpec("small", small, budget_seconds=6.0, min_steps=8),
        TrioSpec("tiny-lr2", tiny.with_(gated_lr_multiplier=2.0, gates=("headwise", "elementwise")),
                 optional=True, baseline_from="tiny"),
    )


def _micro() -> tuple[TrioSpec, ...]:
    """Seconds on a CPU with a byte-level tokenizer (vocabulary 512): the unit tests' plan."""
    base = TrainConfig(shape=MICRO, steps=6, batch_size=2, seq_len=16, lr=3e-3, warmup_steps=2, eval_every=3,
                       eval_windows=2, match_params=True)
    return (
        TrioSpec("micro", base),
        TrioSpec("micro-budget", base, budget_seconds=0.5, min_steps=3),
        TrioSpec("micro-lr2", base.with_(gated_lr_multiplier=2.0, gates=("elementwise",)), optional=True,
                 baseline_from="micro"),
    )


PLANS = {"mini": _mini, "smoke": _smoke, "micro": _micro}


def plan(name: str) -> tuple[TrioSpec, ...]:
    if name not in PLANS:
        raise KeyError(f"unknown plan {name!r}; known: {', '.join(PLANS)}")
    return PLANS[name]()
