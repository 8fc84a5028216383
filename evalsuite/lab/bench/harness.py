"""Run a :class:`~evalsuite.lab.bench.config.BenchConfig`: build the models, run every workload, keep going on errors.

Order (evalsuite before stock in each workload; the record is rewritten after
each step so a killed run keeps what it finished):

1. baseline (paper shape, random, seeded): RULER at the unstretched length, the
   YaRN-stretched baseline for the long sample, then HellaSwag, MMLU, WikiText;
2. issue 4: the gated model's RULER samples (evalsuite, fast decoding);
3. issue 3: quick tasks + diagnostics for each gate variant (evalsuite only).
"""

from __future__ import annotations

import gc
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

from evalsuite import strict_json
from evalsuite.lab.bench.config import SCORING_VARIANTS, BenchConfig, RulerWorkload
from evalsuite.lab.bench.flops import ModelShape
from evalsuite.spec import EngineConfig
from evalsuite.lab.bench.timing import measure
from evalsuite.lab.bench.workloads import ruler_workload, run_ours, scoring_workload


class Recorder:
    """The run's JSON record, rewritten after every step; each step's failure is recorded, not raised."""

    def __init__(self, path: Path, header: dict[str, Any], deadline_s: float | None) -> None:
        self.path, self.t0, self.deadline_s = path, time.perf_counter(), deadline_s
        self.data: dict[str, Any] = header | {"workloads": {}, "errors": {}}
        self.flush()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def past_deadline(self) -> bool:
        return self.deadline_s is not None and self.elapsed > self.deadline_s

    def step(self, key: str, fn: Callable[[], Any], record: Callable[[Any], Any] | None = None) -> Any:
        """Run ``fn``; store its value (or ``record(value)``) under ``key``; on an exception store the error."""
        t0 = time.perf_counter()
        print(f"[bench {self.elapsed:7.1f}s] {key} ...", flush=True)
        try:
            out = fn()
            self.data["workloads"][key] = out if record is None else record(out)
            return out
        except Exception as exc:  # noqa: BLE001 - a failed workload is recorded and the rest still runs
            self.data["errors"][key] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
            print(f"[bench] {key} FAILED: {type(exc).__name__}: {exc}", flush=True)
            return None
        finally:
            print(f"[bench {self.elapsed:7.1f}s] {key} done in {time.perf_counter() - t0:.1f}s", flush=True)
            self.flush()

    def flush(self) -> None:
        self.data["elapsed_s"] = self.elapsed
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(strict_json.dumps(self.data, where=str(self.path), indent=1, default=_json_default))
        tmp.replace(self.path)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def build_model(cfg: BenchConfig, gate: str, *, yarn_factor: float = 1.0) -> torch.nn.Module:
    from evalsuite.models.tiny import paper_shaped_config, random_model
    from evalsuite.models.yarn import apply_yarn
    from evalsuite.spec import YarnSpec

    config = paper_shaped_config(gate, max_position_embeddings=cfg.original_max_position, **cfg.model_overrides)
    if yarn_factor > 1:
        apply_yarn(config, YarnSpec(factor=yarn_factor, original_max_position_embeddings=cfg.original_max_position))
    return random_model(config, seed=cfg.seed, dtype=getattr(torch, cfg.dtype), device=cfg.device,
                        attn_implementation="sdpa")


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def task_manager(data_dir: Path, **metadata: Any) -> Any:
    from lm_eval.tasks import TaskManager

    from evalsuite.run.runner import TASKS_DIR

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                       metadata={"data_dir": str(data_dir)} | metadata)


def ruler_prompt(tokenizer: Any, tokenizer_dir: Path, length: int, seed: int, data_dir: Path) -> tuple[str, int]:
    """One niah_single_1 sample sized to ``length`` tokens: (prompt, max_gen_toks)."""
    from evalsuite.families.ruler.generate import RulerDataPaths, generate

    paths = RulerDataPaths.from_dir(data_dir)
    sample = generate("niah_single_1", tokenizer=tokenizer, length=length, n_samples=1, seed=seed,
                      haystack_path=paths.essay, verify="spot")[0]
    return sample.prompt, sample.max_gen_toks


def run_bench(cfg: BenchConfig, *, data_dir: Path, tokenizer_dir: Path, out_path: Path,
              header: dict[str, Any]) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    rec = Recorder(out_path, header | {"config": _config_dict(cfg)}, cfg.deadline_s)
    device = torch.device(cfg.device)
    model = build_model(cfg, "none")
    rec.data["model"] = ModelShape.of(model).to_dict()
    if cfg.warm_up:
        _warm_up(rec, cfg, model, tok, data_dir, device)
    prompts: dict[int, tuple[str, int]] = {}
    if "ruler" in cfg.parts or "gated" in cfg.parts:
        for w in cfg.ruler:
            prompts[w.length] = rec.step(f"ruler_prompt_{w.length}", lambda w=w: ruler_prompt(
                tok, tokenizer_dir, w.length, cfg.seed, data_dir), record=_prompt_summary) or ("", 0)
    for part in [p for p in cfg.parts if p in ("ruler", "scoring")]:  # in the order asked for
        if part == "ruler":  # the stretched model replaces the baseline for its sample, then comes back
            for w in cfg.ruler:
                if w.yarn_factor > 1:
                    model = _rebuild(model, cfg, "none", w.yarn_factor)
                _ruler(rec, cfg, model, tok, w, prompts[w.length], device, stock=True, key=f"ruler_{w.length}")
                if w.yarn_factor > 1:
                    model = _rebuild(model, cfg, "none", 1.0)
        else:
            _baseline_scoring(rec, cfg, model, tok, data_dir, device)
    del model
    _free()
    if cfg.ruler_gated and "gated" in cfg.parts:
        for w in cfg.ruler:
            gated = build_model(cfg, cfg.ruler_gated, yarn_factor=w.yarn_factor)
            _ruler(rec, cfg, gated, tok, w, prompts[w.length], device, stock=False,
                   key=f"ruler_{w.length}_{cfg.ruler_gated}", modes=("fast",))
            del gated
            _free()
    from evalsuite.lab.bench.quick import quick_tasks

    for gate in cfg.quick_gates if "quick" in cfg.parts else ():
        rec.step(f"quick_{gate}", lambda gate=gate: quick_tasks(cfg, gate, tok, tokenizer_dir, data_dir, device))
        _free()
    rec.data["finished"] = True
    rec.flush()
    return rec.data


def _prompt_summary(prompt: tuple[str, int]) -> dict[str, Any]:
    import hashlib

    text, max_gen = prompt
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest(), "max_gen_toks": max_gen,
            "tail": text[-160:]}


def _rebuild(model: Any, cfg: BenchConfig, gate: str, yarn_factor: float) -> Any:
    del model
    _free()
    return build_model(cfg, gate, yarn_factor=yarn_factor)


def _config_dict(cfg: BenchConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)


def _stock_factory(cfg: BenchConfig, model: Any, tok: Any, max_length: int, batch_size: str | int) -> Callable:
    def make() -> Any:
        from lm_eval.models.huggingface import HFLM

        return HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size, max_length=max_length)

    return make


def _warm_up(rec: Recorder, cfg: BenchConfig, model: Any, tok: Any, data_dir: Path, device: torch.device) -> None:
    """Imports, CUDA/cuBLAS/cuDNN initialisation and lm-eval's first task load, outside every timed run."""
    from evalsuite.engine.lm import EvalsuiteLM

    def warm() -> dict[str, Any]:
        shape = ModelShape.of(model)
        # Compiles the default scoring layers (compiled on CUDA) unless no scoring workload follows.
        lm = EvalsuiteLM(model, tok, EngineConfig(batch_tokens=4096, row_tokens=512,
                                                  compile_scoring=None if "scoring" in cfg.parts else False),
                         max_length=1024)
        tm = task_manager(data_dir)
        with measure(device) as m:
            run_ours(lm, task="es_hellaswag", shots=0, limit=2, tm=tm, seed=cfg.seed, shape=shape, device=device)
            if cfg.with_stock:
                from evalsuite.lab.bench.workloads import run_stock

                run_stock(_stock_factory(cfg, model, tok, 1024, 1), task="es_hellaswag", shots=0, limit=2, tm=tm,
                          seed=cfg.seed, device=device, useful={"requests": 0, "useful_tokens": 0, "useful_flops": 0})
        info = {"seconds": m.seconds}
        if device.type == "cuda":
            from evalsuite.engine import kernels
            from evalsuite.engine.static_cache import bmm_out_dtype_ok

            with measure(device) as mk:  # FlashAttention-4 compiles its kernel in its check
                info |= {"fa4_attention_ok": kernels.fa4_attention_ok(device.index or 0),
                         "cudnn_attention_ok": kernels.cudnn_attention_ok(device.index or 0),
                         "bmm_out_dtype_ok": bmm_out_dtype_ok("cuda"),
                         "causal_backend_auto": kernels.causal_backend(device, "auto")}
            info["kernel_checks_s"] = mk.seconds
        # Each scoring configuration once on batches of several rows (a 1-row batch compiles a specialised graph
        # that the real batches do not reuse): compilation and first-use costs, recorded here, untimed later.
        # The default one too ("default": compiled on CUDA).
        warm_sets = {"default": {}} | {name: SCORING_VARIANTS[name] for name in cfg.scoring_variants}
        for name, opts in warm_sets.items() if "scoring" in cfg.parts else ():
            lm = variant_lm(model, tok, opts, max_length=4096, batch_tokens=8192, row_tokens=512)
            with measure(device) as mc:
                r, _ = run_ours(lm, task="es_hellaswag", shots=0, limit=64, tm=tm, seed=cfg.seed, shape=shape,
                                device=device)
                run_ours(lm, task="es_wikitext", shots=0, limit=2, tm=tm, seed=cfg.seed, shape=shape,
                         device=device)
            info[f"warm_{name}_s"] = mc.seconds
            info[f"warm_{name}_engine"] = r["engine"]
        return info

    rec.step("warm_up", warm)


def variant_lm(model: Any, tok: Any, options: dict[str, Any], *, max_length: int, **engine: Any) -> Any:
    """An EvalsuiteLM with a scoring variant's options (EngineConfig fields) over ``engine``'s."""
    from evalsuite.engine.lm import EvalsuiteLM

    return EvalsuiteLM(model, tok, EngineConfig(**{**engine, **options}), max_length=max_length)


def _baseline_scoring(rec: Recorder, cfg: BenchConfig, model: Any, tok: Any, data_dir: Path,
                      device: torch.device) -> None:
    from evalsuite.engine.lm import EvalsuiteLM

    shape = ModelShape.of(model)
    tm = task_manager(data_dir)
    for w in cfg.scoring:
        def one(w=w) -> dict[str, Any]:
            ours = EvalsuiteLM(model, tok, EngineConfig(batch_tokens=w.batch_tokens, row_tokens=w.row_tokens),
                               max_length=w.max_length)
            bs = cfg.stock_batch_size if cfg.stock_batch_size == "auto" else int(cfg.stock_batch_size)
            variants = {name: variant_lm(model, tok, SCORING_VARIANTS[name], max_length=w.max_length,
                                         batch_tokens=w.batch_tokens, row_tokens=w.row_tokens)
                        for name in cfg.scoring_variants}
            return scoring_workload(w, ours=ours, make_stock=_stock_factory(cfg, model, tok, w.max_length, bs),
                                    tm=tm, seed=cfg.seed, shape=shape, device=device,
                                    with_stock=cfg.with_stock and not rec.past_deadline(), variants=variants)

        rec.step(w.name, one)
        _free()


def _ruler(rec: Recorder, cfg: BenchConfig, model: Any, tok: Any, w: RulerWorkload, prompt: tuple[str, int],
           device: torch.device, *, stock: bool, key: str, modes: tuple[str, ...] | None = None) -> None:
    from evalsuite.engine.lm import EvalsuiteLM

    text, max_gen = prompt
    if not text:
        return
    max_gen = min(max_gen, cfg.ruler_max_gen or max_gen)

    def one() -> dict[str, Any]:
        ours = EvalsuiteLM(model, tok, max_length=w.length)
        make = _stock_factory(cfg, model, tok, w.length, 1) if stock and cfg.with_stock and not rec.past_deadline() \
            else None
        out = ruler_workload(key, ours=ours, make_stock=make, prompt=text, max_gen_toks=max_gen,
                             modes=modes or w.modes, shape=ModelShape.of(model), device=device,
                             eos_id=tok.eos_token_id, repeat=w.repeat)
        return out | {"length": w.length, "yarn_factor": w.yarn_factor,
                      "gate": getattr(model.config, "attn_output_gate", "none")}

    rec.step(key, one)
    _free()
