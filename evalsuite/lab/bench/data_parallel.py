"""Data-parallel speedup: the same suite with 1 and with N processes; records must agree (scores to float rounding).

    python -m evalsuite.lab.bench.data_parallel SUITE.yaml --nproc 8 [--data DIR] [--out DIR]   # on a GPU node
    python -m evalsuite.lab.bench.data_parallel --tiny --nproc 2                               # CPU smoke test

Each configuration runs in its own launch (``torchrun --standalone`` for N > 1)
into its own run folder; the figure is the unit loop's wall time on rank 0
(model loading included; interpreter start and process-group setup excluded:
the launch's whole wall time is reported too). On CPU the processes share
the same cores (each gets cores/N threads), so the CPU "speedup" only proves
the machinery works; the output says which device it measured.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evalsuite import strict_json

TIMING_FILE = "bench_timing.json"


def _worker(argv: list[str]) -> int:
    """One launch: run the suite's units into --run-dir; rank 0 writes the loop's timing."""
    p = argparse.ArgumentParser(prog="evalsuite.lab.bench.data_parallel worker")
    p.add_argument("--suite", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--data")
    a = p.parse_args(argv)
    t_start = time.perf_counter()
    from dataclasses import replace

    from evalsuite.run import RunOptions, run_suite
    from evalsuite.run.distributed import distributed_run_hooks, shutdown
    from evalsuite.spec import load_suite

    dist = distributed_run_hooks()
    run_dir = Path(a.run_dir)
    suite = replace(load_suite(a.suite), output_dir=str(run_dir.parent))  # the run folder is run_dir itself
    t_loop = time.perf_counter()
    run_suite(suite, RunOptions(run_id=run_dir.name, data_dir=Path(a.data) if a.data else None,
                                log=lambda s: print(f"[rank {dist.rank}] {s}", flush=True)))
    loop_s = time.perf_counter() - t_loop
    if dist.is_main:
        units = strict_json.read(run_dir / "manifest.json")["units"]
        per_unit = {k: u["seconds"] for k, u in units.items() if "seconds" in u}
        strict_json.write(run_dir / TIMING_FILE,
                          {"world_size": dist.world_size, "loop_seconds": round(loop_s, 3),
                           "startup_seconds": round(t_loop - t_start, 3), "unit_seconds": per_unit})
    shutdown()
    return 0


def _launch(nproc: int, suite: Path, run_dir: Path, data: Path | None, threads: int) -> float:
    worker = ["-m", "evalsuite.lab.bench.data_parallel", "worker", "--suite", str(suite), "--run-dir", str(run_dir)]
    worker += ["--data", str(data)] if data else []
    if nproc == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *worker]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def _samples_by_item(run_dir: Path) -> dict[tuple[str, str], dict[tuple[str, int], Any]]:
    from evalsuite.records import read_unit

    manifest = strict_json.read(run_dir / "manifest.json")
    out = {}
    for key in manifest["units"]:
        model, task = key.split("/", 1)
        unit = read_unit(run_dir, model, task)
        if unit is not None:
            out[(model, task)] = {(s.task, s.doc_id): s for s in unit.samples or []}
    return out


def compare_runs(a: Path, b: Path) -> dict[str, Any]:
    """Per unit: items, items whose scores and responses are bit-identical, the largest score difference."""
    ra, rb = _samples_by_item(a), _samples_by_item(b)
    report: dict[str, Any] = {}
    for unit in sorted(set(ra) | set(rb)):
        sa, sb = ra.get(unit, {}), rb.get(unit, {})
        same = sum(1 for k in sa if k in sb and sa[k].scores == sb[k].scores and sa[k].resps == sb[k].resps)
        diffs = [abs(sa[k].scores[m] - sb[k].scores[m]) for k in sa if k in sb for m in sa[k].scores
                 if m in sb[k].scores and math.isfinite(sa[k].scores[m]) and math.isfinite(sb[k].scores[m])]
        report["/".join(unit)] = {"items": len(sa), "items_other": len(sb), "identical_items": same,
                                  "max_abs_score_diff": max(diffs, default=0.0)}
    return report


def _tiny_suite(folder: Path) -> tuple[Path, Path]:
    """A tiny seeded model, the miniature data, and a three-unit suite over them (CPU, fp32)."""
    import yaml

    from evalsuite.families.miniature import write_miniature
    from evalsuite.models.tiny import write_tiny_checkpoint

    model = write_tiny_checkpoint(folder / "tiny", gate="headwise", seed=0)
    data = write_miniature(folder / "data")
    suite = {"name": "dp-bench-tiny", "seed": 1234,
             "models": [{"name": "tiny", "role": "baseline", "source": {"path": str(model)}, "max_length": 1024,
                         "device": "cpu", "dtype": "float32"}],
             "tasks": [{"task": "es_hellaswag", "limit": 16}, {"task": "es_wikitext", "limit": 6},
                       {"task": "es_mmlu_anatomy", "limit": 4, "shots": 1}]}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path, data


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return _worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.data_parallel", description=__doc__.split("\n")[0])
    p.add_argument("suite", nargs="?", help="suite YAML (lm_eval units are run)")
    p.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny model, miniature data, 3 units")
    p.add_argument("--nproc", type=int, default=2, help="processes for the parallel run (default 2)")
    p.add_argument("--data", help="data folder for the suite")
    p.add_argument("--out", help="output folder (default: a temporary folder)")
    a = p.parse_args(argv)
    if bool(a.suite) == a.tiny:
        p.error("give a suite YAML or --tiny (not both)")
    out = Path(a.out or tempfile.mkdtemp(prefix="dp-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    suite, data = _tiny_suite(out) if a.tiny else (Path(a.suite), Path(a.data) if a.data else None)

    import torch

    cuda = torch.cuda.is_available()
    cores = os.cpu_count() or 1
    wall = {1: _launch(1, suite, out / "np1", data, cores),
            a.nproc: _launch(a.nproc, suite, out / f"np{a.nproc}", data, max(1, cores // a.nproc))}
    timing = {n: strict_json.read(out / f"np{n}" / TIMING_FILE) for n in wall}
    units = compare_runs(out / "np1", out / f"np{a.nproc}")
    identical = all(u["identical_items"] == u["items"] == u["items_other"] for u in units.values())
    device = f"{torch.cuda.get_device_name(0)} (nccl)" if cuda else f"CPU, {cores} cores (gloo)"
    result = {
        "label": "GPU measurement" if cuda else "CPU figure: proves the machinery, NOT a GPU speedup",
        "device": device, "host": platform.node(), "suite": str(suite), "nproc": a.nproc,
        "loop_seconds": {str(n): t["loop_seconds"] for n, t in timing.items()},
        "launch_wall_seconds": {str(n): round(w, 3) for n, w in wall.items()},
        "speedup_loop": round(timing[1]["loop_seconds"] / timing[a.nproc]["loop_seconds"], 3),
        "speedup_wall": round(wall[1] / wall[a.nproc], 3),
        "records_identical": identical, "units": units,
    }
    strict_json.write(out / "bench.json", result)
    print(strict_json.dumps(result, where="bench.json", indent=2))
    print(f"[{result['label']}] {device}: 1 -> {a.nproc} processes, unit loop {result['loop_seconds']['1']:.1f}s"
          f" -> {result['loop_seconds'][str(a.nproc)]:.1f}s (x{result['speedup_loop']}); records identical: "
          f"{identical}; written to {out / 'bench.json'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
