"""What a result was computed with: code, libraries, hardware, data bytes."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from evalsuite.families import files_read
from evalsuite.models.loader import sha256_file

_PACKAGES = ("evalsuite", "lm_eval", "transformers", "torch", "datasets", "accelerate", "numpy", "scipy", "tokenizers")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """HEAD of the checkout (``+dirty`` with uncommitted tracked changes), or ``$EVALSUITE_COMMIT`` when set:
    a copied working tree (the GPU machine's) may carry a stale or no ``.git``, so its caller names the commit."""
    if os.environ.get("EVALSUITE_COMMIT"):
        return os.environ["EVALSUITE_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        # An installed package: its folder's parent is site-packages' parent, which may sit inside some other
        # repository (a training repo's .venv) whose commit is not evalsuite's. The version names the code.
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": platform.processor() or platform.machine(), "cpu_count": _cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
    return info


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def provenance() -> dict[str, Any]:
    return {"evalsuite_commit": git_commit(), "versions": {p: _version(p) for p in _PACKAGES},
            "hardware": hardware()}


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the cache key only: a rewritten file is hashed again.
    return sha256_file(Path(path))


def sha256_of(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def data_files(task: str, data_dir: Path | None) -> dict[str, str]:
    """sha256 of every local data file a task reads (which files: its family's, :mod:`evalsuite.families`);
    {} when the task reads the hub."""
    if data_dir is None:
        return {}
    return {name: sha256_of(path) for name, path in files_read(task, data_dir).items()}
