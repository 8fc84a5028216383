"""``python -m evalsuite.lab COMMAND`` (console script ``evalsuite-lab``): the lab's tools, apart from the
product's ``evalsuite`` command, which never imports them."""

from __future__ import annotations

import sys
from typing import Callable

from evalsuite.cli import delegate, dispatch

# Imported only when chosen (the bench pulls in lm-eval and builds models).
COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "bench": (delegate("evalsuite.lab.bench.cli", "main"), "GPU benchmark: evalsuite vs stock lm-eval"),
    "parity": (delegate("evalsuite.lab.parity", "main"), "per-sample check against stock lm-eval's hf backend"),
    "zoo": (delegate("evalsuite.lab.zoo.cli", "main"), "train the tiny gated trios (`zoo train --plan mini`)"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("evalsuite-lab", COMMANDS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
