"""``python -m tests.run._faulty ARGS...``: ``evalsuite ARGS`` that SIGKILLs itself at a chosen record write.

``EVALSUITE_TEST_KILL_AT=k`` counts calls to the records' atomic write; at the k-th,
``EVALSUITE_TEST_KILL_MODE=mid`` writes half of the text to the temporary file and dies (a kill during the
write), ``after`` lets the write finish and dies before the next step. For the fault-injection test only.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import evalsuite.records.io as io
from evalsuite.cli import main

_real = io.atomic_write_text
_count = 0


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _write(path: Path, text: str) -> None:
    global _count
    _count += 1
    if _count == int(os.environ["EVALSUITE_TEST_KILL_AT"]):
        if os.environ.get("EVALSUITE_TEST_KILL_MODE") == "mid":
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, _tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.write(fd, text[: len(text) // 2].encode())
            _die()
        _real(path, text)
        _die()
    _real(path, text)


if __name__ == "__main__":
    io.atomic_write_text = _write
    sys.exit(main(sys.argv[1:]))
