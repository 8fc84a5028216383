"""QA tasks from local SQuAD / HotpotQA files: checked, never faked, never downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalsuite.errors import DataError, SpecError
from evalsuite.families.ruler import qa
from evalsuite.families.ruler.generate import NotRun, QAPaths, generate


def test_squad_reader(qa_files: tuple[Path, Path]) -> None:
    ds = qa.load("qa_squad", qa_files[0], verify_sha256=False)
    assert len(ds.items) == 40 and len(ds.docs) == 40  # impossible questions are skipped
    item = ds.items[0]
    assert item.outputs == ("1702", "year 1702") and len(item.gold) == 1 and len(item.more) == 4
    assert item.outputs[0] in ds.docs[item.gold[0]]
    hot = qa.load("qa_hotpot", qa_files[1], verify_sha256=False)
    assert len(hot.items) == 12 and all(len(i.gold) == 4 for i in hot.items)
    assert ds.docs[item.gold[0]] == ds.docs[item.gold[0]].strip()


@pytest.mark.parametrize("task", ["qa_squad", "qa_hotpot"])
def test_gold_paragraphs_always_in_prompt(task: str, smollm2: Any, qa_files: tuple[Path, Path]) -> None:
    paths = QAPaths(*qa_files)
    ds = qa.load(task, paths.for_task(task), verify_sha256=False)
    for length in (1024, 2048):
        samples = generate(task, tokenizer=smollm2, length=length, n_samples=4, seed=1, qa_paths=paths, verify_sha256=False)
        assert isinstance(samples, list)
        for s in samples:
            item = ds.items[s.index]
            assert s.outputs == item.outputs and s.metric == "part" and s.gen_prefix == "Answer:"
            assert s.input.endswith(f"Question: {item.query}")
            for g in item.gold:
                assert f":\n{ds.docs[g]}" in s.input
            n_docs = s.input.count("\n\nDocument ")
            assert s.input.count(f"Document {n_docs}:") == 1 and f"Document {n_docs + 1}:" not in s.input
            assert all(0 <= d < 1 for d in s.depths) and len(s.depths) == len(item.gold)


def test_wrong_sha256_names_the_file(qa_files: tuple[Path, Path], smollm2: Any) -> None:
    with pytest.raises(DataError, match=str(qa_files[0]).replace(".", r"\.") + ".*sha256"):
        qa.load("qa_squad", qa_files[0])
    with pytest.raises(DataError, match="hotpot_dev_distractor_v1.json"):
        generate("qa_hotpot", tokenizer=smollm2, length=2048, n_samples=1, qa_paths=QAPaths(hotpot=qa_files[1]))


def test_missing_and_malformed_files(tmp_path: Path, smollm2: Any) -> None:
    missing = generate("qa_squad", tokenizer=smollm2, length=2048, n_samples=1, qa_paths=QAPaths(squad=tmp_path / "x"))
    assert isinstance(missing, NotRun) and str(tmp_path / "x") in missing.reason
    bad = tmp_path / "dev-v2.0.json"
    bad.write_text(json.dumps({"version": "v2.0", "data": [{"paragraphs": [{"qas": [{}]}]}]}))
    with pytest.raises(DataError, match="not a dev-v2.0.json file"):
        qa.load("qa_squad", bad, verify_sha256=False)
    bad.write_text("{ not json")
    with pytest.raises(DataError, match=str(bad)):
        qa.load("qa_squad", bad, verify_sha256=False)


def test_more_samples_than_questions(smollm2: Any, qa_files: tuple[Path, Path]) -> None:
    with pytest.raises(SpecError, match="answerable questions"):
        generate("qa_hotpot", tokenizer=smollm2, length=2048, n_samples=50, qa_paths=QAPaths(*qa_files), verify_sha256=False)
