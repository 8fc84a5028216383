"""Run every (model, task) unit of a suite; skip units already complete with the same inputs.

A unit's record is written atomically when it finishes, so ``kill -9`` loses at
most the unit in flight; the rerun verifies finished units by hash and resumes.
The run folder has one writer at a time and a manifest merged across invocations
(:mod:`evalsuite.run.folder`). A unit that fails, on bad input or on an unexpected
exception, is recorded with ``status: error`` and the suite goes on, so one broken
model never hides the others' results; a failure never overwrites a finished unit
(:mod:`evalsuite.run.failure`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from evalsuite.errors import NonFiniteError, RankLostError, SpecError
from evalsuite.packaged import tasks_dir
from evalsuite.records import RunManifest, UnitRecord, atomic_write_json, load_run, write_unit
from evalsuite.records.io import verified_complete
from evalsuite.run.failure import UnitFailure, without_errors
from evalsuite.run.folder import merge_units, previous_manifest, run_status, writer_lock
from evalsuite.run.provenance import data_files, provenance
from evalsuite.spec import ModelSpec, SuiteSpec, TaskSpec, safe_name

TASKS_DIR = tasks_dir()  # the wheel's evalsuite/_tasks, or ./tasks in a checkout
SCORING_VERSION = "1"  # bump when a change can move a score: old records then rerun


@dataclass(frozen=True)
class RunOptions:
    output_root: Path = Path("results")
    run_id: str | None = None
    data_dir: Path | None = None
    only_models: tuple[str, ...] = ()
    log: Callable[[str], None] = print
    task_dirs: tuple[Path, ...] = ()  # task YAML folders searched besides evalsuite's tasks/ (later ones win)
    console: Any = None  # evalsuite.run.progress.SuiteConsole: a progress line, library noise to <run>/console.log


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _ModelCache:
    """Loads each model once per run and keeps only the current one in memory."""

    def __init__(self, dist: Any, progress: Any = None) -> None:
        self.dist = dist
        self.progress = progress
        self.name: str | None = None
        self.loaded: Any = None
        self.lm: Any = None
        self.failed: dict[str, Exception] = {}  # a model that did not load is not tried again in this run

    def get(self, spec: ModelSpec) -> tuple[Any, Any]:
        if spec.name in self.failed:
            raise self.failed[spec.name]
        if self.name != spec.name:
            try:
                self._load(spec)
            except Exception as exc:
                self.failed[spec.name] = exc
                raise
        return self.loaded, self.lm

    def _load(self, spec: ModelSpec) -> None:
        from evalsuite.engine.lm import EvalsuiteLM
        from evalsuite.models.loader import load

        self.name = self.loaded = self.lm = None  # free the previous model first
        loaded = load(spec.source, dtype=spec.dtype, device=self.dist.device(spec.device),
                      attn_implementation=spec.attn_implementation, yarn=spec.yarn)
        if spec.zero_mlp_layers:
            _zero_mlp_layers(loaded.model, spec.zero_mlp_layers, spec.name)
        lm = EvalsuiteLM(loaded.model, loaded.tokenizer, spec.engine, max_length=spec.max_length)
        lm.progress = self.progress
        # Several processes: requests are split across ranks by cost and gathered (results agree with a
        # single process to float rounding). One process: the adapter as is.
        self.lm = self.dist.wrap(lm) if self.dist.active else lm
        self.name, self.loaded = spec.name, loaded


def _zero_mlp_layers(model: Any, layers: tuple[int, ...], name: str) -> None:
    """An ablation: zero the MLP's output projection so those layers add nothing to the residual stream."""
    import torch

    decoder_layers = getattr(getattr(model, model.base_model_prefix), "layers")
    for i in layers:
        if i >= len(decoder_layers):
            raise SpecError(f"model {name!r}: zero_mlp_layers has layer {i} but the model has {len(decoder_layers)}")
        with torch.no_grad():
            decoder_layers[i].mlp.down_proj.weight.zero_()


def _model_info(spec: ModelSpec, loaded: Any, lm: Any) -> dict[str, Any]:
    from evalsuite.models.yarn import rope_summary

    asked = spec.engine  # the knobs as the suite gave them; lm.engine holds them as they run
    info = {"source": spec.source.as_record(), "kind": loaded.kind, "weights_sha256": loaded.weights_sha256,
            "dtype": spec.dtype, "device": spec.device, "max_length": lm.max_length,
            "attn_implementation": spec.attn_implementation, "rope": rope_summary(loaded.model.config),
            "n_parameters": sum(p.numel() for p in loaded.model.parameters()),
            "zero_mlp_layers": list(spec.zero_mlp_layers)}
    # Each knob enters the unit hash only when it leaves its default, so earlier runs' hashes stay valid.
    running = getattr(lm, "engine", None)
    if asked.generation is not None:
        info["generation"] = asked.generation
    if asked.compile_scoring:
        info["compile_scoring"] = True
    elif asked.compile_scoring is None and getattr(running, "compile_scoring", False):
        info["compile_scoring"] = "auto"  # the CUDA default; CPU units (eager) keep their hashes
    if asked.attention != "auto":
        info["attention"] = asked.attention
    if asked.tree_attention == "flex":
        info["tree_attention"] = "flex"
    elif asked.tree_attention is None and getattr(running, "tree_attention", None) == "flex":
        info["tree_attention"] = "auto"  # the CUDA default; CPU units (the dense mask) keep their hashes
    if asked.compile_prefill is not None:
        info["compile_prefill"] = asked.compile_prefill
    elif getattr(running, "compile_prefill", None):
        info["compile_prefill"] = "auto"  # the CUDA default since run 6; CPU units keep their hashes
    if asked.decode_attention is not None:
        info["decode_attention"] = asked.decode_attention
    elif getattr(running, "decode_attention", None) == "flex":
        info["decode_attention"] = "auto"  # the CUDA default since run 6; CPU units (split) keep their hashes
    if asked.share_prefix is not None:
        info["share_prefix"] = asked.share_prefix
    elif (getattr(running, "share_prefix", None) and getattr(running, "generation", None) in ("fast", "compiled")
          and getattr(running, "generation_rows", None) != 1):
        info["share_prefix"] = "auto"  # batched generation's default since run 9; models that do not batch keep hashes
    if asked.truncation != "refuse":
        info["truncation"] = asked.truncation  # stock hf's left cut; the samples it touched say so
    return info


def _task_metadata(task: TaskSpec, suite: SuiteSpec, data_dir: Path | None, loaded: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"data_dir": str(data_dir) if data_dir else ""}
    if task.lengths:
        meta.update(max_seq_lengths=list(task.lengths), tokenizer=str(loaded.folder), seed=suite.seed)
    if task.samples is not None:
        meta["samples"] = task.samples
    return meta


def _task_paths(task_dirs: tuple[Path, ...]) -> str | list[str]:
    """lm-eval's include path: evalsuite's tasks first, so a user's task of the same name overrides it."""
    return [str(TASKS_DIR), *map(str, task_dirs)] if task_dirs else str(TASKS_DIR)


def _run_unit(suite: SuiteSpec, mspec: ModelSpec, tspec: TaskSpec, loaded: Any, lm: Any,
              data_dir: Path | None, unit_hash: str, task_dirs: tuple[Path, ...] = ()) -> UnitRecord:
    from lm_eval.tasks import TaskManager

    from evalsuite.run.unit_eval import run_lm_eval

    started, t0 = _now(), time.perf_counter()
    work_before = _work_start(lm)
    unit = UnitRecord(model=mspec.name, task=tspec.task, status="complete", unit_hash=unit_hash, kind=tspec.kind,
                      started=started, model_info=_model_info(mspec, loaded, lm))
    unit.task_info = {"spec": asdict(tspec), "data_files": data_files(tspec.task, data_dir)}
    if tspec.kind == "diagnostics":
        from evalsuite.diagnostics.unit import run_diagnostics_unit

        unit.extra, unit.metrics = run_diagnostics_unit(loaded.model, loaded.tokenizer, data_dir=data_dir,
                                                        limit=tspec.limit, max_length=lm.max_length)
        unit.samples = []
    else:
        tm = TaskManager(include_path=_task_paths(task_dirs), include_defaults=False,
                         metadata=_task_metadata(tspec, suite, data_dir, loaded))
        lm.rolling_token_counts.clear()
        paths = getattr(lm, "paths", None)
        if paths is not None:
            paths.clear()
        outcome = run_lm_eval(lm, task=tspec.task, task_manager=tm, shots=tspec.shots, limit=tspec.limit,
                              seed=suite.seed)
        unit.metrics, unit.samples = outcome.metrics, outcome.samples
        unit.task_info.update(outcome.task_info)
        if paths:  # which compute path served each request type (e.g. the hybrid models' fallback)
            unit.extra["paths"] = dict(paths)
        if outcome.not_run:
            unit.extra["not_run"] = outcome.not_run
    unit.seconds = round(time.perf_counter() - t0, 3)
    if work_before is not None:
        unit.extra["work"] = _work_done(lm, work_before)
    return unit


def _work_start(lm: Any) -> tuple[dict[str, Any], int] | None:
    """The LM's counters before a unit (and the CUDA peak reset), for :func:`_work_done`."""
    if not hasattr(lm, "work_counters"):
        return None
    if lm.on_cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    return lm.work_counters(), len(lm.generation_batches)


def _work_done(lm: Any, before: tuple[dict[str, Any], int]) -> dict[str, Any]:
    """The unit's work: counters' differences, each batch decoded together, and the CUDA peak (GiB)."""
    counters, n_batches = before
    out: dict[str, Any] = {k: v - counters[k] for k, v in lm.work_counters().items()}
    out["batches"] = [{k: v for k, v in b.items() if k not in ("notes", "decode_engine")}
                      for b in lm.generation_batches[n_batches:]]
    if lm.on_cuda:
        import torch

        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 3)
    return out


def run_suite(suite: SuiteSpec, options: RunOptions = RunOptions()) -> Path:
    """Run (or resume) the suite; returns the run folder. Raises only for problems before any unit runs
    (and for I/O errors on the run folder itself)."""
    from evalsuite.paths import data_dir_from
    from evalsuite.families.miniature import miniature_data_dir

    from evalsuite.run.distributed import distributed_run_hooks

    dist = distributed_run_hooks()  # no-op in one process; under torchrun / accelerate launch: one rank each
    log = options.log if dist.is_main else (lambda _msg: None)
    validate_suite(suite, options.task_dirs)
    unknown = [n for n in options.only_models if n not in {m.name for m in suite.models}]
    if unknown:
        raise SpecError(f"--model {unknown[0]}: no such model in suite {suite.name!r} "
                        f"(models: {', '.join(m.name for m in suite.models)})")
    if options.run_id is not None and safe_name(options.run_id, "--run-id") == "latest":
        raise SpecError("--run-id latest: 'latest' is the link to the newest run; choose another name")
    data_dir = data_dir_from(options.data_dir or suite.data_dir)
    if data_dir is None and os.environ.get("HF_DATASETS_OFFLINE") == "1":
        data_dir = miniature_data_dir()
        log(f"no data folder given and offline: using the project's miniature samples in {data_dir}")
    root = Path(suite.output_dir) if suite.output_dir else options.output_root / suite.name
    run_id = options.run_id or f"run-{suite.fingerprint()}-{_hash(str(data_dir))[:6]}"
    run_dir = root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    write = dist.is_main  # records are written once, by rank 0, after each unit's results are gathered
    with writer_lock(run_dir, started=_now()) if write else nullcontext():
        _run_units(suite, options, dist, log, data_dir, root, run_dir, write)
    dist.barrier()
    return run_dir


def _run_units(suite: SuiteSpec, options: RunOptions, dist: Any, log: Callable[[str], None],
               data_dir: Path | None, root: Path, run_dir: Path, write: bool) -> None:
    """The units of this invocation, under the run folder's lock; the manifest merged with what is there."""
    manifest = RunManifest(suite=suite.name, run_id=run_dir.name, status="running", created=_now(),
                           suite_spec=_spec_dict(suite), provenance=provenance())
    manifest.provenance["data_dir"] = str(data_dir) if data_dir else None
    manifest.provenance["distributed"] = dist.provenance()
    if write:
        merge_units(manifest, previous_manifest(run_dir), run_dir, [f"{m.name}/{t.task}" for m, t in suite.units()])
    units = [(m, t) for m, t in suite.units() if not options.only_models or m.name in options.only_models]
    if write:
        atomic_write_json(run_dir / "manifest.json", asdict(manifest))
        _point_latest(root, run_dir)
    progress = options.console.begin(run_dir, [(f"{m.name}/{t.task}", t.task) for m, t in units]) \
        if options.console is not None and dist.is_main else None
    log = progress.line if progress is not None else log
    cache = _ModelCache(dist, progress)
    t_run = time.perf_counter()
    for i, (mspec, tspec) in enumerate(units, 1):
        key = f"{mspec.name}/{tspec.task}"
        label = f"[{i}/{len(units)}] {key}"
        try:
            loaded, lm = cache.get(mspec)
        except Exception as exc:  # noqa: BLE001 - a model that does not load fails its units, not the run
            failure = UnitFailure.of(exc)
            kept = failure.record(run_dir, manifest, mspec, tspec) if write else False
            log(f"{label}: {failure.console(run_dir, mspec, tspec, kept=kept)}")
            continue
        unit_hash = _hash({"model": _model_info(mspec, loaded, lm), "task": asdict(tspec), "seed": suite.seed,
                           "data": data_files(tspec.task, data_dir), "scoring": SCORING_VERSION,
                           "data_dir_kind": "local" if data_dir else "hub"})
        if dist.decide(lambda: verified_complete(run_dir, mspec.name, tspec.task, unit_hash)):
            manifest.units[key] = {**without_errors(manifest.units.get(key, {})), "status": "complete",
                                   "cached": True}
            log(f"{label}: already complete (verified), skipped")
            continue
        if progress is not None:
            progress.start_unit(i, key, tspec.task)
        log(f"{label}: running")
        if not dist.runs_unit(tspec.kind):  # diagnostics run on rank 0 only
            dist.barrier()
            continue
        try:
            with dist.unit_scope():
                unit = _run_unit(suite, mspec, tspec, loaded, lm, data_dir, unit_hash, options.task_dirs)
        except RankLostError:  # not this unit's failure: a peer is gone, so the run ends here (rerun resumes)
            raise
        except Exception as exc:  # noqa: BLE001 - contained: recorded as this unit's error, the next unit runs
            if isinstance(exc, NonFiniteError):  # the adapter named the document; the message names the unit too
                exc = exc.within(f"model {mspec.name!r} on {tspec.task}")
            failure = UnitFailure.of(exc, unit_hash)
            kept = failure.record(run_dir, manifest, mspec, tspec) if write else False
            log(f"{label}: {failure.console(run_dir, mspec, tspec, kept=kept)}")
            continue
        if not write:
            continue
        write_unit(run_dir, unit)
        manifest.units[key] = {"status": "complete", "seconds": unit.seconds}
        atomic_write_json(run_dir / "manifest.json", asdict(manifest))
        log(f"{label}: done in {unit.seconds:.1f}s")
        if progress is not None:
            progress.end_unit()
    manifest.status = run_status(manifest)
    manifest.finished = _now()
    manifest.wall_seconds = round(time.perf_counter() - t_run, 2)
    if write:
        atomic_write_json(run_dir / "manifest.json", asdict(manifest))


def validate_suite(suite: SuiteSpec, task_dirs: tuple[Path, ...] = ()) -> None:
    """Refuse before any unit runs: unknown tasks and local model paths that do not exist."""
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=_task_paths(task_dirs), include_defaults=False)
    known = set(tm.all_tasks)
    for i, t in enumerate(suite.tasks):
        if t.kind == "lm_eval" and t.task not in known:
            close = sorted(k for k in known if t.task.split("_")[-1] in k)[:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SpecError(f"tasks[{i}].task: unknown task {t.task!r}{hint}")
    for i, m in enumerate(suite.models):
        for p in (m.source.path, m.source.gguf):
            if p is not None and not Path(p).expanduser().exists():
                raise SpecError(f"models[{i}].source: model path {p} does not exist")


def _spec_dict(suite: SuiteSpec) -> dict[str, Any]:
    return suite.as_record()


def _point_latest(root: Path, run_dir: Path) -> None:
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def load_latest(root: Path) -> Any:
    return load_run(root / "latest")
