"""lm-eval's Jinja templates compiled once per template string instead of once per render.

``lm_eval.utils.apply_template`` calls ``env.from_string(template)`` on every
render: for MMLU 5-shot that is ~98,000 compilations of the same few templates
(about 60 s of a 440 s run on the H200 host). Rendering a cached
``jinja2.Template`` with the same environment gives the identical string.
Tasks call it as ``utils.apply_template(...)`` (a module attribute looked up at
call time), so replacing the attribute is enough; :func:`stock_templates`
restores lm-eval's original for side-by-side timing of the stock path.

A template that is exactly one variable (``{{query}}``, ``{{label}}``: HellaSwag's
text and target, ~40,000 renders a run) compiles to ``yield str(name)``; when the
document has that key it is returned as ``str(doc[name])`` without building a
Jinja context (~15 us a render). The template is recognised from Jinja's own
parse tree, so constants (``{{ true }}``), filters and attributes still render.

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

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from lm_eval import evaluator as lm_evaluator
from lm_eval import utils as lm_utils

_ORIGINAL = lm_utils.apply_template
_ORIGINAL_ENV_INFO = lm_evaluator.add_env_info


@functools.lru_cache(maxsize=4096)
def _compiled(template: str) -> Any:
    return lm_utils.env.from_string(template)


@functools.lru_cache(maxsize=4096)
def _single_name(template: str) -> str | None:
    """``name`` if the template is a single ``{{ name }}`` output and nothing else, else None."""
    try:
        body = lm_utils.env.parse(template).body
    except TemplateSyntaxError:
        return None
    if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
        node = body[0].nodes[0]
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return node.name
    return None


def apply_template(template: str, doc: dict) -> str:
    """Drop-in for ``lm_eval.utils.apply_template``: compile once, render many."""
    name = _single_name(template)
    env = lm_utils.env
    if name is not None and name in doc and env.finalize is None and not env.autoescape and not env.is_async:
        return str(doc[name])  # what the compiled template yields: str(value), joined alone
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
