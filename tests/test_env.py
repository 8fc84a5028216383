"""``temporary_env``: a variable set for a block, and exactly what was there before afterwards."""

from __future__ import annotations

import os

import pytest

from evalsuite._env import temporary_env
from evalsuite.engine.encode import parallel_tokenizers


def test_unset_variable_is_removed_again(monkeypatch):
    monkeypatch.delenv("EVALSUITE_TEST_VAR", raising=False)
    with temporary_env("EVALSUITE_TEST_VAR", "1"):
        assert os.environ["EVALSUITE_TEST_VAR"] == "1"
    assert "EVALSUITE_TEST_VAR" not in os.environ


def test_old_value_comes_back_even_after_an_error_or_a_change_inside(monkeypatch):
    monkeypatch.setenv("EVALSUITE_TEST_VAR", "old")
    with pytest.raises(RuntimeError), temporary_env("EVALSUITE_TEST_VAR", "new"):
        assert os.environ["EVALSUITE_TEST_VAR"] == "new"
        raise RuntimeError
    assert os.environ["EVALSUITE_TEST_VAR"] == "old"
    with temporary_env("EVALSUITE_TEST_VAR", None):  # None: left as it is, still restored on exit
        assert os.environ["EVALSUITE_TEST_VAR"] == "old"
        os.environ["EVALSUITE_TEST_VAR"] = "changed inside"
    assert os.environ["EVALSUITE_TEST_VAR"] == "old"


def test_parallel_tokenizers_turns_parallelism_on_for_the_block(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    with parallel_tokenizers():
        assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
