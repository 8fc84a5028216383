"""``evalsuite compare RUN... [--baseline cand=base] [--correction holm|bh] [--format text|csv|json|markdown]``.

:func:`parse_args` and :func:`parse_pairs` are shared: ``evalsuite publish`` and
``evalsuite check`` take the same run, baseline and correction options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite.compare.display import deltas_frame
from evalsuite.compare.format import escape_markdown
from evalsuite.compare.table import ComparisonTable, as_runs, compare_runs
from evalsuite.errors import EvalsuiteError, SpecError
from evalsuite.records import atomic_write_text, load_run
from evalsuite.strict_json import frame_json


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """``["a=b", ...]`` -> ``{"a": "b"}``; SpecError naming the bad value."""
    out: dict[str, str] = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise SpecError(f"{option} {value!r}: expected NAME=NAME")
        out[left.strip()] = right.strip()
    return out


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """argparse without sys.exit: the exit code on --help or a usage error."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def render(table: ComparisonTable, fmt: str) -> str:
    if fmt == "csv":
        return table.to_frame().to_csv(index=False)
    if fmt == "json":
        return frame_json(table.to_frame(), where="the comparison table", orient="records", indent=2) + "\n"
    shown = deltas_frame(table)
    if fmt == "markdown":
        head = ("| " + " | ".join(escape_markdown(c) for c in shown.columns) + " |\n|"
                + "---|" * len(shown.columns) + "\n")
        body = "".join("| " + " | ".join(escape_markdown(v) for v in row) + " |\n" for row in shown.itertuples(
            index=False))
        text = head + body
    else:
        text = shown.to_string(index=False) + "\n" if len(shown) else "no comparisons\n"
    legend = (f"p: two-sided paired test; p_adj: {table.correction} over all {len(table.rows)} rows; "
              "sig: * p_adj<0.05, ** <0.01, *** <0.001\n")
    return text + legend + "".join(f"note: {n}\n" for n in table.notes)


def main_compare(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="evalsuite compare",
                                description="Paired tests of each model against its baseline.")
    p.add_argument("runs", nargs="+", help="run folders (or suite folders: their latest run)")
    p.add_argument("--baseline", action="append", default=[], metavar="MODEL=BASE",
                   help="compare MODEL with BASE (overrides the suite's roles/compare_to; repeatable)")
    p.add_argument("--correction", choices=("holm", "bh"), default="holm")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap/permutation draws (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0: reproducible)")
    p.add_argument("--format", choices=("text", "csv", "json", "markdown"), default="text")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parse_args(p, argv)
    if isinstance(args, int):
        return args
    try:
        runs = as_runs(list(args.runs))
        table = compare_runs(runs, baselines=parse_pairs(args.baseline, "--baseline"),
                             correction=args.correction, alpha=args.alpha, n_resamples=args.resamples,
                             rng=args.seed)
        text = render(table, args.format)
        if args.out:
            atomic_write_text(args.out, text)
        else:
            sys.stdout.write(text)
        failed = failed_units(args.runs, {m for pair in table.pairs for m in pair})
    except EvalsuiteError as exc:
        print(f"evalsuite compare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if failed:  # the table says "not compared"; the exit code must not say "all good"
        print(f"evalsuite compare: error: {len(failed)} unit(s) failed and are not compared; first: {failed[0]}",
              file=sys.stderr)
        return 2
    for run in runs:
        if run.manifest.status != "complete":
            print(f"evalsuite compare: warning: run {run.path} is {run.manifest.status}, not complete; its missing "
                  "units are not compared", file=sys.stderr)
    if not table.rows:  # "no comparisons" is not a result a script may take for success
        print("evalsuite compare: error: nothing could be compared (see the notes above)", file=sys.stderr)
        return 2
    return 0


def failed_units(runs: list[str], models: set[str]) -> list[str]:
    """``"model/task: error"`` for each unit of ``models`` in the runs whose status is ``error``."""
    out = []
    for path in runs:
        run = load_run(path, with_samples=False)
        out += [f"{m}/{t}: {u.error}" for (m, t), u in run.units.items() if m in models and u.status == "error"]
    return out
