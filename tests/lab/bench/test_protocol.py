"""The protocol's limit and its data-parallel projection."""

from __future__ import annotations

import pytest

from evalsuite.lab.bench.protocol import data_parallel_makespan, paper_shape


def test_makespan_is_lpt():
    assert data_parallel_makespan([5, 4, 3, 3, 3], 2) == 10  # LPT: {5, 3} and {4, 3, 3} (the optimum is 9)
    assert data_parallel_makespan([1.0] * 16, 8) == 2.0
    assert data_parallel_makespan([10.0, 1.0, 1.0], 8) == 10.0  # one long request bounds the makespan


def test_paper_shape_is_the_1p7b():
    shape = paper_shape()
    assert (shape.n_layers, shape.hidden, shape.n_heads, shape.n_kv_heads, shape.head_dim) == (28, 2048, 16, 8, 128)
    assert shape.total_params == pytest.approx(1.72e9, rel=0.01) and shape.bytes_per_param == 2


def test_a_lengths_shares_are_the_prefill_flops_its_copied_prefixes_skip():
    """``protocol --shares``: for one length's prompts, the copied tokens (token order, each against the one before)
    and the share of their prefill FLOPs (the later, attention-heavier tokens still computed)."""
    from evalsuite.lab.bench.flops import causal_keys, forward_flops
    from evalsuite.lab.bench.protocol import length_shares

    shape = paper_shape()
    prompts = [[7] * 1000 + [1] * 24, [7] * 1000 + [2] * 24, [3] * 900]
    got = length_shares(shape, prompts)
    assert (got["prompts"], got["prompt_tokens"], got["shared_tokens"]) == (3, 2948, 1000)
    full = [forward_flops(shape, tokens=n, attended_keys=causal_keys(0, n), head_positions=1) for n in (1024, 1024, 900)]
    skipped = forward_flops(shape, tokens=1000, attended_keys=causal_keys(0, 1000), head_positions=0)
    assert got["prefill_flops"] == pytest.approx(sum(full))
    assert got["flop_share"] == pytest.approx(skipped / sum(full))
