"""RULER's string_match_all / string_match_part on hand-worked examples."""

from __future__ import annotations

import pytest

from evalsuite.families.ruler.string_match import match_all, match_part, postprocess, string_match_all, string_match_part


def test_match_all_is_the_fraction_found_case_insensitive() -> None:
    assert match_all("The numbers are 1234567 and 7654321.", ["1234567", "7654321", "1111111"]) == pytest.approx(2 / 3)
    assert match_all("  VAR ABCDE, var fghij", ["abcde", "FGHIJ"]) == 1.0
    assert match_all("nothing here", ["x"]) == 0.0


def test_match_part_is_any_reference() -> None:
    assert match_part("Paris, I think.", ["paris", "City of Paris"]) == 1.0
    assert match_part("London", ["Paris", "Lyon"]) == 0.0


def test_corpus_scores() -> None:
    preds = ["a b", "c", "Z"]
    refs = [["a", "b"], ["x", "c"], ["z", "y"]]
    assert string_match_all(preds, refs) == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert string_match_part(preds, refs) == pytest.approx(1.0)
    # RULER's part score is "any reference"; lm-eval's port would give max over samples of the fraction / n.
    assert string_match_part(["a", "q"], [["a", "z"], ["x"]]) == 0.5


def test_postprocess_like_lm_eval() -> None:
    assert postprocess("\x00 hello\x01world \n") == "hello\nworld"
    assert match_all("\tabc\x02def ", ["abc\ndef"]) == 1.0


def test_agrees_with_lm_eval_string_match_all() -> None:
    common = pytest.importorskip("lm_eval.tasks.ruler.common_utils")
    cases = [(["The answer is 42"], [["42", "43"]]), (["uuid-1 and UUID-2"], [["uuid-1", "uuid-2", "uuid-3"]])]
    for preds, refs in cases:
        assert string_match_all(preds, refs) == pytest.approx(common.string_match_all(preds, refs))


def test_empty_inputs_are_errors() -> None:
    with pytest.raises(ValueError):
        match_all("x", [])
    with pytest.raises(ValueError):
        string_match_all([], [])
    with pytest.raises(ValueError):
        string_match_part(["a"], [["a"], ["b"]])
