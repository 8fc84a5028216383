"""The embedded default: the tiny trio shipped in evalsuite/assets/zoo loads and matches its checksums."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

ZOO = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo"
TRIO = {"tiny-baseline": "none", "tiny-headwise": "headwise", "tiny-elementwise": "elementwise"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(TRIO))
def test_shipped_files_match_their_sha256sums(name):
    folder = ZOO / name
    lines = (folder / "SHA256SUMS").read_text().split("\n")
    sums = dict(reversed(line.split("  ", 1)) for line in lines if line.strip())
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(sums)
    for file, digest in sums.items():
        assert _sha256(folder / file) == digest, file
    assert (folder / "model.safetensors").stat().st_size <= 10 * 1024 * 1024
    assert "## How it was produced" in (folder / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("name", sorted(TRIO))
def test_shipped_model_loads_through_the_paper_format_path(name):
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    folder = ZOO / name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen3" and config["use_qk_norm"] is True
    loaded = load(SourceSpec(path=str(folder)), dtype="float32", device="cpu")
    assert loaded.kind == "paper-gated"
    assert loaded.model.config.attn_output_gate == TRIO[name]
    sums = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines() if line)
    assert loaded.weights_sha256 == {"model.safetensors": sums["model.safetensors"]}
    ids = loaded.tokenizer("It was a dark and stormy night; the rain fell in torrents.", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = loaded.model(input_ids=ids).logits  # (1, T, V)
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    assert torch.isfinite(nll) and nll < 9.0  # trained: far below ln(49152) = 10.8


def test_builtin_source_resolves_to_the_shipped_folder():
    from evalsuite.models.builtin import materialize
    from evalsuite.spec import parse_suite

    suite = parse_suite({"name": "t", "models": [{"name": "m", "source": {"builtin": "zoo/tiny-headwise"}}],
                         "tasks": ["es_wikitext"]})
    assert Path(materialize(suite.models[0].source).path) == ZOO / "tiny-headwise"
