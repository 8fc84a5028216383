"""``results/bench/README.md`` from a benchmark record: one table per part, the command and provenance on top."""

from __future__ import annotations

from typing import Any


def _f(x: Any, fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _agreement(a: dict[str, Any] | None) -> str:
    if not a:
        return "–"
    dec = ""
    if a["n_decisions"]:
        dec = (f"; acc identical {a['decisions_identical']}/{a['n_decisions']} (ties {a['mismatch_ties']}, "
               f"near-ties {a['mismatch_near_ties']}, unexplained {a['mismatch_unexplained']})")
    return (f"{'OK' if a['ok'] else 'FAIL'}: {100 * a['within_tolerance']:.2f}% of {a['n_logliks']} logliks within "
            f"tol, max rel {a['max_rel_delta']:.1e}{dec}")


def scoring_table(workloads: dict[str, Any]) -> list[str]:
    rows = ["| workload | items (stock items) | stock s | evalsuite s | speedup | evalsuite req/s | useful tok/s "
            "| MFU evalsuite / stock | peak GiB evalsuite / stock | agreement (bf16 tolerance) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for key in ("hellaswag", "mmlu", "wikitext"):
        w = workloads.get(key)
        if not w:
            continue
        e, s = w["evalsuite"], w.get("stock") or {}
        if "speedup_full_estimate" in w:
            speed = (f"{w['speedup_full_estimate']:.1f}x (stock full est. {w['stock_full_estimate_s']:.0f} s); "
                     f"{w['speedup_measured']:.1f}x measured on the subset")
        else:
            speed = _f(w.get("speedup_measured"), "{:.1f}x")
        rows.append(f"| {key} | {e['items']} ({s.get('items', '–')}) | {_f(s.get('seconds'))} | {e['seconds']:.1f} "
                    f"| {speed} | {e['requests_per_s']:.0f} | {e['tokens_per_s']:.3g} | {_pct(e['mfu'])} / "
                    f"{_pct(s.get('mfu'))} | {_f(e['peak_gib'])} / {_f(s.get('peak_gib'))} "
                    f"| {_agreement(w.get('agreement'))} |")
        variants = [k[len("evalsuite_"):] for k in w if k.startswith("evalsuite_") and k != "evalsuite_on_stock_subset"]
        for name in variants:
            c = w[f"evalsuite_{name}"]
            rows.append(f"| {key}, variant {name} ({c.get('engine')}) | {c['items']} | – | {c['seconds']:.1f} "
                        f"| {_f(w.get(f'speedup_{name}'), '{:.1f}x')} | {c['requests_per_s']:.0f} "
                        f"| {c['tokens_per_s']:.3g} | {_pct(c['mfu'])} / – | {_f(c['peak_gib'])} / – "
                        f"| {_agreement(w.get(f'agreement_{name}'))} |")
    return rows


def ruler_table(workloads: dict[str, Any]) -> list[str]:
    rows = ["| sample | engine | seconds | first request s | x hw limit (limit s) | speedup vs stock | prefill tok/s "
            "| prefill MFU | decode ms/token | gen tokens | MFU | peak GiB | greedy tokens vs stock | decode step |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, w in workloads.items():
        if not key.startswith("ruler_") or "name" not in w:
            continue
        label = f"{w['length'] // 1024}K{' YaRN x%g' % w['yarn_factor'] if w['yarn_factor'] > 1 else ''} {w['gate']}"
        for eng in [k for k in w if k.startswith("evalsuite_")] + ["stock"]:
            r = w.get(eng)
            if not r:
                continue
            prefill = r.get("phases", {}).get("prefill_attention")
            eng = f"{eng} (prefill {prefill})" if prefill else eng
            agree = r.get("agreement")
            agree_s = "–" if agree is None else ("identical" if agree["identical"]
                                                 else f"differ from token {agree['first_difference']}")
            rows.append(f"| {label} | {eng} | {r['seconds']:.2f} | {_f(r.get('first_request_s'), '{:.2f}')} "
                        f"| {_f(r.get('x_hardware_limit'), '{:.2f}')} "
                        f"({_f(r.get('hardware_limit_s'), '{:.2f}')}) | {_f(r.get('speedup'), '{:.1f}x')} "
                        f"| {_f(r.get('prefill_tokens_per_s'), '{:.3g}')} | {_pct(r.get('prefill_mfu'))} "
                        f"| {_f(r.get('decode_ms_per_token'), '{:.2f}')} | {r['generated_tokens']} | {_pct(r['mfu'])} "
                        f"| {_f(r['peak_gib'])} | {agree_s} | {r.get('phases', {}).get('decode_engine', '–')} |")
    return rows


def quick_table(workloads: dict[str, Any]) -> list[str]:
    rows = ["| gate | task | seconds | useful tok/s | peak GiB | metrics |", "|---|---|---|---|---|---|"]
    for key, w in workloads.items():
        if not key.startswith("quick_"):
            continue
        for task, t in w["tasks"].items():
            metrics = ", ".join(f"{k.split('/')[-1]}={v:.3g}" for k, v in list(t.get("metrics", {}).items())[:4])
            rows.append(f"| {w['gate']} | {task} | {t['seconds']:.1f} | {t['tokens_per_s']:.3g} "
                        f"| {_f(t['peak_gib'])} | {metrics} |")
        d = w["diagnostics"]
        rows.append(f"| {w['gate']} | diagnostics ({d['tokens']} tokens) | {d['seconds']:.1f} | {d['tokens_per_s']:.3g} "
                    f"| {_f(d['peak_gib'])} | first-token share {d['first_token_share_mean']:.3g}, max act "
                    f"{d['max_abs_hidden_mean']:.3g}, gate {_f(d['gate_mean'], '{:.3f}')} |")
    return rows


def render(record: dict[str, Any], *, command: str) -> str:
    w = record.get("workloads", {})
    env = record.get("environment", {})
    lines = [f"# Benchmark: evalsuite vs stock lm-eval ({record.get('config', {}).get('name', '?')})", "",
             f"- command: `{command}`", f"- git commit: `{record.get('git_commit', '?')}`",
             f"- hardware: {env.get('gpu', env.get('cpu', '?'))}; torch {env.get('torch')}, transformers "
             f"{env.get('transformers')}, lm-eval {env.get('lm_eval')}", f"- date: {record.get('date', '?')}",
             f"- model: paper-shaped random Qwen3 ({record.get('model', {}).get('total_params', 0) / 1e9:.2f}B "
             f"parameters), {record.get('config', {}).get('dtype')}, sdpa", "",
             "## Loglikelihood workloads (same model, same items)", "", *scoring_table(w), "",
             "## RULER niah_single_1, one sample (issue 6 targets; issue 4 part 7 for the gated rows)", "",
             *ruler_table(w), "", "## Gate variants: quick tasks and diagnostics (issue 3 part 6)", "",
             *quick_table(w), ""]
    if record.get("errors"):
        lines += ["## Errors", ""] + [f"- `{k}`: {v.splitlines()[0]}" for k, v in record["errors"].items()] + [""]
    return "\n".join(lines)
