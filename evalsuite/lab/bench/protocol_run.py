"""The paper's whole protocol, run as a user runs it, with its time extrapolated from reduced sample counts.

    python -m evalsuite.lab.bench.protocol_run --data DATA --tokenizer TOKENIZER_DIR --work DIR --out OUT \\
        [--samples 1] [--validate 2] [--models 1B_baseline,1B_baseline-yarn4] [--deadline S] [--tiny]
    python -m evalsuite.lab.bench.protocol_run --price RUN [RUN ...] --samples 1 [--validate 2] [--card h100] --out FILE
    python -m evalsuite.lab.bench.protocol_run --price RUN [RUN ...] --samples 1 --measured-on h100 --out FILE

(``--tiny``: toy models of the same format on CPU, RULER at 1K/2K natively and 4K with YaRN: a smoke run.)

1. Writes the baseline, headwise and elementwise 1.7B models in the released on-disk format
   (:mod:`evalsuite.lab.bench.released`: sharded bf16 safetensors with an index, the paper's config keys, per-KV-group
   ``q_proj``, tokenizer files, an ``auto_map`` to remote code that must not run) under ``--work``.
2. Writes ``tasks/suites/paper.yaml`` with those folders as sources and only the sample counts reduced: RULER
   ``samples: n`` per task and length (4K-32K natively, 64K and 128K with YaRN x4), each QA task's ``limit`` =
   ``n`` x :data:`QA_UNIT` (MMLU's per subject), the diagnostics as in the suite.
3. Runs it through ``python -m evalsuite.cli run SUITE --no-publish --quiet`` in a subprocess, as a user would.
4. Reads every unit's record: wall seconds, peak GPU memory and the work the engine did (``extra["work"]``: tokens
   scored, prompts prefilled, cached positions read, rows decoded together), priced by the cost model
   (:mod:`evalsuite.lab.bench.flops`: forward FLOPs at 790 TFLOP/s, KV-cache reads at 4.3 TB/s) as its hardware limit.
5. Extrapolates each unit to the full protocol (RULER 100 samples per task and length; MMLU's 14,042 test items,
   HellaSwag's 10,042 validation items, WikiText's 62 test documents) with :func:`predict_unit`, and the limit
   with it.
6. ``--validate M`` runs the suite again at ``M`` samples and compares what the ``n`` run predicts for ``M``
   with what ``M`` measured: the extrapolation's own check, on the total and on the seconds beyond what each run
   pays once (``beyond_fixed``). Each count's run compiles from empty caches (``--work/compile-cache``), as
   the full protocol's one process does.

``--models`` runs a subset of the suite's six entries (the GPU's 10-minute calls take the baseline at two counts
in one call and the gated models in another); ``--price`` prices finished runs of one count together as the
whole protocol, at ``--card``'s roofline; with ``--measured-on h100``, runs of an H100 are projected to the H200
(:func:`project_decode`: their decode's K/V reads at the H200's copy rate, the rest as measured).

Everything is written to ``OUT/protocol.json`` as it finishes, so a cut-off call keeps what it measured.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from evalsuite import strict_json
from evalsuite.errors import EvalsuiteError
from evalsuite.engine.batch_decode import balanced_rows, fits_pack
from evalsuite.lab.bench.flops import PEAK_BF16_FLOPS, PEAK_BYTES_PER_S, ModelShape, forward_flops

GATES = {"1B_baseline": "none", "1B_gate_headwise": "headwise", "1B_gate_elementwise": "elementwise"}
SUITE_MODELS = (*GATES, *(f"{name}-yarn4" for name in GATES))  # the suite's six entries (YaRN x4 for 64K-128K)
RULER_FULL = 100  # samples per task and length in the paper suite
# Items per QA task in the full protocol (lm-eval's counts for these splits) and per unit of --samples.
QA_FULL = {"es_mmlu": 14042, "es_hellaswag": 10042, "es_wikitext": 62}
QA_UNIT = {"es_mmlu": 4, "es_hellaswag": 200, "es_wikitext": 8}  # MMLU: per subject (57 subjects)


@dataclass(frozen=True)
class Rates:
    """The roofline a limit is priced at: bf16 matmul FLOP/s and copy bytes/s."""

    flops: float = PEAK_BF16_FLOPS
    bytes_per_s: float = PEAK_BYTES_PER_S


# The project's cost model is the H200's (engine.cost). A run that landed on an H100 is priced at that card's
# rates as well: the same matmul rate (788-798 TFLOP/s measured on both kinds, device/KINDS.md) and its copy
# bandwidth, 3.0 TB/s measured (H200: 4.3), so each ratio is against the card that ran it.
CARDS = {"h200": Rates(), "h100": Rates(bytes_per_s=3.0e12)}


def paper_suite(folders: dict[str, Path], samples: int, *, tiny: bool = False,
                engine: dict[str, Any] | None = None) -> dict[str, Any]:
    """``tasks/suites/paper.yaml`` with local sources and the counts reduced (nothing else changed); ``engine``:
    suite engine keys set on every model entry (``--engine``, to measure a knob as a user would set it)."""
    from evalsuite.packaged import tasks_dir

    suite = yaml.safe_load((tasks_dir() / "suites" / "paper.yaml").read_text())
    suite["name"] = "protocol"
    for model in suite["models"]:
        base = next(name for name in GATES if model["source"].get("subfolder") == name)
        model["source"] = {"path": str(folders[base])}
        model.update(engine or {})
    for task in suite["tasks"]:
        name = task.get("task")
        if name == "ruler_es":
            task["samples"] = samples
            if tiny:  # the toy model's context: the same structure, short (natively, then with YaRN x4)
                task["lengths"] = [1024, 2048] if max(task["lengths"]) <= 32768 else [4096]
        elif name in QA_UNIT:
            task["limit"] = samples * QA_UNIT[name]
        elif "diagnostics" in task and tiny:
            task["limit"] = 4
    if tiny:
        suite["defaults"] = {"dtype": "float32", "device": "cpu", "batch_tokens": 4096}
        for model in suite["models"]:
            if "max_length" in model:
                model["max_length"] = 4096  # MMLU's 5-shot prompts need ~2.7K tokens of SmolLM2's tokenizer
            if "yarn" in model:
                model["yarn"] = {"factor": 4, "original_max_position_embeddings": 2048}
    return suite


def unit_limit_s(work: dict[str, Any], shape: ModelShape, rates: Rates = Rates()) -> float:
    """The hardware limit of a unit's work: every scored and prefilled token's forward FLOPs at the matmul rate,
    plus every decode step's KV-cache read at the copy bandwidth (the definition of GenerationCost)."""
    scoring = forward_flops(shape, tokens=work["scored_tokens"], attended_keys=work["scored_attended_keys"],
                            head_positions=work["scored_head_positions"])
    prefill = forward_flops(shape, tokens=work["prompt_tokens"], attended_keys=work["prompt_attended_keys"],
                            head_positions=work["generation_requests"])
    kv = shape.kv_bytes_per_position() * work["decode_attended_keys"]
    return (scoring + prefill) / rates.flops + kv / rates.bytes_per_s


def predict_unit(unit: dict[str, Any], factor: float, shape: ModelShape, rates: Rates = Rates(),
                 shares: dict[str, Any] | None = None) -> float:
    """A unit's wall seconds at ``factor`` times its requests, from one measured run: its fixed seconds
    (:func:`fixed_unit_s`, paid once whatever the count) plus the rest scaled as the engine spends it.

    Scoring units: the engine's seconds beyond compilation scale with the items. Generation units, per group of
    batches of one cache capacity: each row's prefill scales with the requests, at the group's steady rate (the
    batches after its first; the first alone, less its compilation, when it is the only one); the decode of a
    batch costs ``steps x c + row_steps x e``, ``e`` a row's KV-cache read per step at the copy bandwidth (its
    static cache's capacity), ``c`` the per-step overhead this run measured and ``row_steps`` the steps that read a
    row's cache (recorded as ``decode_row_steps``, a row retired when done reads no more; scaled per live row;
    records without it: every row at every step, ``steps x rows``); the larger run's batches hold the rows that
    free memory allowed (``rows_memory``); what the engine spent outside its batches (tokenising the prompts)
    scales with the requests.

    ``shares`` (``protocol --shares``'s ``shares_by_length``): the prefill FLOP share that shared prefixes skip at
    the full counts, per length. A group's steady prefill is then taken as unshared (divided by one less the share
    of its prompt tokens that were copied: an upper bound of their FLOP share, as the copied tokens are the
    earliest) and scaled by one less the full count's FLOP share (run 9: the prefill fell by 95 % of the FLOPs
    skipped). Without it, the full protocol is priced as sharing as little as the measured run did (a sample or
    two per task share almost nothing)."""
    work = unit["work"]
    fixed = fixed_unit_s(unit)
    if work["generation_requests"] == 0:
        return fixed + (work["tokenize_s"] + work["loglikelihood_s"] - _compiling(work)) * factor
    batches = work.get("batches") or []
    if not batches:  # one request at a time: each request's seconds scale with the requests
        return fixed + max(0.0, work["generate_s"] - _checking(work)) * factor
    engine = 0.0
    for group in _groups(batches):
        capacity = group[0]["capacity"]
        live = sum(b["live_rows"] for b in group)
        steps = sum(b["decode_steps"] for b in group)
        e = _row_read_s(capacity, shape, rates)
        decode = sum(b["decode_s"] for b in group)
        rows_memory = max(1, min(b.get("rows_memory", b["rows"]) for b in group))
        live_n = live * factor
        n_batches = math.ceil(live_n / rows_memory - 1e-9)
        rows = balanced_rows(max(1, round(live_n)), rows_memory)  # as the engine sizes them
        engine += _prefill_per_row(group) * _share_scale(group, shares) * live_n
        recorded = all("decode_row_steps" in b for b in group)  # the row-steps that read a cache (run 12 on)
        # else every row read its cache at every step
        read = sum(b["decode_row_steps"] if recorded else b["decode_steps"] * b["rows"] for b in group)
        c = max(0.0, (decode - e * read) / max(steps, 1))
        engine += n_batches * (steps / len(group)) * c
        engine += e * live_n * read / max(live, 1) if recorded else n_batches * (steps / len(group)) * rows * e
    return fixed + _outside_batches(work) * factor + engine


def _row_read_s(capacity: int, shape: ModelShape, rates: Rates) -> float:
    """One row's KV-cache read in one decode step (its static cache's capacity) at ``rates``'s copy bandwidth."""
    return capacity * shape.kv_bytes_per_position() / rates.bytes_per_s


def project_decode(units: dict[str, dict[str, Any]], shape_of: dict[str, ModelShape], measured: Rates,
                   target: Rates) -> dict[str, dict[str, Any]]:
    """A projection, not a run: the units as a card of ``target``'s copy rate would have run them, from records
    measured on a card of ``measured``'s (a copy; the records are left alone).

    Why: runs 5-14 measured the protocol on H100s (3.0 TB/s), while the project's limits are the H200's (4.3 TB/s,
    the same matmul rate). Priced at the H200's limit, an H100's decode is charged for a bandwidth it does not
    have; priced at its own, the figure is not the H200's. Between the two, this prices what the predictor's decode
    model (:func:`predict_unit`: ``steps x c + row_steps x e``) says would change: each batch's decode keeps its
    per-step overhead ``c`` as measured and reads its ``row_steps`` at ``target``'s rate instead of
    ``measured``'s. Prefills, scoring, compiling and everything else stay as measured (the matmul rate is the
    same). Run 12 measured the decode kernel on an H200 reading K/V at 0.98x its floor with all rows live: the
    premise that a row-step's read runs at the card's copy rate. A batch that decoded faster than its reads at
    ``measured``'s rate allow is scaled by the ratio of the rates instead (never below it)."""
    out: dict[str, dict[str, Any]] = {}
    for key, unit in units.items():
        work = unit.get("work") if unit.get("status") == "complete" else None  # what price() prices
        shape = shape_of.get(unit["model"].removesuffix("-yarn4")) if work else None
        if not work or shape is None or not work.get("batches"):
            out[key] = unit
            continue
        batches, saved = [], 0.0
        for b in work["batches"]:
            read = b.get("decode_row_steps", b["decode_steps"] * b["rows"])
            was = _row_read_s(b["capacity"], shape, measured)
            now = _row_read_s(b["capacity"], shape, target)
            decode = max(b["decode_s"] * now / was, b["decode_s"] - (was - now) * read)
            saved += b["decode_s"] - decode
            batches.append({**b, "decode_s": decode})
        out[key] = {**unit, "seconds": unit["seconds"] - saved,
                    "work": {**work, "generate_s": work["generate_s"] - saved, "batches": batches}}
    return out


def fixed_unit_s(unit: dict[str, Any]) -> float:
    """The seconds of a unit paid once, whatever its count: everything outside the engine (lm-eval building the
    task: run 7's 64K/128K unit spent 18.3 s there at 22 requests and 17.6 s at 44, its 4K-32K unit 6.5 and 6.6 s;
    the RULER generator re-tokenises only the first sample of a task and length), compilation, and for each cache
    capacity its setup (the static cache and its captured step) and what its first batch's prefill took beyond
    the group's steady rate (compiling and tuning for the new shape: 14 s of run 7's first 64K batch), and the
    attention kernels' checks where the unit ran them (``kernel_check_s``: FlashAttention-4's ~5.5 s, run 11)."""
    work, seconds = unit["work"], unit["seconds"]
    if work is None:
        return seconds
    if work["generation_requests"] == 0:
        return seconds - work["tokenize_s"] - work["loglikelihood_s"] + _compiling(work)
    fixed = seconds - work["generate_s"] + min(_checking(work), work["generate_s"])
    for group in _groups(work.get("batches") or []):
        first = group[0]
        fixed += first["setup_s"] + max(0.0, first["prefill_s"] - _prefill_per_row(group) * first["live_rows"])
    return fixed


def _share_scale(group: Sequence[dict[str, Any]], shares: dict[str, Any] | None) -> float:
    """(1 - the full count's FLOP share) / (1 - this group's copied-token share) for the group's length (the
    longest of ``shares``'s lengths within its cache capacity); 1.0 without ``shares`` or a length for it, and
    for prompts the engine packed (at most half its recorded ``pack_tokens``: packed prompts share nothing)."""
    if not shares:
        return 1.0
    pack = max(b.get("pack_tokens", 0) for b in group)
    rows = sum(b["live_rows"] for b in group)
    prompt = sum(b.get("prompt_tokens", 0) for b in group)
    if pack and rows and fits_pack(prompt, pack * rows):  # the group's prompts, on average
        return 1.0
    capacity = group[0]["capacity"]
    lengths = [int(k) for k in shares if int(k) <= capacity]
    if not lengths:
        return 1.0
    full = float(shares[str(max(lengths))]["flop_share"])
    copied = sum(b.get("shared_prefix_tokens", 0) for b in group) / prompt if prompt else 0.0
    return (1.0 - full) / (1.0 - copied)


def _groups(batches: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The batches of each cache capacity, in the order they ran."""
    return [[b for b in batches if b["capacity"] == cap] for cap in sorted({b["capacity"] for b in batches})]


def _prefill_per_row(group: Sequence[dict[str, Any]]) -> float:
    """A row's prefill seconds once its shape is compiled: the batches after the group's first, else the first
    less the compile seconds it recorded (records before run 7 have none)."""
    later = group[1:]
    if later and sum(b["live_rows"] for b in later):
        return sum(b["prefill_s"] for b in later) / sum(b["live_rows"] for b in later)
    first = group[0]
    return max(0.0, first["prefill_s"] - first.get("prefill_compile_s", 0.0)) / max(first["live_rows"], 1)


def _compiling(work: dict[str, Any]) -> float:
    """A scoring unit's compile and kernel-check seconds (paid once), at most its engine seconds (records before
    run 5 have neither, before run 11 no checks)."""
    return min(work.get("compile_s", 0.0) + _checking(work), work["tokenize_s"] + work["loglikelihood_s"])


def _checking(work: dict[str, Any]) -> float:
    """The unit's seconds in the attention kernels' checks (paid once a process; records before run 11: 0)."""
    return max(0.0, float(work.get("kernel_check_s", 0.0)))


def _outside_batches(work: dict[str, Any]) -> float:
    """A generation unit's engine seconds outside its batches and its kernels' checks (tokenising the prompts,
    grouping them): what scales with the requests there."""
    inside = sum(b["setup_s"] + b["prefill_s"] + b["decode_s"] for b in work.get("batches") or [])
    return max(0.0, work["generate_s"] - inside - _checking(work))


def read_units(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``model/task`` -> the unit's status, seconds, samples, peak GPU GiB and work, from its record."""
    from evalsuite.records import load_run

    run = load_run(run_dir, with_samples=False)
    out = {}
    for (model, task), unit in run.units.items():
        work = unit.extra.get("work")
        out[f"{model}/{task}"] = {"model": model, "task": task, "status": unit.status, "seconds": unit.seconds,
                                  "samples": unit.n_samples, "peak_gpu_gib": (work or {}).get("peak_gpu_gib"),
                                  "work": work}
    out["_run"] = {"wall_seconds": run.manifest.wall_seconds, "status": run.manifest.status}
    return out


def full_factor(unit: dict[str, Any], samples: int) -> float:
    """Full protocol / this run, in requests: RULER 100 per task and length; QA tasks their full item counts."""
    if unit["task"] in QA_FULL:
        return QA_FULL[unit["task"]] / max(unit["samples"], 1)
    return RULER_FULL / samples


def shapes(dims: dict[str, int]) -> dict[str, ModelShape]:
    """Each model's shape as written (the gated ones have more attention parameters), built on the meta device."""
    import dataclasses

    import torch

    from evalsuite.lab.bench.released import released_config
    from evalsuite.models.gated_qwen3 import GatedQwen3ForCausalLM
    from evalsuite.models.paper_format import paper_config_from_dict

    out = {}
    for name, gate in GATES.items():
        with torch.device("meta"):
            model = GatedQwen3ForCausalLM(paper_config_from_dict(released_config(gate, dims)))
        out[name] = dataclasses.replace(ModelShape.of(model), bytes_per_param=2)
    return out


def price(units: dict[str, dict[str, Any]], samples: int, shape_of: dict[str, ModelShape], *,
          outside_s: float | None = None, rates: Rates = Rates(), shares: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per unit: limit, x limit and the full protocol's predicted seconds and limit; totals. ``outside_s``: the
    seconds spent outside any unit (model loading and building); default: the run's wall time less its units'.
    ``shares``: the full counts' shared-prefix FLOP shares per length (:func:`predict_unit`)."""
    rows, total, total_limit, measured, measured_limit = [], 0.0, 0.0, 0.0, 0.0
    for key, u in units.items():
        if key.startswith("_") or u["status"] != "complete":
            continue
        base = u["model"].removesuffix("-yarn4")
        shape = shape_of.get(base)
        row = {k: u[k] for k in ("model", "task", "samples", "seconds", "peak_gpu_gib")}
        if u["work"] is None or shape is None:  # diagnostics: not run through the LM; its time is as measured
            row.update(full_s=u["seconds"])
        else:
            f = full_factor(u, samples)
            limit = unit_limit_s(u["work"], shape, rates)
            row.update(limit_s=limit, x_limit=u["seconds"] / limit if limit else None, factor=f,
                       full_s=predict_unit(u, f, shape, rates, shares), full_limit_s=limit * f)
            measured_limit += limit
            total_limit += limit * f
        measured += u["seconds"]
        total += row["full_s"]
        rows.append(row)
    load = outside_s if outside_s is not None else (units["_run"]["wall_seconds"] or measured) - measured
    return {"units": rows, "measured_units_s": measured, "measured_limit_s": measured_limit,
            "outside_units_s": load, "full_s": total + load, "full_limit_s": total_limit,
            "full_x_limit": (total + load) / total_limit if total_limit else None}


def run_suite(suite: dict[str, Any], out: Path, run_id: str, models: Sequence[str] = (),
              timeout: float | None = None, compile_cache: Path | None = None) -> dict[str, Any]:
    """``evalsuite run`` in a subprocess (a user's run); its log kept beside the suite file.

    ``compile_cache``: an empty folder for torch.compile's on-disk caches (Inductor's and Triton's), so that this
    run compiles cold, as the full protocol's one process does. Without it the second count found the first's
    caches warm (run 7: the 64K/128K unit's one-time seconds 51.9 at 1 sample, 25.8 at 2), and the check compared a
    cold run with a warm one."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run_id}.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    cmd = [sys.executable, "-m", "evalsuite.cli", "run", str(path), "--out", str(out / "runs"), "--run-id", run_id,
           "--no-publish", "--quiet"] + [a for m in models for a in ("--model", m)]
    env = dict(os.environ)
    if compile_cache is not None:
        if compile_cache.exists():
            shutil.rmtree(compile_cache)
        compile_cache.mkdir(parents=True)
        env.update(TORCHINDUCTOR_CACHE_DIR=str(compile_cache / "inductor"),
                   TRITON_CACHE_DIR=str(compile_cache / "triton"))
    t0 = time.perf_counter()
    with open(out / f"{run_id}.log", "w") as log:
        try:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, env=env).returncode
        except subprocess.TimeoutExpired:  # the units it finished are on disk; the one it was in is not
            rc = 124
    return {"command": " ".join(cmd), "rc": rc, "wall_s": time.perf_counter() - t0,
            "run_dir": str(out / "runs" / "protocol" / run_id),
            "compile_cache": str(compile_cache) if compile_cache is not None else None}


def _run_count(record: dict[str, Any], samples: int, folders: dict[str, Path], models: Sequence[str],
               args: argparse.Namespace, t0: float, shape_of: dict[str, ModelShape]) -> None:
    """One suite run at ``samples``, read back and priced into ``record[f"n{samples}"]``."""
    run_id = f"n{samples}"
    left = None if args.deadline is None else args.deadline - (time.perf_counter() - t0) - 15
    if left is not None and left < 30:
        record[run_id] = {"skipped": f"{left + 15:.0f} s left of --deadline {args.deadline:.0f}"}
        return
    suite = paper_suite(folders, samples, tiny=args.tiny, engine=args.engine)
    got = record[run_id] = run_suite(suite, args.out, run_id, models, left,
                                     compile_cache=args.work / "compile-cache" / run_id)
    try:
        units = read_units(Path(got["run_dir"]))
    except Exception as exc:  # noqa: BLE001 - a run that wrote nothing readable is recorded as such
        got["error"] = f"{type(exc).__name__}: {exc}"
        return
    got["units"] = units
    got["priced"] = price(units, samples, shape_of)


def recorded_units(record: Path, samples: int) -> dict[str, Any]:
    """The ``n<samples>`` units of this command's ``protocol.json`` (a copy: callers pop ``_run``)."""
    return dict(strict_json.loads(Path(record).read_text(), source=str(record))[f"n{samples}"]["units"])


def combine(runs: Sequence[Path], samples: int, shape_of: dict[str, ModelShape],
            rates: Rates = Rates(), shares: dict[str, Any] | None = None,
            measured_on: Rates | None = None) -> dict[str, Any]:
    """Price the units of several runs at the same count as one protocol (e.g. the baseline and the gated
    models measured in two calls); a unit in more than one run is taken from the first. Each run is its run
    folder or this command's ``protocol.json`` (its ``n<samples>`` units, read from the folder when it ran).
    ``measured_on``: the rates of the card that ran them, where they differ from ``rates``: the units are then
    projected to ``rates``'s card (:func:`project_decode`) and the record says so (``projected_from``)."""
    units: dict[str, Any] = {}
    outside = 0.0
    for path in runs:
        got = recorded_units(path, samples) if Path(path).is_file() else read_units(Path(path))
        run = got.pop("_run")
        measured = sum(u["seconds"] for u in got.values() if u["status"] == "complete")
        outside += (run["wall_seconds"] or measured) - measured
        for key, unit in got.items():
            units.setdefault(key, unit)
    got = {"runs": [str(d) for d in runs], "rates": {"flops": rates.flops, "bytes_per_s": rates.bytes_per_s}}
    if measured_on is not None:
        units = project_decode(units, shape_of, measured_on, rates)
        got["projected_from"] = {"flops": measured_on.flops, "bytes_per_s": measured_on.bytes_per_s}
    return {**got, "units": units, "shares_by_length": shares,
            "priced": price(units, samples, shape_of, outside_s=outside, rates=rates, shares=shares)}


def engine_keys(pairs: Sequence[str]) -> dict[str, Any]:
    """``--engine KEY=VALUE`` pairs as suite engine keys, checked as a suite's are (an error naming the bad one)."""
    from evalsuite.errors import SpecError
    from evalsuite.spec.engine import SUITE_KEYS, EngineConfig

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in SUITE_KEYS:
            raise SpecError(f"--engine {pair}: expected KEY=VALUE with KEY one of {', '.join(SUITE_KEYS)}")
        parsed = getattr(EngineConfig.parse({key: value}, "--engine", strings=True), key)
        if parsed is None:
            raise SpecError(f"--engine {pair}: leave the key out for its default")
        out[key] = parsed
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.protocol_run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="benchmark data (with --price: not needed)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer folder copied into each checkpoint")
    p.add_argument("--work", type=Path, help="where the checkpoint folders are written")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--samples", type=int, default=1, help="RULER samples per task and length (QA: x QA_UNIT)")
    p.add_argument("--validate", type=int, default=0, help="a second, larger count run for the check (0: none)")
    p.add_argument("--models", default=",".join(SUITE_MODELS), help="suite models to run (default: all six)")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds for the whole command: each run is stopped in time to read and price its records")
    p.add_argument("--tiny", action="store_true", help="toy models on CPU, short RULER lengths (a smoke run)")
    p.add_argument("--engine", action="append", default=[], metavar="KEY=VALUE",
                   help="a suite engine key set on every model (repeatable), e.g. decode_attention=flex")
    p.add_argument("--price", type=Path, nargs="+",
                   help="only price these finished runs (run folders or protocol.json files, same --samples) as one")
    p.add_argument("--card", choices=sorted(CARDS), default="h200",
                   help="with --price: the card whose roofline prices the limits (default: the project's H200)")
    p.add_argument("--measured-on", choices=sorted(CARDS), default=None,
                   help="with --price: the card the runs were measured on, where it is not --card: a projection to "
                        "--card, each decode's K/V reads at --card's copy rate (project_decode); not a run")
    p.add_argument("--shares", type=Path,
                   help="with --price: protocol --shares's record; the full counts' prefill less what shared "
                        "prefixes skip (default: priced at the measured run's sharing)")
    args = p.parse_args(argv)
    from evalsuite.lab.bench.released import PAPER_DIMS, TINY_DIMS, write_released

    dims = TINY_DIMS if args.tiny else PAPER_DIMS
    shape_of = shapes(dims)
    if args.price:
        if args.validate and args.validate <= args.samples:
            print(f"--validate {args.validate}: must be larger than --samples {args.samples}", file=sys.stderr)
            return 2
        try:
            shares = (strict_json.loads(args.shares.read_text(), source=str(args.shares))["shares_by_length"]
                      if args.shares else None)
        except (OSError, KeyError, EvalsuiteError) as exc:
            print(f"--shares {args.shares}: not a record of `protocol --shares`: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
        try:
            measured_on = CARDS[args.measured_on] if args.measured_on not in (None, args.card) else None
            got = combine(args.price, args.samples, shape_of, CARDS[args.card], shares, measured_on)
            if args.validate:  # the check again, by this predictor, from the records of both counts
                got["validation"] = revalidate(args.price, args.samples, args.validate, shape_of)
        except (OSError, KeyError, EvalsuiteError) as exc:  # a missing run, or a record without n<samples>
            print(f"--price: cannot read the runs at --samples {args.samples}"
                  f"{f' and --validate {args.validate}' if args.validate else ''}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
        args.out.parent.mkdir(parents=True, exist_ok=True)
        strict_json.write(args.out, got)
        print(strict_json.dumps({k: v for k, v in got["priced"].items() if k != "units"}, where="priced", indent=1))
        if "validation" in got:
            print("validation", strict_json.dumps({k: v for k, v in got["validation"].items() if k != "units"},
                                                  where="validation"))
        return 0
    models = tuple(args.models.split(","))
    unknown = sorted(set(models) - set(SUITE_MODELS))
    bad = (f"--models {unknown[0]}: not a model of the paper suite ({', '.join(SUITE_MODELS)})" if unknown else
           f"--validate {args.validate}: must be larger than --samples {args.samples}"
           if args.validate and args.validate <= args.samples else
           "--data, --tokenizer and --work are needed to run" if None in (args.data, args.tokenizer, args.work)
           else None)
    if not bad:
        try:
            args.engine = engine_keys(args.engine)
        except EvalsuiteError as exc:
            bad = str(exc)
    if bad:
        print(bad, file=sys.stderr)
        return 2
    os.environ.setdefault("EVALSUITE_DATA", str(args.data))
    record: dict[str, Any] = {"argv": list(argv if argv is not None else sys.argv[1:]), "engine": args.engine,
                              "checkpoints": {}}
    t0 = time.perf_counter()
    folders = {name: args.work / name for name in GATES}
    # All three, whatever --models runs: the suite names every source, and `evalsuite run` checks each before it
    # runs any (run 5's first call ran the baseline alone and was refused: the gated folders were not there yet).
    for name, gate in GATES.items():
        record["checkpoints"][name] = write_released(folders[name], gate=gate, tokenizer_dir=args.tokenizer, dims=dims)
    record["checkpoints_s"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    strict_json.write(args.out / "protocol.json", record)
    for samples in [args.samples] + ([args.validate] if args.validate else []):
        _run_count(record, samples, folders, models, args, t0, shape_of)
        strict_json.write(args.out / "protocol.json", record)
    small, large = record.get(f"n{args.samples}", {}), record.get(f"n{args.validate}", {})
    if args.validate and "units" in small and "units" in large:
        record["validation"] = validate(small["units"], large["units"], args.validate / args.samples, shape_of)
        strict_json.write(args.out / "protocol.json", record)
    for key in ("validation", f"n{args.samples}", f"n{args.validate}"):
        got = record.get(key, {})
        summary = got if key == "validation" else got.get("priced", {})
        print(key, strict_json.dumps({k: v for k, v in summary.items() if k != "units"}, where="protocol"))
    return 0


def revalidate(records: Sequence[Path], samples: int, larger: int, shape_of: dict[str, ModelShape]) -> dict[str, Any]:
    """:func:`validate` on this command's ``protocol.json`` records that hold both counts (``n<samples>`` and
    ``n<larger>``), their units together: a record checked again after the predictor changed."""
    small: dict[str, Any] = {}
    large: dict[str, Any] = {}
    for path in records:  # a unit in more than one record is taken from the first, as combine() takes it
        for key, unit in recorded_units(path, samples).items():
            small.setdefault(key, unit)
        for key, unit in recorded_units(path, larger).items():
            large.setdefault(key, unit)
    return validate(small, large, larger / samples, shape_of)


def validate(small: dict[str, Any], large: dict[str, Any], factor: float,
             shape_of: dict[str, ModelShape]) -> dict[str, Any]:
    """What the small run predicts for each unit of the large run, against what the large run measured."""
    rows, predicted, measured = [], 0.0, 0.0
    for key, u in large.items():
        if key.startswith("_") or key not in small or u["status"] != "complete" or small[key]["status"] != "complete":
            continue
        s = small[key]
        shape = shape_of.get(s["model"].removesuffix("-yarn4"))
        if s["work"] is None or shape is None:
            guess = s["seconds"]
        else:
            f = u["samples"] / max(s["samples"], 1) if s["task"] in QA_FULL else factor
            guess = predict_unit(s, f, shape)
        rows.append({"unit": key, "small_s": s["seconds"], "predicted_s": guess, "measured_s": u["seconds"],
                     "error": guess / u["seconds"] - 1 if u["seconds"] else None,
                     "fixed_s": {"small": fixed_unit_s(s), "large": fixed_unit_s(u)}})
        predicted += guess
        measured += u["seconds"]
    if not rows:  # the larger count finished no unit the smaller did (a cut-off call): nothing was checked
        return {"units": [], "checked": False, "reason": "no unit complete at both counts"}
    out = {"units": rows, "checked": True, "predicted_s": predicted, "measured_s": measured,
           "error": predicted / measured - 1 if measured else None,
           "within_10_percent": bool(measured) and abs(predicted / measured - 1) <= 0.10}
    # What is paid once (compiling, building the task, a new shape's first batch) is measured, not predicted: the
    # larger run, a new process, pays it again from warm compile caches (run 7: the 64K/128K unit's first batches
    # took 38 s of setup and prefill beyond their steady rate at 1 sample, 8 s at 2), while the full protocol pays
    # it once, cold, as the smaller run did. The check of the extrapolation proper is on the seconds beyond it.
    p_beyond = predicted - sum(r["fixed_s"]["small"] for r in rows)
    m_beyond = measured - sum(r["fixed_s"]["large"] for r in rows)
    out.update(beyond_fixed={"predicted_s": p_beyond, "measured_s": m_beyond,
                             "error": p_beyond / m_beyond - 1 if m_beyond else None,
                             "within_10_percent": bool(m_beyond) and abs(p_beyond / m_beyond - 1) <= 0.10})
    return out


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
