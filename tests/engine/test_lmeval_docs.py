"""The work evalsuite removes from lm-eval's side of a run changes no document, prompt or result."""

from __future__ import annotations

import gc
import importlib.util
import re
from pathlib import Path
from typing import Any

import datasets
import pytest

from evalsuite.engine.lmeval_docs import RowCachedDataset
from evalsuite.run.runner import TASKS_DIR


def _hellaswag_utils() -> Any:
    spec = importlib.util.spec_from_file_location("hellaswag_es_utils", TASKS_DIR / "hellaswag_es" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _typed(rows: list[dict[str, Any]]) -> list[Any]:
    """Rows with every value's type next to it (1 == 1.0 == True would hide a change)."""
    def t(v: Any) -> Any:
        if isinstance(v, list):
            return ("list", [t(x) for x in v])
        if isinstance(v, dict):
            return ("dict", [(k, t(x)) for k, x in v.items()])
        return (type(v).__name__, v)
    return [[(k, t(v)) for k, v in row.items()] for row in rows]


def _mixed() -> datasets.Dataset:
    return datasets.Dataset.from_list([
        {"s": "a", "i": 1, "f": 0.5, "b": True, "n": None, "l": ["x", "y"], "ll": [[1, 2], [3]], "d": {"k": [1]}},
        {"s": "b", "i": 2, "f": 1.0, "b": False, "n": None, "l": [], "ll": [], "d": {"k": []}},
    ])


def test_row_cached_dataset_iterates_what_datasets_does_and_decodes_once(monkeypatch):
    plain = _mixed()
    cached = RowCachedDataset.wrap(plain)
    assert isinstance(cached, RowCachedDataset) and cached.features == plain.features
    assert cached._fingerprint == plain._fingerprint and len(cached) == len(plain)
    want = _typed(list(plain))
    assert _typed(list(cached)) == want
    first = list(cached)
    first[0]["s"] = "changed"
    first[0]["l"].append("z")
    first[0]["ll"][0].append(9)
    first[0]["d"]["k"].append(2)
    assert _typed(list(cached)) == want, "a consumer's edits must not reach the next pass"

    def boom(*_: Any, **__: Any) -> None:
        raise AssertionError("datasets' per-row formatter ran again")

    monkeypatch.setattr(datasets.arrow_dataset, "format_table", boom)
    assert _typed(list(cached)) == want  # served from the rows decoded on the first pass


def test_row_cached_dataset_leaves_formats_and_derived_datasets_to_datasets():
    numpy_format = _mixed().with_format("numpy")
    assert RowCachedDataset.wrap(numpy_format) is numpy_format
    cached = RowCachedDataset.wrap(_mixed())
    cached.set_format("numpy", columns=["i"])
    assert [type(r["i"]).__module__ for r in cached] == ["numpy", "numpy"]
    cached.reset_format()
    assert _typed(list(cached)) == _typed(list(_mixed()))
    assert type(cached.map(lambda r: {"i": r["i"] + 1})) is datasets.Dataset
    assert list(RowCachedDataset.wrap(_mixed().select([]))) == []


def test_hellaswag_process_docs_equals_the_per_doc_map(real_data_dir: Path):
    """The batched mapping gives lm-eval's per-doc HellaSwag documents: same columns, order, values, types."""
    utils = _hellaswag_utils()
    val = utils.load_hellaswag(str(real_data_dir))["validation"]

    def per_doc(doc: dict[str, Any]) -> dict[str, Any]:  # lm-eval's hellaswag/utils.py
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()

        def pre(text: str) -> str:
            text = text.strip().replace(" [title]", ". ")
            return re.sub("\\[.*?\\]", "", text).replace("  ", " ")

        return {"query": pre(doc["activity_label"] + ": " + ctx),
                "choices": [pre(e) for e in doc["endings"]], "gold": int(doc["label"])}

    want = val.map(per_doc)
    got = utils.process_docs(val)
    assert isinstance(got, RowCachedDataset)
    assert got.features == want.features and len(got) == len(want) == 10042
    assert _typed(list(got)) == _typed(list(want))
    assert utils.process_docs(val) is got  # one mapping per split and run


@pytest.mark.parametrize("doc", [{"query": "¿Qué?  \n"}, {"query": 3}, {"query": 2.50}, {"query": None},
                                 {"query": False}, {"query": ["a", 1]}, {"query": {"k": "v"}},
                                 {"query": "x", "other": [1]}])
def test_single_variable_template_renders_what_jinja_renders(doc):
    from lm_eval import utils as lm_utils

    from evalsuite.engine import lmeval_templates as templates

    for tpl in ("{{query}}", "{{ query }}", "{{query}}\n", "{{ query|string }}"):
        with templates.stock_templates():
            want = lm_utils.apply_template(tpl, doc)
        assert templates.apply_template(tpl, doc) == want


def test_single_variable_template_skips_jinja_only_when_it_is_one_name(monkeypatch):
    import jinja2

    from evalsuite.engine import lmeval_templates as templates

    assert templates._single_name("{{query}}") == "query" and templates._single_name("{{ label }}") == "label"
    for tpl in ("{{ true }}", "{{ none }}", "{{ a.b }}", "{{ a }}{{ b }}", "x{{ a }}", "{{ a|trim }}", "{%", "a"):
        assert templates._single_name(tpl) is None
    assert templates.apply_template("{{ true }}", {"true": "shadow"}) == "True"  # a constant, not the key
    with pytest.raises(jinja2.exceptions.UndefinedError):  # a missing key still fails as in lm-eval
        templates.apply_template("{{query}}", {"other": 1})

    def no_jinja(_: str) -> None:
        raise AssertionError("compiled and rendered a single-variable template")

    monkeypatch.setattr(templates, "_compiled", no_jinja)
    assert templates.apply_template("{{query}}", {"query": 7}) == "7"


def test_frozen_heap_is_scoped_and_respects_a_callers_freeze():
    from evalsuite.run.unit_eval import frozen_heap

    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_heap():
            pass
        # The caller's freeze is still in place (an unfreeze would empty it; objects freed meanwhile, e.g. by
        # another thread, leave the permanent generation one by one, so the count may drop by a few).
        assert before - 1000 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_hellaswag_through_run_lm_eval_runs_the_lm_on_a_frozen_heap(real_data_dir: Path):
    from lm_eval.api.model import LM

    from evalsuite.lab.bench.harness import task_manager
    from evalsuite.run.unit_eval import run_lm_eval

    class Constant(LM):
        frozen: list[int] = []

        def loglikelihood(self, requests, disable_tqdm=False):
            self.frozen.append(gc.get_freeze_count())
            return [(-1.0, False)] * len(requests)

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def generate_until(self, requests, disable_tqdm=False):
            raise NotImplementedError

    lm = Constant()
    out = run_lm_eval(lm, task="es_hellaswag", task_manager=task_manager(real_data_dir), shots=0, limit=3, seed=1)
    assert len(out.samples) == 3 and lm.frozen and all(n > 0 for n in lm.frozen)
    assert gc.get_freeze_count() == 0


def test_tree_plan_runs_with_the_collector_paused_and_restores_it(monkeypatch):
    import numpy as np

    from evalsuite.engine import request_tree as tree

    seen: list[bool] = []
    real = tree.build_tree
    monkeypatch.setattr(tree, "build_tree", lambda *a: (seen.append(gc.isenabled()), real(*a))[1])
    reqs = [([1, 2, 3], [4, 5]), ([1, 2, 3], [6]), ([1, 7], [8, 9, 10])]

    def laid_out() -> list[list[np.ndarray]]:
        plan = tree.build_plan(reqs, capacity=16, batch_tokens=64, max_length=16)
        return [[b.input_ids, b.position_ids, b.end, b.flat_index, b.target, b.request] for b in plan.batches()]

    assert gc.isenabled()
    with_collector = laid_out()
    assert seen == [False] and gc.isenabled()
    with pytest.raises(ValueError):
        tree.build_plan([([], [1])], capacity=16, batch_tokens=64, max_length=16)
    assert gc.isenabled(), "an error inside planning must not leave the collector off"
    gc.disable()
    try:
        without = laid_out()
        assert not gc.isenabled(), "a caller's disabled collector stays disabled"
    finally:
        gc.enable()
    assert all(np.array_equal(x, y) for a, b in zip(with_collector, without) for x, y in zip(a, b))
