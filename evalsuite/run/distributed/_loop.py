"""A minimal data-parallel unit loop: the runner-integration recipe, runnable before the runner is wired.

It does what ``evalsuite.run.runner.run_suite`` does for ``lm_eval`` units, with
the hooks in the places the package docstring gives, and nothing else (no YaRN,
no diagnostics units, no publishing). The benchmark and the two-process tests
run it; once the runner calls the hooks itself, they can call ``run_suite``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from evalsuite.run.distributed.hooks import DistributedRun
from evalsuite.errors import EvalsuiteError
from evalsuite.records import RunManifest, UnitRecord, atomic_write_json, write_unit
from evalsuite.records.io import verified_complete
from evalsuite.run.runner import TASKS_DIR, _hash, _now
from evalsuite.spec import ModelSpec, SuiteSpec, TaskSpec


@dataclass(frozen=True)
class LoopConfig:
    run_dir: Path
    data_dir: Path | None = None
    extra_task_dirs: tuple[Path, ...] = ()  # task YAML folders besides tasks/ (tests add one)
    # Called on every rank before each unit with (model, task, the LM lm-eval will see); tests inject faults here.
    on_unit: Callable[[str, str, Any], None] | None = None


def _unit_hash(suite: SuiteSpec, mspec: ModelSpec, tspec: TaskSpec) -> str:
    # Independent of world size and rank on purpose: a run resumed with another process count reuses units.
    return _hash({"model": asdict(mspec), "task": asdict(tspec), "seed": suite.seed})


def _load_lm(mspec: ModelSpec, dist: DistributedRun) -> Any:
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.models.loader import load
    from evalsuite.run.materialize import model_source

    loaded = load(model_source(mspec), dtype=mspec.dtype, device=dist.device(mspec.device),
                  attn_implementation=mspec.attn_implementation, hash_weights=False)
    inner = EvalsuiteLM.from_loaded(loaded.model, loaded.tokenizer, max_length=mspec.max_length,
                                    batch_tokens=mspec.batch_tokens)
    return dist.wrap(inner)


def run_units(suite: SuiteSpec, cfg: LoopConfig, dist: DistributedRun,
              log: Callable[[str], None] = print) -> dict[str, float]:
    """Run (or resume) the suite's lm_eval units; rank 0 writes. Returns seconds per unit key (this rank)."""
    from lm_eval.tasks import TaskManager

    from evalsuite.run.unit_eval import run_lm_eval

    units = [(m, t) for m, t in suite.units() if t.kind == "lm_eval"]
    manifest = RunManifest(suite=suite.name, run_id=cfg.run_dir.name, status="running", created=_now(),
                           suite_spec={"name": suite.name}, provenance={"distributed": dist.provenance()},
                           units={f"{m.name}/{t.task}": {"status": "pending"} for m, t in units})
    if dist.is_main:
        atomic_write_json(cfg.run_dir / "manifest.json", asdict(manifest))
    seconds: dict[str, float] = {}
    model_name, lm = None, None
    for mspec, tspec in units:
        key = f"{mspec.name}/{tspec.task}"
        unit_hash = _unit_hash(suite, mspec, tspec)
        if dist.decide(lambda: verified_complete(cfg.run_dir, mspec.name, tspec.task, unit_hash)):
            manifest.units[key] = {"status": "complete", "cached": True}
            log(f"{key}: already complete, skipped")
            continue
        if model_name != mspec.name:
            model_name, lm = None, None
            lm, model_name = _load_lm(mspec, dist), mspec.name
        if cfg.on_unit is not None:
            cfg.on_unit(mspec.name, tspec.task, lm)
        meta = {"data_dir": str(cfg.data_dir) if cfg.data_dir else ""}
        tm = TaskManager(include_path=[str(TASKS_DIR), *map(str, cfg.extra_task_dirs)], include_defaults=False,
                         metadata=meta)
        lm.rolling_token_counts.clear()
        t0 = time.perf_counter()
        unit = UnitRecord(model=mspec.name, task=tspec.task, status="complete", unit_hash=unit_hash,
                          started=_now(), model_info={"name": mspec.name})
        try:
            with dist.unit_scope():
                outcome = run_lm_eval(lm, task=tspec.task, task_manager=tm, shots=tspec.shots, limit=tspec.limit,
                                      seed=suite.seed)
            unit.metrics, unit.samples, unit.task_info = outcome.metrics, outcome.samples, outcome.task_info
        except EvalsuiteError as exc:  # raised on every rank alike (ShardedLM re-raises other ranks' errors)
            unit.status, unit.error, unit.samples = "error", str(exc), []
        unit.seconds = seconds[key] = round(time.perf_counter() - t0, 3)
        if dist.is_main:  # written only after every rank's share was gathered: a unit on disk is whole
            write_unit(cfg.run_dir, unit)
            manifest.units[key] = {"status": unit.status, "seconds": unit.seconds}
            atomic_write_json(cfg.run_dir / "manifest.json", asdict(manifest))
        log(f"{key}: {unit.status} in {unit.seconds:.1f}s")
    manifest.status = "complete" if all(u["status"] == "complete" for u in manifest.units.values()) else "partial"
    manifest.finished = _now()
    if dist.is_main:
        atomic_write_json(cfg.run_dir / "manifest.json", asdict(manifest))
    dist.barrier()
    return seconds
