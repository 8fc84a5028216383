"""Shared fixtures for the model tests: tiny paper-format checkpoints, written once per session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_checkpoint(gate, **kw)``: a cached tiny folder in the paper's format (no tokenizer unless asked)."""
    from evalsuite.models import write_tiny_checkpoint

    made: dict[tuple, Path] = {}

    def make(gate: str, **kw) -> Path:
        kw.setdefault("seed", 0)
        kw.setdefault("tokenizer", "none")
        key = (gate, *sorted(kw.items()))
        if key not in made:
            made[key] = write_tiny_checkpoint(tmp_path_factory.mktemp(f"tiny-{gate}"), gate=gate, **kw)
        return made[key]

    return make


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
