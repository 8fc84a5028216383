"""Greedy tokens of trained models in bf16: batched, one at a time, the exact decoder and stock lm-eval (issue 15).

Runs 5 and 6 compared tokens on the paper-shaped *random* model, whose next-token logits are flat: the top two
are often 1-4 bf16 ulps apart, so any change of kernel (batch size, attention) flips some near tie and every
later token follows from it (11 of 100 samples identical). What a trained model does is another question. The zoo's
trio ships in the repository (``tiny-{baseline,headwise,elementwise}``, trained on Gutenberg, the paper's
on-disk format), so it reaches the GPU with every call and asks the issue's question of a trained model:

    python -m evalsuite.lab.bench.trained_agreement --data DATA --out OUT [--samples 33] [--length 2048] \\
        [--stock-samples 11] [--models tiny-baseline,tiny-headwise,tiny-elementwise] [--device cuda] [--compiled] \\
        [--unshared] [--unpacked] [--pack-tokens N] [--wide]

Per model, on RULER samples at ``--length`` tokens (round-robin over the tasks that need no QA files, their own
``max_gen_toks``), each decoder's greedy tokens through ``EvalsuiteLM.generate_until``:

* ``batched``: the device's defaults (on CUDA the flex step and the compiled prefill; shared prompt prefixes
  prefilled once), rows from free memory;
* ``batched_unshared`` (``--unshared``): the same with ``share_prefix`` off, every prompt prefilled whole; it
  is compared with ``batched``, ``exact`` and stock, the evidence for sharing's default;
* ``batched_compiled`` (``--compiled``): the same in generation mode ``compiled``, whose step compiles each
  layer's pure halves for several rows (run 8: 8-20 % shorter steps than ``fast``'s); it is compared with
  ``batched``, ``exact`` and stock, the evidence a change of the default mode needs;
* ``batched_unpacked`` (``--unpacked``): the same with one prompt a forward (``pack_tokens`` 0), where ``batched``
  prefills the short prompts several to a forward (on CUDA by default, or at ``--pack-tokens``); it is compared
  with ``batched``, ``exact`` and stock, the evidence for packing's default;
* ``batched_wide`` (``--wide``): the same with the flex kernel's ``decode_split`` "wide" (each row's keys split as
  a one-row cache's are, where the cache is long: with the trio's 2 K/V heads, 33 rows at ``--length`` 32768 get 8
  splits against torch's 4; at 2048 none is wider); it is compared with ``batched``, ``exact`` and stock, the
  evidence a change of the default split needs;
* ``one_at_a_time``: the same engine, one row;
* ``exact``: the transformers-equivalent forward, one request at a time;
* ``stock``: lm-eval's ``hf`` backend (batch size 1) on the first ``--stock-samples``.

Each pair is compared per sample; a differing sample is classified at its first difference by the reference
forward (:func:`evalsuite.lab.bench.batched.classify_difference`: the two tokens' bf16 logits, their gap in
ulps). ``margins``: over every step of the first ``--margin-samples`` batched continuations, the reference's gap
between its top two logits in ulps, the measure of how often a near tie can flip at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import torch

from evalsuite.lab.bench.batched import agreement, bf16_ulp, generate_run, ruler_samples, without_tokens
from evalsuite.lab.bench.flops import ModelShape
from evalsuite.lab.bench.harness import Recorder
from evalsuite.lab.bench.timing import StockProbe, measure
from evalsuite.lab.bench.workloads import greedy_instance

MODELS = ("tiny-baseline", "tiny-headwise", "tiny-elementwise")


@torch.inference_mode()
def margins(model: Any, prompts: Sequence[list[int]], continuations: Sequence[list[int]]) -> dict[str, Any]:
    """The reference forward's (transformers') top-1 minus top-2 logit at every generated step, in bf16 ulps of the
    top logit: how many steps are near ties (<= 4 ulps), where another kernel's rounding may pick the other token.
    One forward over prompt + continuation per sample; the step that chose token ``j`` reads position
    ``len(prompt) + j - 1``."""
    gaps: list[float] = []
    for prompt, cont in zip(prompts, continuations):
        if not cont:
            continue
        ids = torch.tensor([[*prompt, *cont]], device=model.device)
        logits = model(ids).logits[0, len(prompt) - 1:len(prompt) - 1 + len(cont)].float()
        top2 = logits.topk(2, dim=-1).values
        gaps += [(a - b) / bf16_ulp(a) for a, b in top2.tolist()]
    t = torch.tensor(gaps or [0.0])
    return {"steps": len(gaps), "median_ulps": float(t.median()), "ties": int((t == 0).sum()),
            "within_4_ulps": int((t <= 4).sum()), "within_16_ulps": int((t <= 16).sum())}


def stock_tokens(model: Any, tok: Any, samples: Sequence[tuple[str, int, str]], max_length: int,
                 eos_id: int | None) -> tuple[list[list[int]], float]:
    """lm-eval ``hf``'s greedy tokens for each sample (one request per call: its own order), EOS cut."""
    from lm_eval.models.huggingface import HFLM

    stock = HFLM(pretrained=model, tokenizer=tok, batch_size=1, max_length=max_length)
    probe = StockProbe().attach(stock)
    out: list[list[int]] = []
    with measure(model.device) as m:
        for prompt, max_gen, _ in samples:
            stock.generate_until([greedy_instance(prompt, max_gen)], disable_tqdm=True)
            toks = probe.generated[-1]
            out.append(toks[:toks.index(eos_id)] if eos_id is not None and eos_id in toks else toks)
    return out, m.seconds


def one_model(rec: Recorder, name: str, data_dir: Path, *, length: int, n: int, n_stock: int, device: str,
              margin_samples: int, compiled: bool = False, unshared: bool = False, unpacked: bool = False,
              pack_tokens: int | None = None, wide: bool = False) -> None:
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    dtype = "bfloat16" if device == "cuda" else "float32"
    loaded = load(SourceSpec(builtin=f"zoo/{name}"), dtype=dtype, device=device)
    model, tok = loaded.model, loaded.tokenizer
    shape, dev = ModelShape.of(model), torch.device(device)
    samples = rec.step(f"{name}_samples", lambda: ruler_samples(tok, data_dir, length, n),
                       record=lambda s: {"n": len(s), "tasks": sorted({t for _, _, t in s})})
    if not samples:
        return
    lm = EvalsuiteLM(model, tok, max_length=length)
    runs: dict[str, Any] = {}
    # (key, mode, rows, share_prefix, pack_tokens, decode_split); None: the device's default
    decoders: list[tuple[str, str, int | None, bool | None, int | None, str | None]] = [
        ("batched", "fast", None, None, pack_tokens, None), ("one_at_a_time", "fast", 1, None, None, None),
        ("exact", "exact", 1, None, None, None)]
    if compiled:
        decoders.insert(1, ("batched_compiled", "compiled", None, None, pack_tokens, None))
    if unshared:
        decoders.insert(1, ("batched_unshared", "fast", None, False, pack_tokens, None))
    if unpacked:
        decoders.insert(1, ("batched_unpacked", "fast", None, None, 0, None))
    if wide:
        decoders.insert(1, ("batched_wide", "fast", None, None, pack_tokens, "wide"))
    for key, mode, rows, share, pack, split in decoders:
        runs[key] = rec.step(f"{name}_{key}", lambda mode=mode, rows=rows, share=share, pack=pack, split=split:
                             generate_run(lm, samples, rows=rows, mode=mode, shape=shape, device=dev,
                                          share_prefix=share, pack_tokens=pack, decode_split=split),
                             record=without_tokens)
    ref = runs["batched"]
    variants = [key for key, *_ in decoders if key.startswith("batched_")]
    pairs = [("batched", key) for key in runs if key != "batched"] + [(key, "exact") for key in variants]
    for a, b in pairs:
        if runs[a] and runs[b]:
            rec.step(f"{name}_{a}_vs_{b}", lambda a=a, b=b: agreement(lm, samples, runs[a]["tokens"],
                                                                     runs[b]["tokens"]))
    if ref and margin_samples:  # before stock, the slowest step: a call cut short keeps it
        rec.step(f"{name}_margins", lambda: margins(model, [lm.tok_encode(p) for p, _, _ in samples[:margin_samples]],
                                                    ref["tokens"][:margin_samples]))
    if ref and n_stock:
        got = rec.step(f"{name}_stock", lambda: stock_tokens(model, tok, samples[:n_stock], length,
                                                             tok.eos_token_id),
                       record=lambda g: {"samples": len(g[0]), "seconds": g[1]})
        if got:
            for key in ["batched", "exact", *variants]:
                if runs[key]:
                    rec.step(f"{name}_{key}_vs_stock", lambda key=key: agreement(
                        lm, samples[:n_stock], runs[key]["tokens"][:n_stock], got[0]))


def main(argv: Sequence[str] | None = None) -> int:
    from evalsuite.lab.bench.cli import environment

    p = argparse.ArgumentParser(prog="python -m evalsuite.lab.bench.trained_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--samples", type=int, default=33)
    p.add_argument("--length", type=int, default=2048)
    p.add_argument("--stock-samples", type=int, default=11)
    p.add_argument("--margin-samples", type=int, default=11, help="samples whose every step's margin is measured")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--name", default="trained")
    p.add_argument("--compiled", action="store_true",
                   help="also decode batched in generation mode 'compiled' (the layer's halves compiled)")
    p.add_argument("--unshared", action="store_true",
                   help="also decode batched with share_prefix off (every prompt prefilled whole)")
    p.add_argument("--unpacked", action="store_true",
                   help="also decode batched with one prompt a forward (no packed prefills)")
    p.add_argument("--wide", action="store_true",
                   help="also decode batched with the flex kernel's wide split of each row's keys (decode_split)")
    p.add_argument("--pack-tokens", type=int, default=None,
                   help="the batched decoders' packed-prefill tokens on this device (default: the engine's)")
    args = p.parse_args(argv)
    rec = Recorder(args.out / f"{args.name}.json", {"environment": environment(), "argv": list(argv or [])}, None)
    for name in args.models.split(","):
        one_model(rec, name, args.data, length=args.length, n=args.samples, n_stock=args.stock_samples,
                  device=args.device, margin_samples=args.margin_samples, compiled=args.compiled,
                  unshared=args.unshared, unpacked=args.unpacked, pack_tokens=args.pack_tokens, wide=args.wide)
        if args.device == "cuda":
            torch.cuda.empty_cache()
    rec.data["finished"] = True
    rec.flush()
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
