"""GPU speed of a paper-shaped hybrid (Qwen3.5-style) model: evalsuite's adapter vs stock lm-eval ``hf``.

``python -m evalsuite.lab.bench.hybrid --data DIR --out DIR`` builds a random ~1.7B
Qwen3.5 text model (the paper's dense shape, every 4th layer softmax attention
with the built-in gate, the rest Gated DeltaNet) in bf16 on the GPU, then runs
HellaSwag (``--hellaswag`` items, 0-shot) and one RULER NIAH sample at
``--ruler-length`` tokens through both backends on the same model object,
writing ``hybrid.json`` after each step (so a timeout keeps what finished).
Falls back to ``qwen3_next`` (dense MLPs) where transformers has no ``qwen3_5``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import torch

from evalsuite import strict_json
from evalsuite.lab.bench.timing import sync

TOKENIZER = Path(__file__).resolve().parents[2] / "assets" / "zoo" / "tiny-baseline"  # SmolLM2's tokenizer


def _model(device: str, shape: str) -> tuple[torch.nn.Module, str]:
    from evalsuite.models.tiny_hybrid import hybrid_config, random_hybrid

    family = "qwen3_5" if importlib.util.find_spec("transformers.models.qwen3_5") else "qwen3_next"
    extra: dict[str, Any] = {"max_position_embeddings": 262144}
    config = hybrid_config(family, shape=shape, **extra)
    if family == "qwen3_next":
        config.mlp_only_layers = list(range(config.num_hidden_layers))  # dense, as Qwen3.5's small models
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    return random_hybrid(config, seed=0, dtype=dtype, device=device), family


def _timed(fn) -> tuple[Any, float]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def _agreement(ours: list, stock: list) -> dict[str, Any]:
    by_key = {(s.task, s.doc_id): s for s in stock}
    deltas, same = [], 0
    for s in ours:
        ref = by_key[(s.task, s.doc_id)]
        deltas += [abs(float(a) - float(b)) for a, b in zip(s.resps, ref.resps) if isinstance(a, (int, float))]
        same += all(s.scores.get(k) == ref.scores.get(k) for k in ("acc", "acc_norm", "score", "exact_match")
                    if k in s.scores)
    return {"items": len(ours), "decisions_identical": same, "max_abs_delta_loglik": max(deltas, default=None)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.hybrid", description=__doc__)
    p.add_argument("--data", required=True, help="data folder with hellaswag/hellaswag_val.jsonl")
    p.add_argument("--out", required=True)
    p.add_argument("--hellaswag", type=int, default=2000)
    p.add_argument("--ruler-length", type=int, default=32768)
    p.add_argument("--stock-batch-size", type=int, default=64)
    p.add_argument("--device", default="cuda", help="cuda (bf16), or cpu (fp32) for a smoke test")
    p.add_argument("--shape", default="paper", choices=("paper", "tiny"))
    a = p.parse_args(argv)
    import transformers
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.run.unit_eval import run_lm_eval
    from evalsuite.run.runner import TASKS_DIR

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model, family = _model(a.device, a.shape)
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    max_length = a.ruler_length + 256
    record: dict[str, Any] = {
        "family": family, "transformers": transformers.__version__, "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu", "dtype": str(model.dtype),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "layer_types": list(model.config.layer_types),
        "kernels": {"flash-linear-attention (fla)": importlib.util.find_spec("fla") is not None,
                    "causal-conv1d": importlib.util.find_spec("causal_conv1d") is not None},
        "stock_batch_size": a.stock_batch_size}
    ours = EvalsuiteLM(model, tokenizer, max_length=max_length)
    stock = HFLM(pretrained=model, tokenizer=tokenizer, max_length=max_length, batch_size=a.stock_batch_size)

    def save() -> None:
        strict_json.write(out / "hybrid.json", record)

    save()
    tm = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"data_dir": a.data})
    run = lambda lm: run_lm_eval(lm, task="es_hellaswag", task_manager=tm, shots=0, limit=a.hellaswag, seed=1234)  # noqa: E731
    mine, t_ours = _timed(lambda: run(ours))
    theirs, t_stock = _timed(lambda: run(stock))
    record["hellaswag"] = {"seconds_ours": t_ours, "seconds_stock": t_stock, "speedup": t_stock / t_ours,
                           "acc_norm_ours": next(m.value for m in mine.metrics if m.name == "acc_norm"),
                           "acc_norm_stock": next(m.value for m in theirs.metrics if m.name == "acc_norm"),
                           "path_ours": dict(ours.paths), **_agreement(mine.samples, theirs.samples)}
    save()
    tm = TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                     metadata={"data_dir": a.data, "max_seq_lengths": [a.ruler_length], "tokenizer": str(TOKENIZER),
                               "seed": 1234, "samples": 1})
    run = lambda lm: run_lm_eval(lm, task="ruler_es_niah_single_1", task_manager=tm, shots=None, limit=None,  # noqa: E731
                                 seed=1234)
    mine, t_ours = _timed(lambda: run(ours))
    theirs, t_stock = _timed(lambda: run(stock))
    record["ruler"] = {"length": a.ruler_length, "seconds_ours": t_ours, "seconds_stock": t_stock,
                       "speedup": t_stock / t_ours, "prompt_tokens": ours.generation_timings[-1].get("prompt_tokens"),
                       "generated_tokens_ours": len(ours.generated_tokens[-1]),
                       "same_text": [s.resps for s in mine.samples] == [s.resps for s in theirs.samples],
                       "path_ours": dict(ours.paths), "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if a.device == "cuda" else None}
    save()
    print(strict_json.dumps(record, where="hybrid.json", indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
