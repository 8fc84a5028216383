"""Fixtures for the zoo tests: a byte-level tokenizer.json and a synthetic Gutenberg-format corpus."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def byte_tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """256 byte symbols plus <|endoftext|> (id 256): fits MICRO's 512-token vocabulary."""
    from evalsuite.models.tiny import _byte_tokenizer

    folder = tmp_path_factory.mktemp("bytetok")
    _byte_tokenizer().save_pretrained(folder)
    return folder / "tokenizer.json"


def _book(i: int) -> dict[str, str]:
    words = " ".join(f"word{(i * 7 + k) % 13} and thing{k % 5}." for k in range(60))
    return {"author": f"Author {i}", "title": f"Book {i}", "text": f"Chapter {i}.\n\n{words}"}


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train-000/001 and valid-000 in the shared corpus's format (xz JSONL, one book a line)."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, ids in (("train-000", range(0, 3)), ("train-001", range(3, 6)), ("valid-000", range(6, 8))):
        with lzma.open(folder / f"{name}.jsonl.xz", "wt", encoding="utf-8") as fh:
            for i in ids:
                fh.write(json.dumps(_book(i)) + "\n")
    return folder


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The models here are tiny: one thread avoids OpenMP spin-waits that make them 100x slower on busy CPUs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
