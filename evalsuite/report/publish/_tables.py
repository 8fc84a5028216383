"""The leaderboard's tables, each twice: raw numbers (CSV/JSON) and display strings (markdown).

Display strings are not escaped here; the template escapes every cell. Scores
are shown in points (percent) with ``±`` half the width of the 95 % bootstrap
percentile interval; the raw tables keep the exact bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from evalsuite.compare.display import deltas_frame
from evalsuite.compare.family import RULER_GROUPS, is_ruler
from evalsuite.compare.format import fmt_num
from evalsuite.compare.paper import PAPER_GATE_SCORES, PAPER_ROWS
from evalsuite.compare.tests import ScoreEstimate
from evalsuite.families.ruler.family import length_label
from evalsuite.report.publish._collect import Leaderboard, ruler_lengths

MISSING = "–"


@dataclass(frozen=True)
class Table:
    name: str  # file stem of its CSV/JSON
    raw: pd.DataFrame
    display: pd.DataFrame
    align: tuple[str, ...]  # "l" or "r" per display column

    @property
    def rows(self) -> list[list[str]]:
        return [list(map(str, r)) for r in self.display.itertuples(index=False)]

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.display.columns]


def _aligned(frame: pd.DataFrame, n_left: int) -> tuple[str, ...]:
    return tuple("l" if i < n_left else "r" for i in range(len(frame.columns)))


def cell(est: ScoreEstimate | None, *, percent: bool, digits: int = 2) -> str:
    """``value ± half-width`` of its interval, ``–`` when absent."""
    if est is None or not math.isfinite(est.value):
        return MISSING
    scale = 100.0 if percent else 1.0
    return f"{fmt_num(scale * est.value, digits)} ± {fmt_num(scale * (est.high - est.low) / 2, digits)}"


# (metric key, display header, percent?, digits) of the main table, the paper's table 1 columns.
def _main_columns(lb: Leaderboard) -> list[tuple[str, str, bool, int]]:
    unit = f", per {lb.ppl_unit}" if lb.ppl_unit else ""
    return [("log_ppl", f"PPL (WikiText-2{unit}) ↓", False, 3), ("mmlu_acc", "MMLU ↑", True, 2),
            ("hellaswag_acc_norm", "HellaSwag (acc_norm) ↑", True, 2), ("ruler_32768", "RULER 32K ↑", True, 2),
            ("ruler_131072", "RULER 128K ↑", True, 2)]


def main_table(lb: Leaderboard) -> Table:
    columns = _main_columns(lb)
    raw_rows, shown = [], []
    for m in lb.models:
        raw = {"model": m.name, "role": m.role, "run_id": m.run_id}
        for key, _, _, _ in columns:
            est = m.scores.get(key)
            raw[key] = est.value if est else None
            raw[f"{key}_ci_low"] = est.low if est else None
            raw[f"{key}_ci_high"] = est.high if est else None
            raw[f"{key}_n"] = est.n if est else None
        raw["ppl_unit"] = lb.ppl_unit
        raw_rows.append(raw)
        shown.append([m.name, m.role, *(cell(m.scores.get(k), percent=p, digits=d) for k, _, p, d in columns)])
    display = pd.DataFrame(shown, columns=["Model", "Role", *(h for _, h, _, _ in columns)])
    return Table("main", pd.DataFrame(raw_rows), display, _aligned(display, 2))


def _paper_num(value: float | None, digits: int) -> str:
    return MISSING if value is None else fmt_num(value, digits)


def paper_table() -> Table:
    raw = [{"model": r.model, "ppl": r.ppl, "mmlu": r.mmlu, "hellaswag": r.hellaswag, "ruler_128k": r.ruler_128k,
            "first_token_share": r.first_token_share, "max_activation": r.max_activation, "gate_score": None}
           for r in PAPER_ROWS]
    raw += [{"model": f"{kind} gate (mean gate score)", "gate_score": score} for kind, score in PAPER_GATE_SCORES]
    frame = pd.DataFrame(raw, columns=list(raw[0]))
    shown = [[f"paper: {r['model']}", _paper_num(r["ppl"], 3), _paper_num(r["mmlu"], 2),
              _paper_num(r["hellaswag"], 2), _paper_num(r["ruler_128k"], 2), _paper_num(r["first_token_share"], 3),
              _paper_num(r["max_activation"], 0), _paper_num(r["gate_score"], 3)]
             for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]
    display = pd.DataFrame(shown, columns=["Model (paper)", "PPL (paper's held-out sets)", "MMLU", "HellaSwag",
                                           "RULER 128K (YaRN)", "first-token attention", "max activation",
                                           "mean gate score"])
    return Table("paper", frame, display, _aligned(display, 1))


def deltas_table(lb: Leaderboard) -> Table:
    display = deltas_frame(lb.comparison)
    return Table("deltas", lb.comparison.to_frame(), display, _aligned(display, 3))


def ruler_table(lb: Leaderboard) -> Table:
    """Models as rows, lengths as columns: the paper's table 5 (each length averaged over tasks)."""
    lengths = ruler_lengths(lb.models)
    raw, shown = [], []
    for m in lb.models:
        if not any(f"ruler_{n}" in m.scores for n in lengths):
            if any(is_ruler(t) for t in m.unfinished):  # asked for but not run: a row of dashes, never dropped
                shown.append([m.name, *(MISSING for _ in lengths)])
            continue
        for n in lengths:
            est = m.scores.get(f"ruler_{n}")
            raw.append({"model": m.name, "length": n, "score": est.value if est else None,
                        "ci_low": est.low if est else None, "ci_high": est.high if est else None,
                        "n": est.n if est else None})
        shown.append([m.name, *(cell(m.scores.get(f"ruler_{n}"), percent=True) for n in lengths)])
    display = pd.DataFrame(shown, columns=["Model", *(length_label(n) for n in lengths)])
    return Table("ruler", pd.DataFrame(raw, columns=["model", "length", "score", "ci_low", "ci_high", "n"]),
                 display, _aligned(display, 1))


def ruler_tasks_table(lb: Leaderboard) -> Table:
    """One row per (model, RULER task): per-length scores, or why the task did not run."""
    lengths = ruler_lengths(lb.models)
    raw, shown = [], []
    for m in lb.models:
        for group, label in RULER_GROUPS.items():  # a group unit that did not run: all its tasks at once
            if group not in m.unfinished:
                continue
            status, why = m.unfinished[group]
            why = why if why.startswith(status.replace("_", " ")) else f"{status}: {why}"
            raw.append({"model": m.name, "task": group, "length": None, "score": None, "n": None, "status": why})
            shown.append([m.name, label, *(MISSING for _ in lengths), why])
        tasks = sorted({t for t, _ in m.ruler_tasks} | set(m.ruler_not_run))
        for task in tasks:
            why = m.ruler_not_run.get(task, "")
            values = [m.ruler_tasks.get((task, n)) for n in lengths]
            for n, v in zip(lengths, values, strict=True):
                raw.append({"model": m.name, "task": task, "length": n, "score": v[0] if v else None,
                            "n": v[1] if v else None, "status": why or "complete"})
            if not lengths:
                raw.append({"model": m.name, "task": task, "length": None, "score": None, "n": None,
                            "status": why or "complete"})
            shown.append([m.name, task.removeprefix("ruler_es_"),
                          *(fmt_num(100 * v[0], 1) if v else MISSING for v in values), why])
    display = pd.DataFrame(shown, columns=["Model", "Task", *(length_label(n) for n in lengths), "Status"])
    return Table("ruler_tasks", pd.DataFrame(raw, columns=["model", "task", "length", "score", "n", "status"]),
                 display, tuple(["l", "l", *("r" for _ in lengths), "l"]))


def diagnostics_table(lb: Leaderboard) -> Table:
    keys = ["first_token_share_mean", "max_abs_hidden_mean", "max_abs_hidden_max", "gate_mean",
            "gate_frac_below_0_1"]
    digits = [4, 2, 2, 3, 3]
    models = [m for m in lb.models if m.diagnostics]
    raw = pd.DataFrame([{"model": m.name, **{k: m.diagnostics.get(k) for k in keys}} for m in models],
                       columns=["model", *keys])
    shown = [[m.name, *(fmt_num(m.diagnostics.get(k), d) if k in m.diagnostics else MISSING
                        for k, d in zip(keys, digits, strict=True))] for m in models]
    display = pd.DataFrame(shown, columns=["Model", "first-token attention share (mean over layers)",
                                           "max |hidden| (mean over layers)", "max |hidden| (max over layers)",
                                           "mean gate score", "fraction of gate scores below 0.1"])
    kinds = {m.name: layer_kinds_label(m.diagnostics_extra) for m in models}
    if any(kinds.values()):  # a hybrid model: say which layers the share is over (softmax ones only)
        raw.insert(1, "layers", [kinds[m.name] for m in models])
        display.insert(1, "Layers", [kinds[m.name] or "all softmax attention" for m in models])
    return Table("diagnostics", raw, display, _aligned(display, 2 if "Layers" in display else 1))


def layer_kinds_label(extra: dict | None) -> str:
    """"4 layers: 2 softmax attention (1, 3), 2 linear attention" for a hybrid model; "" when every layer has
    softmax attention (or the record predates layer kinds)."""
    kinds = (extra or {}).get("layer_kinds") or []
    softmax = [i for i, k in enumerate(kinds) if k == "attention"]
    if len(softmax) == len(kinds):
        return ""
    return (f"{len(kinds)} layers: {len(softmax)} softmax attention ({', '.join(map(str, softmax))}), "
            f"{len(kinds) - len(softmax)} linear attention (no first-token share)")


def not_run_table(lb: Leaderboard) -> Table:
    rows = []
    for m in lb.models:
        for task, (status, why) in sorted(m.unfinished.items()):
            rows.append({"model": m.name, "task": task, "status": status, "reason": why})
        for task, why in sorted(m.ruler_not_run.items()):
            if task not in m.unfinished:
                rows.append({"model": m.name, "task": task, "status": "not_run", "reason": why})
    raw = pd.DataFrame(rows, columns=["model", "task", "status", "reason"])
    display = raw.rename(columns=str.capitalize)
    return Table("not_run", raw, display, _aligned(display, 4))


def all_tables(lb: Leaderboard) -> dict[str, Table]:
    tables = [main_table(lb), paper_table(), deltas_table(lb), ruler_table(lb), ruler_tasks_table(lb),
              diagnostics_table(lb), not_run_table(lb)]
    return {t.name: t for t in tables}
