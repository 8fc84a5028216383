"""``evalsuite diagnose MODEL``: the per-layer diagnostics of one model, as a table, JSON and PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite import strict_json
from evalsuite.diagnostics.result import DiagnosticsResult
from evalsuite.errors import EvalsuiteError, NonFiniteError

PROG = "evalsuite diagnose"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="First-token attention share, max |hidden| and gate scores "
                                "per layer, on WikiText-2 test windows (the paper's table 4 / figure 2).")
    p.add_argument("model", metavar="MODEL", help="model folder, .gguf file or hub id (org/name)")
    p.add_argument("--subfolder", default=None, help="subfolder of the model folder or hub repo")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="data folder with wikitext/wikitext-2-raw/wiki.test.raw (default: $EVALSUITE_DATA, "
                        "else the project's miniature samples)")
    p.add_argument("--limit", type=_positive, default=None, metavar="N", help="at most N windows (default: all)")
    p.add_argument("--window", type=_positive, default=None, metavar="N",
                   help="tokens per window (default: the training context the config states, else 1024; "
                        "capped at max_position_embeddings)")
    p.add_argument("--chunk", type=_positive, default=None, metavar="N",
                   help="query rows per attention chunk (default: sized to ~256 MiB of float32 scores)")
    p.add_argument("--out", default=None, metavar="DIR", help="write diagnostics.json and PNG plots here")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16 (default float32)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return p


def model_label(model: str) -> str:
    """A short name for tables and plot legends: the folder or file name, or the hub id."""
    path = Path(model)
    return path.stem if path.suffix == ".gguf" else (path.name or model)


def _cell(value: float | None, width: int, digits: int, missing: str = "-") -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{missing:>{width}}"


def format_table(name: str, result: DiagnosticsResult) -> str:
    """The per-layer numbers as a plain-text table, with the mean (and max) over layers at the bottom.

    A linear-attention layer's share reads "no softmax attention" (it has none to measure, which is not 0).
    """
    gates = result.gates
    kinds = result.kinds()
    head = f"{'layer':>5}  {'kind':<16}  {'first-token share':>20}  {'max |hidden|':>12}"
    head += f"  {'gate mean':>9}  {'gate<0.1':>8}" if gates else ""
    lines = [f"{name}: {result.n_windows} windows, {result.n_tokens} tokens, window {result.window}"
             + (f" ({result.window_source})" if result.window_source else ""), head]
    for i in range(result.n_layers):
        share = result.first_token_share[i]
        row = (f"{i:>5}  {kinds[i]:<16}  {_cell(share, 20, 4, 'no softmax attention')}"
               f"  {result.max_abs_hidden[i]:>12.2f}")
        if gates:
            row += f"  {_cell(gates.mean_per_layer[i], 9, 3)}  {_cell(gates.frac_below_0_1_per_layer[i], 8, 3)}"
        lines.append(row)
    row = f"{'mean':>5}  {'':<16}  {_cell(result.first_token_share_mean, 20, 4)}  {result.max_abs_hidden_mean:>12.2f}"
    lines.append(row + (f"  {gates.mean:>9.3f}  {gates.frac_below_0_1:>8.3f}" if gates else ""))
    lines.append(f"{'max':>5}  {'':<16}  {'':>20}  {result.max_abs_hidden_max:>12.2f}")
    if result.uniform_share is not None:
        lines.append(f"uniform attention over the same queries: {result.uniform_share:.4f} "
                     f"(share / uniform {_cell(result.first_token_share_vs_uniform, 0, 2).strip()}); "
                     f"heads with share > 0.3: {_cell(result.frac_heads_above_0_3, 0, 3).strip()}")
    return "\n".join(lines)


def write_outputs(out: Path, name: str, result: DiagnosticsResult, meta: dict[str, str]) -> list[Path]:
    """``diagnostics.json`` (the result's JSON plus ``meta``) and the PNG plots; returns the files written."""
    from evalsuite.diagnostics.plots import plot_first_token_share, plot_gate_histogram, plot_max_activation

    out.mkdir(parents=True, exist_ok=True)
    data = {**result.to_json(), "model": name, **meta}
    strict_json.write(out / "diagnostics.json", data)
    written = [out / "diagnostics.json",
               plot_first_token_share({name: data}, out / "first_token_share.png"),
               plot_max_activation({name: data}, out / "max_activation.png")]
    histogram = plot_gate_histogram({name: data}, out / "gate_histogram.png")
    return written + ([histogram] if histogram else [])


def main_diagnose(argv: list[str]) -> int:
    """Parse, load the model, diagnose, print the table, write the files; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return int(exc.code or 0)
    try:
        from evalsuite.paths import data_dir_from
        from evalsuite.diagnostics.probe import diagnose
        from evalsuite.diagnostics.unit import diagnostic_texts
        from evalsuite.models.loader import load_model

        texts, text_file = diagnostic_texts(data_dir_from(args.data))
        model, tokenizer = load_model(args.model, dtype=args.dtype, device=args.device, subfolder=args.subfolder)
        result = diagnose(model, tokenizer, texts, window=args.window, max_windows=args.limit, chunk=args.chunk)
        name = model_label(args.model)
        print(format_table(name, result))
        if args.out:
            meta = {"source": args.model, "text_file": str(text_file), "dtype": args.dtype, "device": args.device}
            for path in write_outputs(Path(args.out), name, result, meta):
                print(f"wrote {path}")
    except EvalsuiteError as exc:
        if isinstance(exc, NonFiniteError):
            exc = exc.within(f"model {model_label(args.model)!r}")
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
