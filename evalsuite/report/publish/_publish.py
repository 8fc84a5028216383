"""``publish``: run records in, ``LEADERBOARD.md`` + PNG plots + CSV/JSON tables out.

Layout of ``out_dir`` (default: the suite folder of the first run, ``results/<suite>/``)::

    LEADERBOARD.md
    ruler_by_length.png, first_token_share.png, max_activation.png, gate_scores.png   (those with data)
    leaderboard/<table>.csv, leaderboard/<table>.json   (main, paper, deltas, ruler, ruler_tasks,
                                                         diagnostics, not_run; raw numbers)

Every file is written atomically; the markdown last, so its presence means the
rest is there. A run that is not complete is flagged at the top of the page; a unit
that failed (status ``error``: a model that did not load, numbers that went NaN or
infinite) has no row, is listed with its error, and makes the command exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from evalsuite.compare.cli import parse_args
from evalsuite.errors import EvalsuiteError, SpecError
from evalsuite.report.publish._collect import gather
from evalsuite.report.publish._plots import write_plots
from evalsuite.report.publish._render import render_leaderboard
from evalsuite.report.publish._tables import all_tables
from evalsuite.records import RunRecord, atomic_write_text
from evalsuite.strict_json import frame_json

LEADERBOARD = "LEADERBOARD.md"
TABLES_DIR = "leaderboard"


def publish(run_dirs: Sequence[Path | str | RunRecord], *, out_dir: Path | None = None, n_resamples: int = 10_000,
            seed: int = 0, correction: str = "holm", plots: bool = True) -> Path:
    """Write the leaderboard for the runs; returns the path of ``LEADERBOARD.md``.

    ``seed`` fixes every bootstrap and permutation draw, so publishing the same
    records twice gives the same page.
    """
    return _publish(run_dirs, out_dir=out_dir, n_resamples=n_resamples, seed=seed, correction=correction,
                    plots=plots)[0]


def _publish(run_dirs: Sequence[Path | str | RunRecord] | Path | str | RunRecord, *, out_dir: Path | None,
             n_resamples: int, seed: int, correction: str, plots: bool) -> tuple[Path, bool, list[str]]:
    """publish(), also saying whether every run was complete, and which units failed ("model/task: error")."""
    if isinstance(run_dirs, (str, Path, RunRecord)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise SpecError("publish needs at least one run folder")
    lb = gather(run_dirs, n_resamples=n_resamples, seed=seed, correction=correction)
    out = Path(out_dir) if out_dir is not None else Path(lb.runs[0].path).parent
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(lb)
    for name, table in tables.items():
        atomic_write_text(out / TABLES_DIR / f"{name}.csv", table.raw.to_csv(index=False))
        where = out / TABLES_DIR / f"{name}.json"
        atomic_write_text(where, frame_json(table.raw, where=str(where), orient="records", indent=2) + "\n")
    written = write_plots(lb, out) if plots else {}
    path = out / LEADERBOARD
    atomic_write_text(path, render_leaderboard(lb, tables, written))
    failed = [f"{m.name}/{task}: {reason}" for m in lb.models for task, (status, reason) in m.unfinished.items()
              if status == "error"]
    return path, lb.complete, failed


def main_publish(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="evalsuite publish",
                                description="Write LEADERBOARD.md, PNG plots and CSV/JSON tables from runs.")
    p.add_argument("runs", nargs="+", help="run folders (or suite folders: their latest run)")
    p.add_argument("--out", type=Path, help="output folder (default: the suite folder of the first run)")
    p.add_argument("--correction", choices=("holm", "bh"), default="holm")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap/permutation draws (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0: the same page every time)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parse_args(p, argv)
    if isinstance(args, int):
        return args
    try:
        path, complete, failed = _publish(args.runs, out_dir=args.out, n_resamples=args.resamples,
                                          seed=args.seed, correction=args.correction, plots=not args.no_plots)
    except EvalsuiteError as exc:
        print(f"evalsuite publish: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"leaderboard: {path}")
    if failed:  # the page lists them without a row; the exit code must not say "all good"
        print(f"evalsuite publish: error: {len(failed)} unit(s) failed and have no row on the page; "
              f"first: {failed[0]}", file=sys.stderr)
        return 2
    if not complete:
        print("evalsuite publish: warning: a run is not complete; the page says so at the top", file=sys.stderr)
    return 0
