"""One table over every trained variant of a plan (summary.json / summary.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalsuite.lab.zoo.curves import SPIKE_THRESHOLD_NATS

if TYPE_CHECKING:
    from evalsuite.lab.zoo.trio import TrioResult


def summary_rows(results: dict[str, "TrioResult"]) -> list[dict[str, Any]]:
    """One row per (trio, variant): size, budget, speed, losses, spikes, paired held-out test vs the baseline."""
    rows: list[dict[str, Any]] = []
    for trio, result in results.items():
        cfg = result.plan.config
        for variant, rec in result.records.items():
            held = rec.final_heldout or {}
            paired = result.paired.get(variant, {})
            rows.append({
                "model": f"{trio}-{variant}", "trio": trio, "gate": rec.gate, "parameters": rec.n_parameters,
                "non_embedding": rec.n_non_embedding, "ffn": rec.ffn, "peak_lr": rec.lr, "steps": rec.steps,
                "tokens": rec.tokens, "epochs": round(rec.epochs, 3), "seq_len": cfg.seq_len,
                "batch_tokens": cfg.tokens_per_step, "train_seconds": round(rec.train_seconds, 2),
                "tokens_per_s": round(rec.tokens_per_s), "mfu": round(rec.mfu, 4),
                "final_train_loss": round(rec.final_train_loss, 4),
                "heldout_loss": held.get("loss"), "heldout_ppl": held.get("perplexity"),
                "heldout_tokens": held.get("tokens"),
                "spikes": (rec.spikes or {}).get("count_by_threshold", {}).get(str(SPIKE_THRESHOLD_NATS)),
                "spikes_by_threshold": (rec.spikes or {}).get("count_by_threshold"),
                "heldout_ppl_ratio_vs_baseline": paired.get("ppl_ratio"),
                "heldout_ppl_ratio_ci95": paired.get("ppl_ratio_ci95"),
                "heldout_pvalue": paired.get("pvalue"),
                "roundtrip": result.roundtrip.get(variant),
                "compiled": rec.compiled, "device": rec.device,
            })
    return rows


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def summary_markdown(rows: list[dict[str, Any]], results: dict[str, "TrioResult"]) -> str:
    lines = ["# Zoo training summary", "",
             f"Loss spike: a step more than {SPIKE_THRESHOLD_NATS} nats above the median of the previous 50 steps' "
             "losses (counts at 0.1 / 0.2 / 0.5 nats in the last column). MFU: 6 x parameters x tokens/s / 790 TFLOP/s. "
             "Held-out: the 21 books of valid-000 (paired test over books, the harness's sign-flip test and "
             "bootstrap CI of the log-PPL difference).", "",
             "| model | params | FFN | peak lr | steps | tokens | s | tokens/s | MFU | train loss | held-out PPL "
             "| PPL ratio vs baseline [95% CI] | p | spikes (0.1/0.2/0.5) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in rows:
        ci = r["heldout_ppl_ratio_ci95"]
        ratio = (f"{r['heldout_ppl_ratio_vs_baseline']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"
                 if r["heldout_ppl_ratio_vs_baseline"] is not None else "–")
        spikes = "/".join(str(v) for v in (r["spikes_by_threshold"] or {}).values())
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['ffn']} | {r['peak_lr']:g} | {r['steps']} | "
                     f"{r['tokens']:,} | {r['train_seconds']:.1f} | {r['tokens_per_s']:,} | {r['mfu']:.1%} | "
                     f"{r['final_train_loss']:.4f} | {_num(r['heldout_ppl'], '.2f')} | {ratio} | "
                     f"{_num(r['heldout_pvalue'], '.4f')} | {spikes} |")
    lines += ["", "Loss curves: " + ", ".join(f"`{t}-loss.png`" for t in results), ""]
    return "\n".join(lines)
