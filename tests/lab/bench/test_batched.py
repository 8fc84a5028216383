"""``python -m evalsuite.lab.bench.batched`` on CPU (the tiny preset, miniature data)."""

from __future__ import annotations

import json


def test_the_share_part_compares_shared_prefixes_with_none(tmp_path):
    """``python -m evalsuite.lab.bench.batched --tiny --parts share``: the same samples batched with and without
    shared prefixes; some prompt tokens' K/V copied, the same tokens in fp32."""
    from pathlib import Path

    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.batched import main

    data = write_miniature(tmp_path / "data")
    tokenizer = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo" / "tiny-baseline"
    assert main(["--tiny", "--parts", "share", "--data", str(data), "--tokenizer", str(tokenizer),
                 "--out", str(tmp_path)]) == 0
    w = json.loads((tmp_path / "batched.json").read_text())["workloads"]
    for name in ("share1k", "share2k"):
        on, off = w[f"{name}_shared"], w[f"{name}_unshared"]
        assert on["prompt_tokens"] == off["prompt_tokens"] > on["shared_prefix_tokens"] > 0 == off["shared_prefix_tokens"]
        assert w[f"{name}_agreement"]["identical"] == w[f"{name}_agreement"]["samples"] == on["samples"]
