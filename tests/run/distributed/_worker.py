"""torchrun worker for test_two_process.py: the suite loop (run_suite) on two ranks, optionally with rank 1 dying.

    torchrun --standalone --nproc_per_node 2 tests/run/distributed/_worker.py --suite S.json --run-dir R \
        --data D --tasks T [--die-at TASK]

Each rank writes ``<run-dir>.rank<r>.json``: how many requests its inner LM computed per task.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    for flag in ("--suite", "--run-dir", "--data", "--tasks"):
        p.add_argument(flag, required=True)
    p.add_argument("--die-at", help="rank 1 exits abruptly at its first model call in this task")
    a = p.parse_args()

    from evalsuite.run import RunOptions, run_suite, runner
    from evalsuite.run.distributed import distributed_run_hooks, shutdown
    from evalsuite.spec import parse_suite

    dist = distributed_run_hooks()
    computed: dict[str, int] = {}
    real_run_unit = runner._run_unit

    def run_unit(suite, mspec, tspec, loaded, lm, *args, **kwargs):  # count (or die in) the inner LM's calls
        task = tspec.task
        computed[task] = 0
        for method in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            real = getattr(type(lm.inner), method)

            def counted(requests, *a_, _real=real, **kw):
                if dist.rank == 1 and task == a.die_at:
                    os._exit(17)  # no cleanup, no exception: as a crashed or OOM-killed process
                computed[task] += len(requests)
                return _real(lm.inner, requests, *a_, **kw)

            setattr(lm.inner, method, counted)
        return real_run_unit(suite, mspec, tspec, loaded, lm, *args, **kwargs)

    runner._run_unit = run_unit
    run_dir = Path(a.run_dir)
    suite = parse_suite({**json.loads(Path(a.suite).read_text()), "output_dir": str(run_dir.parent)})
    run_suite(suite, RunOptions(run_id=run_dir.name, data_dir=Path(a.data), task_dirs=(Path(a.tasks),),
                                log=lambda s: print(f"[rank {dist.rank}] {s}", flush=True)))
    Path(f"{run_dir}.rank{dist.rank}.json").write_text(json.dumps(computed))
    shutdown()

if __name__ == "__main__":
    main()
