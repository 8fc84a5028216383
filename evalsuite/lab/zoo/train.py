"""The pretraining loop: one variant (baseline, headwise or elementwise gate) of a trio.

Plain PyTorch: fp32 master weights, bf16 autocast on CUDA, AdamW (fused on
CUDA), linear warmup then cosine decay to ``min_lr_ratio * lr``, global-norm
gradient clipping, optional ``torch.compile``. Losses and gradient norms stay
on the device and are fetched every ``_FETCH`` steps, so the loop does not
synchronise each step.

Throughput: ``tokens_per_s`` is the trained tokens over the wall time of the
step loop (the periodic held-out checks excluded); MFU is
``6 * N * tokens / seconds / 790e12`` with ``N`` every distinct parameter (the
tied embedding once: it is the LM head's matrix product); attention-score
FLOPs are left out, as in the usual ``6N`` estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from evalsuite.models.convert import GateKind
from evalsuite.models.gated_qwen3 import GatedQwen3ForCausalLM
from evalsuite.engine.cost import PEAK_BF16_FLOPS
from evalsuite.lab.bench.timing import sync
from evalsuite.lab.zoo.config import TrainConfig
from evalsuite.lab.zoo.curves import spike_summary
from evalsuite.lab.zoo.data import EvalDoc, PackedCorpus
from evalsuite.lab.zoo.evaluate import DocScores, score_docs
from evalsuite.lab.zoo.init import count_parameters, init_weights

_FETCH = 50  # steps between device-to-host copies of the loss history
VARIANT_NAMES = {"none": "baseline", "headwise": "headwise", "elementwise": "elementwise"}


@dataclass
class TrainRecord:
    """What one variant's training produced (the model itself is returned beside it)."""

    variant: str
    gate: GateKind
    n_parameters: int
    n_non_embedding: int
    ffn: int
    lr: float
    steps: int
    tokens: int
    epochs: float
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    heldout: list[dict[str, float]] = field(default_factory=list)  # periodic checks: step, loss
    train_seconds: float = 0.0
    tokens_per_s: float = 0.0
    mfu: float = 0.0
    final_train_loss: float = math.nan  # mean of the last 50 steps
    final_heldout: dict[str, Any] | None = None
    spikes: dict[str, Any] | None = None
    compiled: bool = False
    device: str = ""

    def summary(self) -> dict[str, Any]:
        """Everything but the per-step histories."""
        skip = {"losses", "grad_norms", "lrs"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def lr_at(step: int, cfg: TrainConfig, peak: float) -> float:
    """Linear warmup over ``warmup_steps`` (from peak/warmup), then cosine to ``peak * min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - 1 - cfg.warmup_steps)
    floor = peak * cfg.min_lr_ratio
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_model(cfg: TrainConfig, gate: GateKind, *, device: str) -> GatedQwen3ForCausalLM:
    """The variant's model in fp32 on ``device``, initialised per parameter name from ``cfg.seed``."""
    config = cfg.shape.native_config(gate, match_params=cfg.match_params)
    config._attn_implementation = "sdpa"
    model = GatedQwen3ForCausalLM(config)
    init_weights(model, seed=cfg.seed, full_ffn=cfg.shape.ffn)
    return model.to(device)


def _optimizer(model: torch.nn.Module, cfg: TrainConfig, lr: float, device: str) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, eps=1e-8, fused=device.startswith("cuda"))


def train_variant(cfg: TrainConfig, gate: GateKind, corpus: PackedCorpus, heldout: list[EvalDoc], *,
                  device: str, log: Callable[[str], None] = print) -> tuple[GatedQwen3ForCausalLM, TrainRecord]:
    """Train one variant for ``cfg.steps`` steps on ``corpus`` (batches in the corpus's seeded order)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, gate, device=device)
    n_params = count_parameters(model)
    embed = model.model.embed_tokens.weight.numel()
    peak = cfg.lr_for(gate)
    record = TrainRecord(variant=VARIANT_NAMES[gate], gate=gate, n_parameters=n_params, n_non_embedding=n_params - embed,
                         ffn=model.config.intermediate_size, lr=peak, steps=cfg.steps, tokens=cfg.total_tokens,
                         epochs=corpus.epochs_for(cfg.steps, cfg.batch_size), compiled=cfg.compile, device=device)
    log(f"[{record.variant}] {n_params:,} parameters ({record.n_non_embedding:,} non-embedding), FFN {record.ffn}, "
        f"peak lr {peak:g}, {cfg.steps} steps x {cfg.tokens_per_step:,} tokens = {cfg.total_tokens:,} "
        f"({record.epochs:.2f} epochs)")
    opt = _optimizer(model, cfg, peak, device)
    forward = torch.compile(model) if cfg.compile else model
    cuda = device.startswith("cuda")
    loss_hist = torch.zeros(cfg.steps, device=device)
    norm_hist = torch.zeros(cfg.steps, device=device)
    model.train()
    excluded = 0.0  # seconds spent in periodic held-out checks
    sync(torch.device(device))
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        lr = lr_at(step, cfg, peak)
        for group in opt.param_groups:
            group["lr"] = lr
        record.lrs.append(lr)
        loss, norm = _train_step(forward, model, opt, *corpus.batch(step, cfg.batch_size), cfg, cuda)
        loss_hist[step] = loss.detach()
        norm_hist[step] = norm.detach()
        if (step + 1) % _FETCH == 0 or step + 1 == cfg.steps:
            recent = loss_hist[max(0, step + 1 - _FETCH):step + 1].tolist()
            log(f"[{record.variant}] step {step + 1}/{cfg.steps} loss {sum(recent) / len(recent):.4f} "
                f"lr {lr:.2e} {time.perf_counter() - t0 - excluded:.1f}s")
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            t_eval = time.perf_counter()
            check = score_docs(model, heldout, seq_len=cfg.seq_len, batch_size=cfg.batch_size, device=device,
                               max_windows=cfg.eval_windows)
            record.heldout.append({"step": step + 1, "loss": check.loss})
            sync(torch.device(device))
            excluded += time.perf_counter() - t_eval
    sync(torch.device(device))
    record.train_seconds = time.perf_counter() - t0 - excluded
    record.losses = loss_hist.tolist()
    record.grad_norms = norm_hist.tolist()
    record.tokens_per_s = cfg.total_tokens / record.train_seconds
    record.mfu = 6 * n_params * record.tokens_per_s / PEAK_BF16_FLOPS
    record.final_train_loss = sum(record.losses[-_FETCH:]) / len(record.losses[-_FETCH:])
    record.spikes = spike_summary(record.losses)
    log(f"[{record.variant}] trained in {record.train_seconds:.1f}s: {record.tokens_per_s:,.0f} tokens/s, "
        f"MFU {record.mfu:.1%} (of 790 TFLOP/s), final train loss {record.final_train_loss:.4f}, "
        f"spikes {record.spikes['count_by_threshold']}")
    return model, record


def final_heldout(model: GatedQwen3ForCausalLM, record: TrainRecord, heldout: list[EvalDoc], cfg: TrainConfig, *,
                  device: str) -> DocScores:
    """Score all held-out documents and store the summary on ``record``."""
    scores = score_docs(model, heldout, seq_len=cfg.seq_len, batch_size=cfg.batch_size, device=device)
    record.final_heldout = {"loss": scores.loss, "perplexity": scores.perplexity, "documents": len(scores.names),
                            "tokens": sum(scores.tokens)}
    record.heldout.append({"step": cfg.steps, "loss": scores.loss})
    return scores


def _train_step(forward: Any, model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                cfg: TrainConfig, cuda: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a (B, L) batch (bf16 autocast on CUDA, fp32 loss, clipped gradients): the loss and
    the gradient norm before clipping, both still on the device."""
    with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
        logits = forward(input_ids=x, use_cache=False).logits  # (B, L, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss, norm


def seconds_per_step(cfg: TrainConfig, corpus: PackedCorpus, *, device: str, steps: int = 12, skip: int = 4) -> float:
    """Median wall time of a training step of ``cfg``'s baseline (the first ``skip`` steps are warm-up).

    The probe's model is thrown away: it only sizes a time-budgeted plan, so the
    trained models never see it.
    """
    model = build_model(cfg, "none", device=device)
    opt = _optimizer(model, cfg, cfg.lr, device)
    forward = torch.compile(model) if cfg.compile else model
    cuda = device.startswith("cuda")
    times: list[float] = []
    for step in range(steps):
        sync(torch.device(device))
        t0 = time.perf_counter()
        _train_step(forward, model, opt, *corpus.batch(step, cfg.batch_size), cfg, cuda)
        sync(torch.device(device))
        times.append(time.perf_counter() - t0)
    del model, opt
    timed = sorted(times[skip:]) or times
    return timed[len(timed) // 2]
