"""``python -m evalsuite.lab COMMAND``: the lab's tools, apart from the product's ``evalsuite`` command."""

from __future__ import annotations

import importlib
import sys

from evalsuite.cli import run_command

# command -> (module, function taking argv, help); imported only when chosen (the bench pulls in lm-eval).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "bench": ("evalsuite.lab.bench.cli", "main", "GPU benchmark: evalsuite vs stock lm-eval"),
    "parity": ("evalsuite.lab.parity", "main", "per-sample check against stock lm-eval's hf backend"),
    "zoo": ("evalsuite.lab.zoo.cli", "main", "train the tiny gated trios (`zoo train --plan mini`)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m evalsuite.lab COMMAND [options]\n\ncommands:")
        for name, (_, _, help_) in COMMANDS.items():
            print(f"  {name:<8} {help_}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"evalsuite-lab: error: unknown command {name!r} (try: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    return run_command(f"evalsuite-lab {name}",
                       lambda: int(getattr(importlib.import_module(module), func)(rest)))


if __name__ == "__main__":
    sys.exit(main())
