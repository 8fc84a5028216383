"""The hardware limit of the paper's RULER protocol, from the actual prompts, and its data-parallel projection.

    python -m evalsuite.lab.bench.protocol --data DATA --tokenizer TOKENIZER_DIR [--samples 100] [--gpus 8] [--out F] \\
        [--shares]

For each RULER task and length of ``tasks/suites/paper.yaml`` (4K-32K natively, 64K and 128K with YaRN x4;
the QA tasks only where their files are in ``--data``), every sample is generated as the suite would (same
generator, seed and token counts) and costed with :class:`evalsuite.lab.bench.flops.GenerationCost`: its prompt's
forward FLOPs at 790 TFLOP/s plus one KV-cache read per generated token at 4.3 TB/s (the paper-shaped 1.72B,
bf16; ``max_gen_toks`` tokens generated, as a model that never stops early). The projection to ``--gpus`` GPUs
splits the requests as :mod:`evalsuite.run.distributed.balance` does (largest first to the least-loaded GPU), so it
is the single-GPU limit over N plus the imbalance of the largest requests: a labelled projection, not a run.

``--shares``: per length, what the batched engine's shared prefixes skip of those prompts' prefill
(:func:`evalsuite.lab.bench.shared_prefix.token_order_shares` over all of the length's prompts, as the engine
orders a length's requests; each prompt tokenised as the adapter does with SmolLM2's tokenizer, without special
tokens): ``shares_by_length``, which ``protocol_run --price --shares`` reads. The limit itself still counts every
prompt's tokens, as issue 15 defines it.
"""

from __future__ import annotations

import argparse
import heapq
from pathlib import Path
from typing import Any, Sequence

from evalsuite import strict_json
from evalsuite.lab.bench.flops import ModelShape, generation_cost

PAPER_LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072)
PAPER_MODELS = 3  # baseline, headwise, elementwise


def paper_shape() -> ModelShape:
    """The 1.72B dense shape of the paper's table 7 (:func:`evalsuite.models.tiny.paper_shaped_config`) in bf16,
    read off a model built on the meta device (no memory)."""
    import dataclasses

    import torch

    from evalsuite.models.gated_qwen3 import GatedQwen3ForCausalLM
    from evalsuite.models.tiny import paper_shaped_config

    with torch.device("meta"):
        model = GatedQwen3ForCausalLM(paper_shaped_config("none"))
    return dataclasses.replace(ModelShape.of(model), bytes_per_param=2)


def ruler_request_limits(tokenizer: Any, data_dir: Path, *, lengths: Sequence[int] = PAPER_LENGTHS,
                         samples: int = 100, shape: ModelShape | None = None,
                         shares: bool = False) -> dict[str, Any]:
    """Per (task, length): the samples' prompt tokens and limit seconds; plus every request's limit; ``shares``:
    per length, the prefill FLOPs that shared prefixes skip (``shares_by_length``)."""
    import numpy as np

    from evalsuite.families.ruler.generate import TASKS, NotRun, RulerDataPaths, generate

    shape = shape or paper_shape()
    paths = RulerDataPaths.from_dir(data_dir)
    rows, requests, by_length = [], [], {}
    for length in lengths:
        prompts: list[Any] = []
        for task in TASKS:
            got = generate(task, tokenizer=tokenizer, length=length, n_samples=samples, seed=1234,
                           haystack_path=paths.essay, qa_paths=paths.qa,
                           verify="spot")
            if isinstance(got, NotRun):
                rows.append({"task": task, "length": length, "not_run": got.reason})
                continue
            limits = [generation_cost(shape, prompt_tokens=s.token_count,
                                      decode_steps=s.max_gen_toks - 1).limit_seconds() for s in got]
            requests += limits
            rows.append({"task": task, "length": length, "samples": len(got),
                         "prompt_tokens": sum(s.token_count for s in got), "limit_s": sum(limits)})
            if shares:
                prompts += [np.asarray(tokenizer(s.prompt, add_special_tokens=False)["input_ids"], dtype=np.uint32)
                            for s in got]  # 4 bytes a token: 1,100 prompts of 128K as lists would take gigabytes
        if shares and prompts:
            by_length[str(length)] = length_shares(shape, prompts)
    return {"rows": rows, "requests": requests, **({"shares_by_length": by_length} if shares else {})}


def length_shares(shape: ModelShape, prompts: Sequence[Sequence[int]]) -> dict[str, Any]:
    """What shared prefixes skip of one length's prompts: tokens, prefill FLOPs, and the FLOP share."""
    from evalsuite.lab.bench.shared_prefix import prefill_flops, token_order_shares

    shared = token_order_shares(prompts)
    full = sum(prefill_flops(shape, len(p)) for p in prompts)
    left = sum(prefill_flops(shape, len(p), k) for p, k in zip(prompts, shared))
    return {"prompts": len(prompts), "prompt_tokens": sum(map(len, prompts)), "shared_tokens": sum(shared),
            "prefill_flops": full, "shared_prefill_flops": full - left, "flop_share": 1 - left / full}


def data_parallel_makespan(costs: Sequence[float], gpus: int) -> float:
    """LPT: largest first, each to the least-loaded GPU; the most loaded GPU's seconds."""
    loads = [0.0] * gpus
    heapq.heapify(loads)
    for c in sorted(costs, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + c)
    return max(loads)


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoTokenizer

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.protocol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--gpus", type=int, default=8)
    p.add_argument("--out", type=Path)
    p.add_argument("--shares", action="store_true",
                   help="also what the engine's shared prefixes skip of each length's prefill (tokenises every prompt)")
    args = p.parse_args(argv)
    tok = AutoTokenizer.from_pretrained(str(args.tokenizer))
    got = ruler_request_limits(tok, args.data, samples=args.samples, shares=args.shares)
    per_model = sum(r.get("limit_s", 0.0) for r in got["rows"])
    all_requests = got["requests"] * PAPER_MODELS
    out = {"per_model_ruler_limit_s": per_model, "models": PAPER_MODELS,
           "protocol_ruler_limit_one_gpu_s": per_model * PAPER_MODELS,
           "projection": {"gpus": args.gpus, "label": "projection from the data-parallel cost model, not a run",
                          "ruler_limit_makespan_s": data_parallel_makespan(all_requests, args.gpus)},
           "by_length_s": {str(L): sum(r.get("limit_s", 0.0) for r in got["rows"] if r["length"] == L)
                           for L in PAPER_LENGTHS},
           **({"shares_by_length": got["shares_by_length"]} if args.shares else {}),
           "rows": got["rows"]}
    text = strict_json.dumps(out, where=str(args.out or "the protocol limit"), indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(strict_json.dumps({k: v for k, v in out.items() if k != "rows"}, where="the summary", indent=1))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
