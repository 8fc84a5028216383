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


# Which files of a data folder each task family reads (relative to the data folder).
_TASK_DATA = {
    "es_wikitext": ["wikitext/wikitext-2-raw/wiki.test.raw"],
    "es_hellaswag": ["hellaswag/hellaswag_val.jsonl", "hellaswag/hellaswag_train.jsonl"],
    "es_mmlu": ["mmlu/dev", "mmlu/test"],
    "ruler_es": ["pg_essays/PaulGrahamEssays.json", "squad/dev-v2.0.json", "hotpotqa/hotpot_dev_distractor_v1.json"],
}


def data_files(task: str, data_dir: Path | None) -> dict[str, str]:
    """sha256 of every local data file a task reads; {} when the task reads the hub."""
    if data_dir is None:
        return {}
    family = next((f for f in _TASK_DATA if task == f or task.startswith(f + "_")), None)
    qa_reader: dict[str, str] = {}
    if family == "ruler_es":
        from evalsuite.ruler.generate import QA_FILES

        qa_reader = {str(path): f"ruler_es_{qa}" for qa, path in QA_FILES.items()}
    out: dict[str, str] = {}
    for rel in _TASK_DATA.get(family or "", []):
        if rel in qa_reader and task not in ("ruler_es", qa_reader[rel]):
            continue  # only the QA tasks (and the full group) read SQuAD / HotpotQA
        p = data_dir / rel
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p] if p.exists() else []
        if task.startswith("es_mmlu_") and p.is_dir():  # one subject reads only its own files
            subject = task.removeprefix("es_mmlu_")
            if subject not in {"stem", "humanities", "social_sciences", "other"}:
                files = [f for f in files if f.name.startswith(subject + "_")]
        for f in files:
            out[str(f.relative_to(data_dir))] = sha256_of(f)
        if rel in qa_reader and not files:  # a QA file fetched into the cache (evalsuite.ruler.fetch) is read
            from evalsuite.ruler.fetch import cached_path

            cached = cached_path(qa_reader[rel].removeprefix("ruler_es_"))
            if cached.is_file():
                out[f"cache:{rel}"] = sha256_of(cached)
    return out
