"""``evalsuite check --reference REF --candidate CAND [--margin metric=value ...] [--alpha A] [--summary-out FILE]``.

Exit codes (a contract CI relies on): 0 no regression, 1 a metric is significantly worse by
more than its margin, 2 could not decide (bad input, a missing or incomplete candidate, records
that do not pair, an unknown metric in --margin, an I/O error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite.check._gate import DEFAULT_MARGINS, SIGNALS, check
from evalsuite.compare._cli import parse_args, parse_pairs
from evalsuite.errors import EvalsuiteError
from evalsuite.records import atomic_write_text


def main_check(argv: list[str]) -> int:
    defaults = ", ".join(f"{k}={v:g}" for k, v in DEFAULT_MARGINS.items())
    p = argparse.ArgumentParser(
        prog="evalsuite check",
        description="CI regression gate: exit 1 when a candidate metric is significantly worse than the "
                    "reference by more than its margin, 0 otherwise, 2 when it cannot decide (bad input, "
                    "an incomplete candidate, I/O errors).")
    p.add_argument("--reference", required=True, type=Path, help="reference run folder (or suite folder)")
    p.add_argument("--candidate", required=True, type=Path, help="candidate run folder (or suite folder)")
    p.add_argument("--margin", action="append", default=[], metavar="METRIC=VALUE",
                   help=f"allowed degradation per metric or glob (fractions for scores, nats for log_ppl); "
                        f"defaults: {defaults}")
    p.add_argument("--alpha", type=float, default=0.05, help="one-sided significance level (default 0.05)")
    p.add_argument("--model", action="append", default=[], metavar="CAND=REF",
                   help="check candidate model CAND against reference model REF (default: same names)")
    p.add_argument("--correction", choices=("holm", "none"), default="holm",
                   help="multiplicity adjustment over all tests (default holm)")
    p.add_argument("--resamples", type=int, default=10_000, help="sign-flip draws (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0: reproducible verdicts)")
    p.add_argument("--allow-missing", action="store_true",
                   help="check only what the candidate has when it lacks reference units or is not complete "
                        "(the summary lists what was not checked); without it that is exit 2")
    p.add_argument("--signal", choices=SIGNALS, default="accuracy",
                   help="regression signal of multiple-choice tasks: the accuracy (default) or its continuous "
                        "companion (the leaderboard's margin or p(gold) row; pgold is an alias), gated with its "
                        "own margin (e.g. --margin hellaswag_margin=0.2)")
    p.add_argument("--summary-out", type=Path, help="also write the markdown summary here (PR comment)")
    args = parse_args(p, argv)
    if isinstance(args, int):
        return args
    try:
        result = check(args.reference, args.candidate, margins=parse_pairs(args.margin, "--margin"), alpha=args.alpha,
                       model_map=parse_pairs(args.model, "--model"), correction=args.correction,
                       n_resamples=args.resamples, rng=args.seed, allow_missing=args.allow_missing,
                       signal=args.signal)
        summary = result.to_markdown()
        if args.summary_out:
            atomic_write_text(args.summary_out, summary)
    except EvalsuiteError as exc:
        print(f"evalsuite check: error: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(summary)
    return result.exit_code
