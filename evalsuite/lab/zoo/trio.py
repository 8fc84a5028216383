"""A trio: baseline, headwise and elementwise trained with the same data order, seed and settings.

``train_trio`` trains the variants one after another, scores the held-out
books, writes each in the paper's format (checked by loading it back), then
the trio's loss curves (PNG), the paired held-out perplexity tests (gated
against baseline) and ``trio.json`` with every number.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evalsuite import strict_json
from evalsuite.lab.zoo.card import Provenance, model_card
from evalsuite.lab.zoo.config import TrainConfig
from evalsuite.lab.zoo.curves import plot_losses
from evalsuite.lab.zoo.data import EvalDoc, PackedCorpus
from evalsuite.lab.zoo.evaluate import DocScores, paired_ppl
from evalsuite.lab.zoo.export import check_roundtrip, export_checkpoint
from evalsuite.lab.zoo.train import VARIANT_NAMES, TrainRecord, final_heldout, train_variant


@dataclass(frozen=True)
class TrioPlan:
    """One trio to train: its settings, a name prefix (``tiny`` -> ``tiny-baseline`` ...) and where files go."""

    name: str
    config: TrainConfig
    records_dir: Path  # trio.json, curves PNG, per-variant histories
    checkpoints_dir: Path  # <name>-<variant>/ folders in the paper's format


@dataclass
class TrioResult:
    plan: TrioPlan
    records: dict[str, TrainRecord] = field(default_factory=dict)
    scores: dict[str, DocScores] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    paired: dict[str, Any] = field(default_factory=dict)
    roundtrip: dict[str, dict[str, Any]] = field(default_factory=dict)


def train_trio(plan: TrioPlan, corpus: PackedCorpus, heldout: list[EvalDoc], *, device: str, tokenizer_dir: Path,
               provenance: Provenance, log: Callable[[str], None] = print,
               baseline_scores: DocScores | None = None) -> TrioResult:
    """Train every gate in ``plan.config.gates``; tests against the baseline trained here or ``baseline_scores``."""
    cfg = plan.config
    result = TrioResult(plan=plan)
    plan.records_dir.mkdir(parents=True, exist_ok=True)
    probe = corpus.batch(0, min(2, cfg.batch_size))[0][:, : min(64, cfg.seq_len)]  # (2, 64) tokens for the round trip
    for gate in cfg.gates:
        variant = VARIANT_NAMES[gate]
        name = f"{plan.name}-{variant}"
        model, record = train_variant(cfg, gate, corpus, heldout, device=device, log=log)
        t_eval = time.perf_counter()
        scores = final_heldout(model, record, heldout, cfg, device=device)
        log(f"[{variant}] held-out books: loss {scores.loss:.4f}, PPL {scores.perplexity:.2f} "
            f"({sum(scores.tokens):,} tokens, {len(scores.names)} books, {time.perf_counter() - t_eval:.1f}s)")
        folder = plan.checkpoints_dir / name
        config_dict = cfg.shape.config_dict(gate, match_params=cfg.match_params)
        export_checkpoint(model, config_dict, folder, tokenizer_dir=tokenizer_dir,
                          card=model_card(name, record, cfg, provenance))
        result.roundtrip[variant] = check_roundtrip(model, folder, device=device, tokens=probe)
        log(f"[{variant}] wrote {folder}; reloaded through the paper-format loader: identical bf16 weights, "
            f"max |logit diff| vs the fp32 model {result.roundtrip[variant]['max_abs_logit_diff_vs_fp32']:.3g}")
        result.records[variant], result.scores[variant], result.folders[variant] = record, scores, folder
        _write_history(plan.records_dir / f"{name}.history.json", record)
        del model
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    reference = result.scores.get("baseline", baseline_scores)
    if reference is not None:
        for variant, scores in result.scores.items():
            if variant != "baseline":
                result.paired[variant] = paired_ppl(reference, scores, seed=cfg.seed)
    _write_report(result, provenance)
    return result


def _write_history(path: Path, record: TrainRecord) -> None:
    strict_json.write(path, {"losses": record.losses, "grad_norms": record.grad_norms, "lrs": record.lrs,
                             "heldout": record.heldout}, indent=None)


def _write_report(result: TrioResult, provenance: Provenance) -> None:
    plan = result.plan
    curves = {v: r.losses for v, r in result.records.items()}
    norms = {v: r.grad_norms for v, r in result.records.items()}
    cfg = plan.config
    title = (f"{plan.name}: {next(iter(result.records.values())).n_parameters / 1e6:.1f}M params, "
             f"{cfg.total_tokens / 1e6:.1f}M tokens, lr {cfg.lr:g} (gated x{cfg.gated_lr_multiplier:g}), seed {cfg.seed}")
    plot_losses(curves, plan.records_dir / f"{plan.name}-loss.png", title=title, grad_norms=norms,
                tokens_per_step=cfg.tokens_per_step)
    report = {
        "trio": plan.name, "config": cfg.to_json(), "provenance": provenance.to_json(),
        "variants": {v: r.summary() for v, r in result.records.items()},
        "heldout_paired_vs_baseline": result.paired,
        "heldout_scores": {v: s.to_json() for v, s in result.scores.items()},
        "roundtrip": result.roundtrip,
        "checkpoints": {v: str(p) for v, p in result.folders.items()},
    }
    strict_json.write(plan.records_dir / f"{plan.name}-trio.json", report, default=str)
