"""Tiny gated checkpoints (paper format, byte tokenizer) for the diagnostics tests, written once per session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import VOCAB

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def gated_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``gated_checkpoint(gate)``: a tiny paper-format folder with the byte tokenizer, written once per session."""
    from evalsuite.models import write_tiny_checkpoint

    made: dict[str, Path] = {}

    def make(gate: str) -> Path:
        if gate not in made:
            made[gate] = write_tiny_checkpoint(tmp_path_factory.mktemp(f"gated-{gate}"), gate=gate, seed=3,
                                               vocab_size=VOCAB, layers=3, tokenizer="bytes")
        return made[gate]

    return make


@pytest.fixture(scope="session")
def load_gated(gated_checkpoint) -> Callable[[str], tuple]:
    """``load_gated(gate) -> (model, tokenizer)`` through the project's loader."""
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    def make(gate: str) -> tuple:
        loaded = load(SourceSpec(path=str(gated_checkpoint(gate))), hash_weights=False)
        return loaded.model, loaded.tokenizer

    return make
