"""torchrun worker for test_two_process.py: the data-parallel unit loop, optionally with rank 1 dying.

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

    from evalsuite.run.distributed import distributed_run_hooks, shutdown
    from evalsuite.run.distributed._loop import LoopConfig, run_units
    from evalsuite.spec import parse_suite

    dist = distributed_run_hooks()
    computed: dict[str, int] = {}

    def on_unit(model: str, task: str, lm) -> None:
        computed[task] = 0
        for method in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            real = getattr(type(lm.inner), method)

            def counted(requests, *args, _real=real, **kwargs):
                if dist.rank == 1 and task == a.die_at:
                    os._exit(17)  # no cleanup, no exception: as a crashed or OOM-killed process
                computed[task] += len(requests)
                return _real(lm.inner, requests, *args, **kwargs)

            setattr(lm.inner, method, counted)

    run_dir = Path(a.run_dir)
    cfg = LoopConfig(run_dir=run_dir, data_dir=Path(a.data), extra_task_dirs=(Path(a.tasks),), on_unit=on_unit)
    run_units(parse_suite(json.loads(Path(a.suite).read_text())), cfg, dist,
              log=lambda s: print(f"[rank {dist.rank}] {s}", flush=True))
    Path(f"{run_dir}.rank{dist.rank}.json").write_text(json.dumps(computed))
    shutdown()


if __name__ == "__main__":
    main()
