"""``python -m evalsuite.lab.bench.trained_agreement`` on CPU: the shipped trained trio's greedy tokens, batched,
one at a time, exact and stock, equal in fp32; the classifier's ulps and the margins' counts."""

from __future__ import annotations

import json

import pytest

from evalsuite.lab.bench.batched import bf16_ulp


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.trained_agreement import main

    data = write_miniature(tmp_path_factory.mktemp("mini-data"))
    out = tmp_path_factory.mktemp("trained")
    assert main(["--data", str(data), "--out", str(out), "--models", "tiny-elementwise", "--samples", "3",
                 "--stock-samples", "2", "--margin-samples", "2", "--length", "1024", "--device", "cpu",
                 "--compiled", "--unshared"]) == 0
    return json.loads((out / "trained.json").read_text())


def test_every_decoder_gives_the_same_tokens_in_fp32(record):
    w = record["workloads"]
    assert record["finished"] and not record["errors"]
    for pair, n in (("batched_vs_one_at_a_time", 3), ("batched_vs_exact", 3), ("batched_vs_stock", 2),
                    ("exact_vs_stock", 2), ("batched_vs_batched_compiled", 3), ("batched_compiled_vs_exact", 3),
                    ("batched_compiled_vs_stock", 2), ("batched_vs_batched_unshared", 3),
                    ("batched_unshared_vs_exact", 3), ("batched_unshared_vs_stock", 2)):
        assert w[f"tiny-elementwise_{pair}"]["samples"] == n, pair
        assert w[f"tiny-elementwise_{pair}"]["identical"] == n, (pair, w[f"tiny-elementwise_{pair}"])
    assert w["tiny-elementwise_batched"]["batches"][0]["rows"] == 3  # batched: all three in one cache
    assert (w["tiny-elementwise_batched"]["share_prefix"], w["tiny-elementwise_batched_unshared"]["share_prefix"]) \
        == (True, False)
    assert w["tiny-elementwise_batched_unshared"]["shared_prefix_tokens"] == 0
    compiled = w["tiny-elementwise_batched_compiled"]["batches"][0]  # the halves compiled: mode compiled's rows
    assert compiled["rows"] == 3 and compiled["decode_engine"] == "torch.compile'd step (attention eager)"
    m = w["tiny-elementwise_margins"]
    assert 0 < m["steps"] <= w["tiny-elementwise_batched"]["generated_tokens_total"]  # 2 of the 3 samples
    assert m["ties"] <= m["within_4_ulps"] <= m["within_16_ulps"] <= m["steps"] and m["median_ulps"] > 4


def test_packed_prefills_give_the_one_a_forward_tokens(tmp_path):
    """``--pack-tokens`` packs the batched decoders' short prompts several to a forward (CUDA's default; on CPU
    only when asked); ``--unpacked`` decodes them one a forward: the same tokens, fewer forwards."""
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.trained_agreement import main

    data = write_miniature(tmp_path / "data")
    assert main(["--data", str(data), "--out", str(tmp_path), "--models", "tiny-headwise", "--samples", "3",
                 "--stock-samples", "1", "--margin-samples", "0", "--length", "1024", "--device", "cpu",
                 "--pack-tokens", "4096", "--unpacked"]) == 0
    w = json.loads((tmp_path / "trained.json").read_text())["workloads"]
    packed, unpacked = w["tiny-headwise_batched"], w["tiny-headwise_batched_unpacked"]
    assert (packed["pack_tokens"], unpacked["pack_tokens"]) == (4096, 0)
    assert packed["prefill_forwards"] < unpacked["prefill_forwards"] == 3
    for pair, n in (("batched_vs_batched_unpacked", 3), ("batched_unpacked_vs_exact", 3),
                    ("batched_unpacked_vs_stock", 1), ("batched_vs_stock", 1)):
        assert w[f"tiny-headwise_{pair}"]["identical"] == n == w[f"tiny-headwise_{pair}"]["samples"], pair


def test_the_wide_split_decodes_beside_the_default_and_is_compared_with_stock(tmp_path):
    """``--wide``: a batched decoder with ``decode_split`` "wide", recorded as such, compared with the default
    batched decoder, the exact one and stock (on CPU the kernel takes no options: the same tokens)."""
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.trained_agreement import main

    data = write_miniature(tmp_path / "data")
    assert main(["--data", str(data), "--out", str(tmp_path), "--models", "tiny-baseline", "--samples", "3",
                 "--stock-samples", "1", "--margin-samples", "0", "--length", "1024", "--device", "cpu",
                 "--wide"]) == 0
    w = json.loads((tmp_path / "trained.json").read_text())["workloads"]
    assert (w["tiny-baseline_batched"]["decode_split"], w["tiny-baseline_batched_wide"]["decode_split"]) == (
        "torch", "wide")
    for pair, n in (("batched_vs_batched_wide", 3), ("batched_wide_vs_exact", 3), ("batched_wide_vs_stock", 1)):
        assert w[f"tiny-baseline_{pair}"]["identical"] == n == w[f"tiny-baseline_{pair}"]["samples"], pair


def test_bf16_ulp_is_the_spacing_of_bf16_numbers():
    import torch

    for x in (3.5, -3.5, 1.0, 0.013, 1000.0):
        t = torch.tensor(abs(x), dtype=torch.bfloat16)
        following = (t.view(torch.int16) + 1).view(torch.bfloat16)  # the next bf16 number up
        assert bf16_ulp(x) == float(following) - float(t), x

