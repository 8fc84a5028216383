"""Library noise during a suite goes to a log file under the run folder, not to the user's console.

lm-eval writes warnings meant for its own callers (``pretrained model kwarg is not
of type str``, ``HF model type is neither marked as CausalLM``, ``Passed an
already-initialized model``: evalsuite passes a loaded model on purpose), a
"Building contexts" bar per task, and datasets a ``Map`` bar per dataset; over a
suite of 18 units that buries the one line a user needs. Inside
:func:`library_noise_to` the loggers of lm-eval, transformers, datasets and
Python's ``warnings`` write to ``<run>/console.log`` instead, their bars are off,
and lm-eval's per-evaluation ``git describe`` (which prints ``fatal: not a git
repository`` outside a checkout) is asked quietly. ``verbose=True`` leaves the
console as the libraries make it, and the log file still gets a copy.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Loggers whose records belong in the log file: lm-eval (both spellings it uses), HF, the dataset stack.
LIBRARY_LOGGERS = ("lm_eval", "lm-eval", "transformers", "datasets", "accelerate", "huggingface_hub", "evaluate",
                   "urllib3", "filelock", "fsspec")


def quiet_git_hash() -> str | None:
    """lm-eval's ``get_git_commit_hash`` with git's stderr kept off the console (None outside a checkout)."""
    try:
        out = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def silence_git() -> None:
    """Point lm-eval's evaluator at :func:`quiet_git_hash` (it records the hash; it need not shout)."""
    from lm_eval import evaluator

    evaluator.get_git_commit_hash = quiet_git_hash


@contextlib.contextmanager
def _bars_off() -> Iterator[None]:
    import datasets
    from lm_eval.api import task as lm_task
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    saved_tqdm, datasets_on = lm_task.tqdm, datasets.is_progress_bar_enabled()
    lm_task.tqdm = functools.partial(tqdm, disable=True)  # "Building contexts for ..." (module-level name)
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        lm_task.tqdm = saved_tqdm
        if datasets_on:
            datasets.enable_progress_bars()
        hf_logging.enable_progress_bar()


@contextlib.contextmanager
def library_noise_to(log_path: Path, *, verbose: bool = False) -> Iterator[None]:
    """Inside the block, library logs and Python warnings go to ``log_path`` (appended); bars are off unless
    ``verbose``. Every logger's handlers, level and propagation, and ``warnings.showwarning``, are restored."""
    import lm_eval.utils as lm_utils

    silence_git()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    saved: list[tuple[logging.Logger, list[Any], bool, int]] = []
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, list(lg.handlers), lg.propagate, lg.level))
        lg.handlers = [*lg.handlers, handler] if verbose else [handler]
        lg.propagate = verbose and lg.propagate
        lg.setLevel(min(lg.getEffectiveLevel(), logging.WARNING))  # a caller's stricter level would hide them
    # lm-eval adds its console handler the first time it configures logging: tell it that has happened.
    saved_configured = lm_utils._LOGGING_CONFIGURED
    if not verbose:
        lm_utils._LOGGING_CONFIGURED = True
    saved_show = warnings.showwarning

    def to_file(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                line: str | None = None) -> None:
        handler.emit(logging.LogRecord("py.warnings", logging.WARNING, filename, lineno,
                                       warnings.formatwarning(message, category, filename, lineno, line).rstrip(),
                                       None, None))
        if verbose:
            saved_show(message, category, filename, lineno, file, line)

    warnings.showwarning = to_file
    try:
        with contextlib.nullcontext() if verbose else _bars_off():
            yield
    finally:
        warnings.showwarning = saved_show
        lm_utils._LOGGING_CONFIGURED = saved_configured
        for lg, handlers, propagate, level in saved:
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        handler.close()
