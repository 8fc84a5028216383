"""Where local data and caches are: an option beats the environment, an empty value means unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsuite.errors import DataError
from evalsuite.paths import cache_root, data_dir_from, resolve_data_dir


def test_data_dir_option_environment_and_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("EVALSUITE_DATA", str(other))
    assert data_dir_from(tmp_path) == tmp_path.resolve()  # the option wins
    assert data_dir_from(None) == data_dir_from("") == other.resolve()
    monkeypatch.setenv("EVALSUITE_DATA", "")
    assert data_dir_from(None) is None  # `EVALSUITE_DATA=` in a Makefile means the hub
    with pytest.raises(DataError, match=r"nope does not exist \(from option\)"):
        data_dir_from(tmp_path / "nope")


def test_resolve_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "mmlu").mkdir()
    assert resolve_data_dir(tmp_path, "mmlu") == tmp_path / "mmlu"
    with pytest.raises(DataError, match=r"is missing mmlu/dev/x_dev.csv"):
        resolve_data_dir(tmp_path, "mmlu", "dev", "x_dev.csv")


def test_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.setenv("EVALSUITE_CACHE", "")
    assert cache_root() == Path.home() / ".cache" / "evalsuite"
