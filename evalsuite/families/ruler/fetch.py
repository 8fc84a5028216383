"""RULER's QA files for online users: fetched once from their official sources, verified, cached, recorded.

SQuAD v2 dev and HotpotQA dev (distractor) are read from the data folder when it
has them. Otherwise, unless the session is offline (``HF_DATASETS_OFFLINE=1``,
``HF_HUB_OFFLINE=1`` or ``EVALSUITE_OFFLINE=1``: what ``make eval`` and CI set),
the file is downloaded once from the official URL, checked against the official
sha256 (:data:`evalsuite.families.ruler.qa.SHA256`; a file that does not match is deleted
and refused), and kept under ``$EVALSUITE_CACHE`` (default ``~/.cache/evalsuite``)
in the data folder's layout, beside a ``.source.json`` saying where and when it
came from. Offline and uncached, the task stays "not run: data missing".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from evalsuite import strict_json
from evalsuite.errors import DataError
from evalsuite.families.ruler import qa
from evalsuite.paths import cache_root

# The releases' own hosts (the files whose sha256 qa.SHA256 pins).
URLS = {
    "qa_squad": "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v2.0.json",
    "qa_hotpot": "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json",
}
_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "EVALSUITE_OFFLINE")
Opener = Callable[[str], BinaryIO]


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in _OFFLINE_VARS)


def cached_path(task: str) -> Path:
    from evalsuite.families.ruler.generate import QA_FILES

    return cache_root() / QA_FILES[task]


def qa_file(task: str, data_dir: Path | None, *, opener: Opener | None = None) -> Path | None:
    """The file to read for ``task``: the data folder's, else the cache's, else (online) a fresh verified
    download into the cache; None when none of these is possible (offline and uncached)."""
    from evalsuite.families.ruler.generate import QA_FILES

    local = data_dir / QA_FILES[task] if data_dir is not None else None
    if local is not None and local.is_file():
        return local
    cached = cached_path(task)
    if cached.is_file():
        return cached
    if offline():
        return None
    return fetch(task, cached, opener=opener)


def fetch(task: str, dest: Path, *, opener: Opener | None = None, timeout_s: float = 120.0) -> Path:
    """Download ``task``'s file to ``dest`` (atomically), verifying the official sha256 while streaming."""
    url = URLS[task]
    open_url = opener or (lambda u: urllib.request.urlopen(u, timeout=timeout_s))  # noqa: S310 (fixed https/http URLs)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with open_url(url) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except OSError as exc:  # URLError is an OSError: no network, DNS, refused, timeout
        tmp.unlink(missing_ok=True)
        raise DataError(f"{task}: could not fetch {url} ({exc}); put {qa.FILE_NAMES[task]} in the data folder "
                        "or set HF_DATASETS_OFFLINE=1 to skip it") from None
    if digest.hexdigest() != qa.SHA256[task]:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{task}: {url} gave sha256 {digest.hexdigest()}, not the official {qa.FILE_NAMES[task]} "
                        f"({qa.SHA256[task]}); nothing was cached")
    os.replace(tmp, dest)
    source = {"task": task, "url": url, "sha256": digest.hexdigest(), "bytes": dest.stat().st_size,
              "fetched": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    strict_json.write(dest.with_name(dest.name + ".source.json"), source)
    return dest
