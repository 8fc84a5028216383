"""How much of RULER's prefill a shared-prefix cache could save, from the actual prompts (CPU, no model).

    python -m evalsuite.lab.bench.prefix_share --data DATA --tokenizer TOKENIZER_DIR --length 4096 --samples 20

Issue 15 asks to prefill a haystack prefix shared by samples of one task and length once, "if the measurement
shows it pays". This is that measurement's upper bound: the suite's own samples (same generator and seed) are
tokenised, and each sample is credited with its longest common token prefix with any earlier sample of its
task (what a prefix tree over the batch could reuse). Reported per task: the share of prompt tokens, and the
share of prefill FLOPs (the paper-shaped 1.72B's forward FLOPs of those prefix tokens, attention included,
over the prompts' FLOPs) that reuse would skip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from evalsuite.lab.bench.flops import causal_keys, forward_flops
from evalsuite.lab.bench.protocol import paper_shape
from evalsuite.lab.bench.shared_prefix import common_prefix


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoTokenizer

    from evalsuite.families.ruler.generate import TASKS, NotRun, RulerDataPaths, generate

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.prefix_share", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--samples", type=int, default=20)
    args = p.parse_args(argv)
    tok = AutoTokenizer.from_pretrained(str(args.tokenizer))
    shape = paper_shape()
    paths = RulerDataPaths.from_dir(args.data)
    totals = [0, 0, 0.0, 0.0]
    print(f"| task | prompt tokens | shareable tokens | share | share of prefill FLOPs |\n|---|---:|---:|---:|---:|")
    for task in TASKS:
        got = generate(task, tokenizer=tok, length=args.length, n_samples=args.samples, seed=1234,
                       haystack_path=paths.essay, qa_paths=paths.qa, verify="spot")
        if isinstance(got, NotRun):
            continue
        ids = [tok(s.prompt, add_special_tokens=False)["input_ids"] for s in got]
        shared = [max((common_prefix(x, y) for y in ids[:i]), default=0) for i, x in enumerate(ids)]
        flops = sum(forward_flops(shape, tokens=len(x), attended_keys=causal_keys(0, len(x)), head_positions=1)
                    for x in ids)
        saved = sum(forward_flops(shape, tokens=k, attended_keys=causal_keys(0, k), head_positions=0)
                    for k in shared)
        row = [sum(map(len, ids)), sum(shared), flops, saved]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"| {task} | {row[0]:,} | {row[1]:,} | {row[1] / row[0]:.1%} | {saved / flops:.1%} |")
    print(f"| **all ({args.length:,} tokens, {args.samples} per task)** | {totals[0]:,} | {totals[1]:,} | "
          f"{totals[1] / totals[0]:.1%} | {totals[3] / totals[2]:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
