"""pair_units: items joined by (subtask, doc_hash), and every refusal in one line naming task and doc."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from tests.conftest_records import BASE, GATED, make_unit
from evalsuite.compare import pair_units
from evalsuite.errors import RecordError


def _units(task: str):
    return make_unit(BASE, task), make_unit(GATED, task)


def test_join_aligns_items_whatever_the_sample_order() -> None:
    ref, cand = _units("es_mmlu")
    shuffled = list(cand.samples)
    random.Random(0).shuffle(shuffled)
    cand.samples = shuffled
    paired = pair_units(ref, cand)
    assert paired.n == len(ref.samples) == 160
    by_key = {(s.task, s.doc_hash): s.scores["acc"] for s in cand.samples}
    ref_acc, cand_acc = paired.scores("acc")
    expected = [by_key[(t, h)] for t, h in zip(paired.items["task"], paired.items["doc_hash"])]
    np.testing.assert_array_equal(cand_acc, expected)
    assert ref_acc.mean() == pytest.approx(np.mean([s.scores["acc"] for s in ref.samples]))
    assert set(paired.subtasks) == {s.task for s in ref.samples}


def test_duplicate_docs_pair_one_to_one() -> None:
    ref, cand = _units("es_hellaswag")
    for unit in (ref, cand):  # doc 1 becomes a second copy of doc 0 (same hashes)
        first = unit.samples[0]
        unit.samples[1] = dataclasses.replace(unit.samples[1], doc_hash=first.doc_hash,
                                              prompt_hash=first.prompt_hash, target_hash=first.target_hash)
    paired = pair_units(ref, cand)
    assert paired.n == len(ref.samples)


def test_ruler_scores_are_nan_where_an_item_has_another_length() -> None:
    paired = pair_units(*_units("ruler_es"))
    ref, cand = paired.scores("4096")
    assert np.isnan(ref).sum() == np.isnan(cand).sum() == 2 * paired.n // 3


def test_refuses_different_prompt_hash_naming_task_and_doc() -> None:
    ref, cand = _units("es_hellaswag")
    cand.samples[5] = dataclasses.replace(cand.samples[5], prompt_hash="f" * 32)
    with pytest.raises(RecordError, match=r"es_hellaswag doc 5 .*prompt hash differs.*1 of 120 items") as exc:
        pair_units(ref, cand)
    assert "\n" not in str(exc.value)


def test_refuses_different_target_hash() -> None:
    ref, cand = _units("es_mmlu")
    cand.samples[3] = dataclasses.replace(cand.samples[3], target_hash="0" * 32)
    with pytest.raises(RecordError, match=r"es_mmlu_abstract_algebra doc 3 .*target hash differs"):
        pair_units(ref, cand)


def test_refuses_different_data_file_hash() -> None:
    ref, cand = _units("es_mmlu")
    files = dict(cand.task_info["data_files"])
    path = sorted(files)[0]
    files[path] = "0" * 64
    cand.task_info = {**cand.task_info, "data_files": files}
    with pytest.raises(RecordError, match=rf"es_mmlu: data file {path} differs .*sha256"):
        pair_units(ref, cand)


def test_refuses_different_data_file_lists() -> None:
    ref, cand = _units("es_wikitext")
    cand.task_info = {**cand.task_info, "data_files": {**cand.task_info["data_files"], "extra.txt": "ab" * 32}}
    with pytest.raises(RecordError, match=r"data files differ .*0 only in reference, 1 only in candidate"):
        pair_units(ref, cand)


def test_hub_data_on_one_side_relies_on_item_hashes() -> None:
    ref, cand = _units("es_wikitext")
    cand.task_info = {**cand.task_info, "data_files": {}}
    assert pair_units(ref, cand).n == len(ref.samples)


def test_refuses_different_config_hash() -> None:
    ref, cand = _units("es_mmlu")
    hashes = dict(cand.task_info["config_hashes"])
    hashes["es_mmlu_philosophy"] = "deadbeefdeadbeef"
    cand.task_info = {**cand.task_info, "config_hashes": hashes}
    with pytest.raises(RecordError, match=r"es_mmlu_philosophy: task config differs .*deadbeefdeadbeef"):
        pair_units(ref, cand)


def test_refuses_different_item_sets_with_counts() -> None:
    ref, cand = _units("es_hellaswag")
    cand.samples = cand.samples[:-7]
    ref.samples = ref.samples[2:]
    with pytest.raises(RecordError, match=r"item sets differ .*111 shared, 7 only in reference, "
                                          r"2 only in candidate \(first: es_hellaswag doc 113 only in reference\)"):
        pair_units(ref, cand)


@pytest.mark.parametrize("status", ["error", "not_run"])
def test_refuses_unit_that_is_not_complete(status: str) -> None:
    ref, cand = _units("es_hellaswag")
    cand.status, cand.error = status, "boom"
    with pytest.raises(RecordError, match=rf"es_hellaswag: candidate 'gated' is {status} \(boom\)"):
        pair_units(ref, cand)


def test_refuses_unit_without_samples() -> None:
    ref, cand = _units("es_hellaswag")
    ref.samples = None
    with pytest.raises(RecordError, match="without its per-item samples"):
        pair_units(ref, cand)


def test_refuses_score_recorded_on_one_side_only() -> None:
    ref, cand = _units("es_hellaswag")
    cand.samples[0] = dataclasses.replace(cand.samples[0], scores={"acc": 1.0})
    paired = pair_units(ref, cand)
    with pytest.raises(RecordError, match=r"es_hellaswag doc 0: score 'acc_norm' recorded for only one"):
        paired.scores("acc_norm")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_scores_are_refused_by_model_score_and_count(value: float) -> None:
    from evalsuite.errors import NonFiniteRecordError

    ref, cand = _units("es_hellaswag")
    for i in (3, 5):
        cand.samples[i] = dataclasses.replace(cand.samples[i], scores={**cand.samples[i].scores, "acc": value})
    with pytest.raises(NonFiniteRecordError) as info:
        pair_units(ref, cand)
    message = str(info.value)
    assert message == (f"es_hellaswag: candidate 'gated' has a non-finite per-item score 'acc' ({value}) for 2 of "
                       f"{len(cand.samples)} items (first: es_hellaswag doc {cand.samples[3].doc_id}); no statistic "
                       "is computed over non-finite numbers")
    with pytest.raises(NonFiniteRecordError, match="reference 'gated'"):
        pair_units(cand, cand)  # a unit paired with itself (one model's own scores) is checked once
