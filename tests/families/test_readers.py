"""Readers match the real release files and refuse malformed rows naming file and line."""

from __future__ import annotations

import json

import pytest

from evalsuite.errors import DataError
from evalsuite.families.hellaswag import read_hellaswag
from evalsuite.families.miniature import write_miniature
from evalsuite.families.mmlu import MMLU_SUBJECTS, read_mmlu
from evalsuite.families.wikitext import read_wikitext_documents


def test_real_files_have_the_documented_counts(real_data_dir):
    assert len(read_wikitext_documents(real_data_dir / "wikitext/wikitext-2-raw/wiki.test.raw")) == 62
    assert len(read_hellaswag(real_data_dir / "hellaswag/hellaswag_val.jsonl")) == 10042
    assert sum(len(read_mmlu(real_data_dir, s, "test")) for s in MMLU_SUBJECTS) == 14042
    assert all(len(read_mmlu(real_data_dir, s, "dev")) == 5 for s in MMLU_SUBJECTS)


def test_mmlu_rows_use_cais_field_names(real_data_dir):
    row = read_mmlu(real_data_dir, "anatomy", "dev")[0]
    assert set(row) == {"question", "subject", "choices", "answer"} and row["answer"] in range(4)


def test_malformed_mmlu_row_names_file_and_line(tmp_path):
    (tmp_path / "mmlu/test").mkdir(parents=True)
    (tmp_path / "mmlu/test/anatomy_test.csv").write_text('q,a,b,c,d,A\n"q2",a,b,c,d,E\n')
    with pytest.raises(DataError, match=r"anatomy_test.csv:2: answer must be one of A/B/C/D"):
        read_mmlu(tmp_path, "anatomy", "test")


def test_missing_subject_file_is_named(tmp_path):
    (tmp_path / "mmlu/test").mkdir(parents=True)
    with pytest.raises(DataError, match=r"missing mmlu/test/anatomy_test.csv"):
        read_mmlu(tmp_path, "anatomy", "test")


def test_malformed_hellaswag_line(tmp_path):
    p = tmp_path / "h.jsonl"
    good = {"activity_label": "a", "ctx_a": "b", "ctx_b": "", "endings": ["1", "2", "3", "4"], "label": "0"}
    p.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match=r"h.jsonl:2: not valid JSON"):
        read_hellaswag(p)
    p.write_text(json.dumps({**good, "endings": ["1"]}) + "\n")
    with pytest.raises(DataError, match=r"h.jsonl:1: 'endings' must be a list of 4"):
        read_hellaswag(p)


def test_miniature_samples_are_in_the_release_formats(tmp_path):
    root = write_miniature(tmp_path)
    assert len(read_mmlu(root, "virology", "test")) == 4
    assert len(read_hellaswag(root / "hellaswag/hellaswag_val.jsonl")) == 40
    assert len(read_wikitext_documents(root / "wikitext/wikitext-2-raw/wiki.test.raw")) == 6


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["endings"].__setitem__(1, None), r"'endings' must be a list of 4 strings, found \['a', None"),
    (lambda r: r.__setitem__("ctx_b", 3), r"'ctx_b' must be a string, found 3"),
    (lambda r: r.__setitem__("activity_label", None), r"'activity_label' must be a string, found None"),
], ids=["null-ending", "ctx_b-number", "null-label"])
def test_hellaswag_field_types_are_checked_by_file_and_line(tmp_path, edit, message):
    good = {"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["a", "b", "c", "d"], "label": "0"}
    bad = json.loads(json.dumps(good))
    edit(bad)
    path = tmp_path / "hs.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=rf"hs\.jsonl:2: {message}"):
        read_hellaswag(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"hs\.jsonl:1: expected a JSON object, found list"):
        read_hellaswag(path)
