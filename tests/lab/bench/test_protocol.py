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
