"""``evalsuite ruler SUBCOMMAND``: the command line of the RULER generator.

Scope: dispatch only. ``evalsuite ruler generate --tokenizer PATH --lengths
32768,131072 --samples 100 --out DIR --data DIR`` is
:func:`evalsuite.families.ruler.generate.main_generate`.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalsuite.families.ruler.generate import main_generate

USAGE = "usage: evalsuite ruler generate --tokenizer PATH --out DIR [--lengths 32768,131072] [--samples 100] [--data DIR]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv or [])
    if args and args[0] == "generate":
        return main_generate(args[1:])
    print(USAGE)
    return 0 if args[:1] in (["-h"], ["--help"]) else 2
