"""``python -m evalsuite.lab.bench.batched`` on CPU (the tiny preset, miniature data)."""

from __future__ import annotations

import json
from pathlib import Path


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


def test_token_order_shares_are_what_the_engine_copies():
    """The prompts-only computation (the protocol's pricing uses it at full counts) against the engine's own count
    of copied tokens on the same prompts, and its rules: token order, all but the last token, the minimum."""
    import torch

    from evalsuite.engine.batch_decode import BatchDecodeCache, BatchItem, greedy_batched
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.lab.bench.shared_prefix import token_order_shares
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    assert token_order_shares([[5] * 300 + [1], [5] * 300 + [0], [5] * 300], minimum=256) == [300, 300, 0]
    assert token_order_shares([[5] * 300, [5] * 300]) == [0, 299]  # a repeated prompt prefills its last token
    assert token_order_shares([[5] * 300 + [1], [5] * 300 + [0]], minimum=301) == [0, 0]
    assert token_order_shares([[70000, 1], [2, 1], [256, 9]], minimum=0) == [0, 0, 0]  # ids past 2^16 sort right
    g = torch.Generator().manual_seed(5)
    rand = lambda n: torch.randint(3, 40000, (n,), generator=g).tolist()  # noqa: E731
    stem = rand(420)
    prompts = [stem[:k] + rand(30) for k in (280, 420, 300, 350, 100)] + [rand(330)]
    folder = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo" / "tiny-baseline"
    lean = LeanDecoder.wrap(load(SourceSpec(path=str(folder)), dtype="float32", device="cpu",
                                 hash_weights=False).model)
    timings: list[dict] = []
    with torch.inference_mode():
        greedy_batched(lean, [BatchItem(p, 2, lambda t: False) for p in prompts], eos_token_id=None, max_rows=2,
                       cache=BatchDecodeCache(lean), share_prefix=True, timings=timings)
    assert sum(t["shared_prefix_tokens"] for t in timings) == sum(token_order_shares(prompts)) == 280 + 300 + 350


def test_the_prefill4k_part_compares_packing_and_sharing_on_one_machine(tmp_path):
    """``--parts prefill4k``: the batch packed (so sharing nothing), then one prompt a forward with shared
    prefixes, then with neither: the same tokens in fp32; the profiles time one and four prompts a forward and
    find their kernels' time."""
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.batched import main

    data = write_miniature(tmp_path / "data")
    tokenizer = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo" / "tiny-baseline"
    assert main(["--tiny", "--parts", "prefill4k", "--samples", "22", "--data", str(data), "--tokenizer",
                 str(tokenizer), "--out", str(tmp_path)]) == 0
    w = json.loads((tmp_path / "batched.json").read_text())["workloads"]
    packed, shared, neither = w["prefill4k_compiled_prefill"], w["prefill4k_unpacked"], w["prefill4k_unshared_unpacked"]
    assert [r["pack_tokens"] for r in (packed, shared, neither)] == [4096, 0, 0]
    assert [r["share_prefix"] for r in (packed, shared, neither)] == [True, True, False]
    assert packed["shared_prefix_tokens"] == 0 < shared["shared_prefix_tokens"] and neither["shared_prefix_tokens"] == 0
    assert packed["prefill_forwards"] < 22 == neither["prefill_forwards"]
    for run in ("prefill4k_unpacked", "prefill4k_unshared_unpacked"):
        assert w[f"{run}_agreement"]["identical"] == w[f"{run}_agreement"]["samples"] == 22
    for rows in (1, 4):
        prof = w[f"prefill4k_profile_{rows}"]
        assert prof["rows"] == 16 and prof["rows_a_forward"] == rows and prof["wall_s"] > 0
        assert prof["kernels"] > 0 and prof["top"] and prof["padded_tokens"] >= prof["prompt_tokens"]


def test_the_retire_part_runs_retired_and_read_to_the_end_with_the_same_tokens(tmp_path):
    """``--parts retire``: the 4K and 128K stand-ins (1K and 2K on the tiny preset), retired, read to the end,
    retired again, each with the engine's knob as the run says; the same tokens."""
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.batched import main

    data = write_miniature(tmp_path / "data")
    tokenizer = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo" / "tiny-baseline"
    assert main(["--tiny", "--parts", "retire", "--samples", "6", "--data", str(data), "--tokenizer",
                 str(tokenizer), "--out", str(tmp_path)]) == 0
    w = json.loads((tmp_path / "batched.json").read_text())["workloads"]
    for name, samples in (("retire4k", 6), ("retire128k", 3)):
        runs = [w[f"{name}_{run}"] for run in ("retired", "read_to_the_end", "retired_again")]
        assert [r["retire_rows"] for r in runs] == [True, False, True]
        # CPU's decode attends "split", which reads every row whatever the switch says: the batches say so
        assert all(not b["retire_rows"] and b["decode_row_steps"] == b["decode_steps"] * b["rows"]
                   for r in runs for b in r["batches"])
        for run in ("read_to_the_end", "retired_again"):
            assert w[f"{name}_{run}_agreement"]["identical"] == w[f"{name}_{run}_agreement"]["samples"] == samples


def test_the_split_part_runs_the_wide_split_and_torchs_with_the_same_tokens(tmp_path):
    """``--parts split``: the 64K and 128K batches of three tasks (1K and 2K on the tiny preset): the wide split,
    torch's, the wide again, each with the knob as the run says; the same tokens."""
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.batched import main

    data = write_miniature(tmp_path / "data")
    tokenizer = Path(__file__).resolve().parents[3] / "evalsuite" / "assets" / "zoo" / "tiny-baseline"
    assert main(["--tiny", "--parts", "split", "--data", str(data), "--tokenizer", str(tokenizer),
                 "--out", str(tmp_path)]) == 0
    w = json.loads((tmp_path / "batched.json").read_text())["workloads"]
    for name, samples in (("split1k", 6), ("split2k", 3)):
        assert w[f"{name}_samples"]["tasks"] == ["fwe", "niah_single_2", "vt"]
        runs = [w[f"{name}_{run}"] for run in ("wide_split", "torch_split", "wide_split_again")]
        assert [r["decode_split"] for r in runs] == ["wide", "torch", "wide"]
        assert all(r["samples"] == samples for r in runs)
        for run in ("torch_split", "wide_split_again"):
            assert w[f"{name}_{run}_agreement"]["identical"] == w[f"{name}_{run}_agreement"]["samples"] == samples
