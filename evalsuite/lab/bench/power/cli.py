"""``python -m evalsuite.lab.bench.power fixture|table|choose|interaction``: parse, call, write the page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite.lab.bench.power.choice import choice_section, with_choice, with_section
from evalsuite.lab.bench.power.fixture import make_fixture
from evalsuite.lab.bench.power.interaction import INTERACTION_HEADING, interaction_section
from evalsuite.lab.bench.power.table import power_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.power")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("--smollm2-mmlu-run", type=Path)
    f.add_argument("--smollm2-hellaswag-run", type=Path)
    f.add_argument("--mini-run", type=Path, required=True)
    f.add_argument("--mini-models", default="small-lr2-baseline,small-lr2-headwise,small-lr2-elementwise")
    f.add_argument("--data", type=Path, required=True)
    f.add_argument("--out", type=Path, default=Path("tests/stats/data/per_item.npz"))
    t = sub.add_parser("table")
    t.add_argument("--fixture", type=Path, default=Path("tests/stats/data/per_item.npz"))
    t.add_argument("--sims", type=int, default=400)
    t.add_argument("--resamples", type=int, default=999)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--discordance", type=float, default=0.15)
    t.add_argument("--out", type=Path, default=Path("results/stats/power.md"))
    c = sub.add_parser("choose", help="(re)write the choice section of an existing power.md from its table")
    c.add_argument("--table", type=Path, default=Path("results/stats/power.md"))
    i = sub.add_parser("interaction", help="(re)write power.md's A/A section of the RULER length trend test")
    i.add_argument("--run", type=Path, required=True, help="a run folder with two models' RULER at >= 3 lengths")
    i.add_argument("--reference", required=True)
    i.add_argument("--candidate", required=True)
    i.add_argument("--sims", type=int, default=400)
    i.add_argument("--resamples", type=int, default=499)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--table", type=Path, default=Path("results/stats/power.md"))
    args = p.parse_args(argv)
    if args.cmd == "interaction":
        command = "python -m evalsuite.lab.bench.power " + " ".join(argv if argv is not None else sys.argv[1:])
        section = interaction_section(args.run, args.reference, args.candidate, sims=args.sims,
                                      n_resamples=args.resamples, seed=args.seed, command=command)
        args.table.write_text(with_section(args.table.read_text(), INTERACTION_HEADING, section))
        print(section)
        return 0
    if args.cmd == "choose":
        args.table.write_text(with_choice(args.table.read_text()))
        print(choice_section(args.table.read_text()))
        return 0
    if args.cmd == "fixture":
        runs = {t: r for t, r in (("es_mmlu", args.smollm2_mmlu_run), ("es_hellaswag", args.smollm2_hellaswag_run))
                if r is not None}
        make_fixture(runs, args.mini_run, args.mini_models.split(","), args.data, args.out)
        return 0
    command = "python -m evalsuite.lab.bench.power " + " ".join(argv if argv is not None else sys.argv[1:])
    text = with_choice(power_table(args.fixture, sims=args.sims, n_resamples=args.resamples, seed=args.seed,
                                   discordance=args.discordance, command=command))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0
