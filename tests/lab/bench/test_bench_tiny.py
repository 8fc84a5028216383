"""``python -m evalsuite.lab bench --preset tiny``: the GPU benchmark's whole code path on CPU, on miniature data."""

from __future__ import annotations

import json

import pytest

from evalsuite.lab.bench.flops import ModelShape, causal_keys, forward_flops, generation_cost


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.cli import main

    data = write_miniature(tmp_path_factory.mktemp("mini-data"))
    out = tmp_path_factory.mktemp("bench")
    code = main(["--preset", "tiny", "--data", str(data), "--out", str(out)])
    rec = json.loads((out / "tiny.json").read_text())
    assert code == 0, rec["errors"]
    return rec, (out / "README.md").read_text()


def test_every_workload_ran_and_agrees(record):
    rec, _ = record
    w = rec["workloads"]
    assert rec["finished"] and not rec["errors"]
    for name in ("hellaswag", "mmlu", "wikitext"):
        assert w[name]["agreement"]["ok"], w[name]["agreement"]
        assert w[name]["evalsuite"]["useful_tokens"] > 0 and w[name]["evalsuite"]["engine"] == "lean"
    for name in ("hellaswag", "mmlu", "wikitext"):  # the compiled-layers variant, checked against stock too
        assert w[name]["evalsuite_compiled"]["engine"] == "lean+compiled", name
        assert w[name]["agreement_compiled"]["ok"] and w[name]["agreement_compiled"]["n_logliks"] > 0, name
    assert "speedup_full_estimate" in w["mmlu"]  # stock ran on a per-subject subset
    assert w["mmlu"]["evalsuite"]["tree"]["unique_tokens"] < w["mmlu"]["evalsuite"]["tree"]["input_tokens"]


def test_ruler_greedy_tokens_equal_stock_in_fp32(record):
    rec, _ = record
    for key in ("ruler_512", "ruler_1024"):
        for mode in ("evalsuite_fast", "evalsuite_exact"):
            assert rec["workloads"][key][mode]["agreement"]["identical"], (key, mode)
    compiled = rec["workloads"]["ruler_512"]["evalsuite_compiled"]
    assert compiled["agreement"]["identical"] and compiled["phases"]["decode_engine"] == "torch.compile'd step"
    assert compiled["requests_in_call"] == 2 and compiled["tokens_identical_across_requests"]
    assert rec["workloads"]["ruler_1024"]["yarn_factor"] == 2.0
    assert rec["workloads"]["ruler_1024_elementwise"]["gate"] == "elementwise"


def test_readme_has_the_tables(record):
    _, readme = record
    for heading in ("Loglikelihood workloads", "RULER niah_single_1", "Gate variants"):
        assert heading in readme
    assert "| hellaswag |" in readme and "| elementwise | diagnostics" in readme


def test_flop_formulas_match_brute_force():
    shape = ModelShape(n_layers=2, hidden=8, n_heads=2, n_kv_heads=1, head_dim=4, vocab=10, linear_params=100,
                       total_params=180)
    assert causal_keys(0, 4) == 1 + 2 + 3 + 4 and causal_keys(3, 5) == 4 + 5
    f = forward_flops(shape, tokens=4, attended_keys=10, head_positions=1)
    assert f == 2 * 100 * 4 + 4 * 2 * 8 * 10 + 2 * 8 * 10
    cost = generation_cost(shape, prompt_tokens=5, decode_steps=3)
    per_step = [forward_flops(shape, tokens=1, attended_keys=p + 1, head_positions=1) for p in (5, 6, 7)]
    assert cost.decode_flops == sum(per_step)
    assert cost.decode_kv_bytes == shape.kv_bytes_per_position() * (6 + 7 + 8)
