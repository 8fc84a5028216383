"""lm-eval's Jinja templates compiled once per template string instead of once per render.

``lm_eval.utils.apply_template`` calls ``env.from_string(template)`` on every
render: for MMLU 5-shot that is ~98,000 compilations of the same few templates
(about 60 s of a 440 s run on the H200 host). Rendering a cached
``jinja2.Template`` with the same environment gives the identical string.
Tasks call it as ``utils.apply_template(...)`` (a module attribute looked up at
call time), so replacing the attribute is enough; :func:`stock_templates`
restores lm-eval's original for side-by-side timing of the stock path.

The same switch drops ``simple_evaluate``'s ``add_env_info``: torch's
``collect_env`` runs ``pip list``, ``nvidia-smi`` and friends as subprocesses
at the end of every evaluation (~1.2 s a task here), for a ``pretty_env_info``
string evalsuite never reads; its run manifest records the environment once
(:mod:`evalsuite.run.provenance`).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

from lm_eval import evaluator as lm_evaluator
from lm_eval import utils as lm_utils

_ORIGINAL = lm_utils.apply_template
_ORIGINAL_ENV_INFO = lm_evaluator.add_env_info


@functools.lru_cache(maxsize=4096)
def _compiled(template: str) -> Any:
    return lm_utils.env.from_string(template)


def apply_template(template: str, doc: dict) -> str:
    """Drop-in for ``lm_eval.utils.apply_template``: compile once, render many."""
    return _compiled(template).render(**doc)


def _no_env_info(results: dict) -> None:
    results["pretty_env_info"] = "not collected (evalsuite records the environment in its run manifest)"


def install() -> None:
    lm_utils.apply_template = apply_template
    lm_evaluator.add_env_info = _no_env_info


def uninstall() -> None:
    lm_utils.apply_template = _ORIGINAL
    lm_evaluator.add_env_info = _ORIGINAL_ENV_INFO


def installed() -> bool:
    return lm_utils.apply_template is apply_template


@contextlib.contextmanager
def stock_templates() -> Iterator[None]:
    """lm-eval's own (compile-per-render) templates inside the block, whatever was installed before."""
    was = installed()
    uninstall()
    try:
        yield
    finally:
        if was:
            install()
