"""``python -m evalsuite.lab.bench.decode_sweep --tiny`` on CPU: every shape recorded with its floors, the engine's
steps and the attention timed, and the two attentions (and the two steps) computing the same thing in fp32."""

from __future__ import annotations

import argparse
import json

import pytest

from evalsuite.engine.static_cache import FLEX_DECODE_OPTIONS
from evalsuite.lab.bench.decode_sweep import TINY_SHAPES, DecodeShape, flex_variants, main


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("decode_sweep")
    # The deadline counts from the process's start, which in a test run is pytest's: minutes ago.
    assert main(["--tiny", "--out", str(out), "--repeats", "3", "--warmup", "1", "--compile", "off,halves",
                 "--deadline", "1e6"]) == 0
    return json.loads((out / "decode_sweep.json").read_text())


def test_every_shape_has_its_floors(record):
    assert record["finished"] and record["status"] == "finished" and not record["errors"]
    m, bw = record["model"], record["bandwidth"]["bytes_per_s"]
    per_position = 2 * m["n_layers"] * m["n_kv_heads"] * m["head_dim"] * m["bytes_per_param"]  # K and V, all layers
    assert bw > 0
    for rows, capacity, position in TINY_SHAPES:
        w = record["workloads"][f"{rows}x{capacity}@{position}"]
        assert w["status"] == "done" and not w["errors"] and not w["skipped"], w
        f = w["floors"]
        assert f["kv_bytes_per_position"] == per_position
        assert f["kv_bytes"] == rows * (position + 1) * per_position  # the query's own position included
        assert f["kv_bytes_read_split"] == rows * capacity * per_position >= f["kv_bytes_read_flex"] >= f["kv_bytes"]
        assert f["weight_bytes"] == m["total_params"] * m["bytes_per_param"]
        assert f["step_ms"] == pytest.approx(1e3 * (f["kv_bytes"] + f["weight_bytes"]) / bw)


def test_steps_and_attention_are_timed(record):
    for w in record["workloads"].values():
        for attention in ("flex", "split"):
            step = w[f"step_{attention}_uncompiled"]
            assert step["attention_ran"] == attention and step["ms"] > 0 and step["replays"] == 3
            assert step["x_floor"] == pytest.approx(step["ms"] / w["floors"]["step_ms"])
            alone = w["attention"][attention]
            assert alone["ms"] > 0 and alone["gb_per_s"] > 0
            assert alone["per_layer_ms"] == pytest.approx(alone["ms"] / record["model"]["n_layers"])
            assert w["breakdown"][f"step_{attention}_uncompiled"]["same_code"]
        assert "no GPU" in w["variants"]["skipped"]


def test_the_two_attentions_and_steps_agree(record):
    """flex and split over the same cache, query and positions: equal up to fp32 rounding. A sweep that timed
    another call (a different layer's cache, the wrong mask or position) would differ by the output's size."""
    for w in record["workloads"].values():
        pair = w["attention"]["flex_vs_split"]
        assert pair["output_max_abs"] > 0.05  # a real output, not zeros
        assert pair["max_abs_diff"] < 1e-5 * max(1.0, pair["output_max_abs"])
        assert w["logits_max_abs_diff_between_steps"] < 1e-4  # all four steps from the same cache and state
        for attention in ("flex", "split"):  # the compiled halves around the eager attention: the same step
            assert w[f"step_{attention}_halves"]["engine"].endswith("torch.compile'd step (attention eager)" +
                                                                   (", flex attention" if attention == "flex" else ""))


def test_a_spent_deadline_skips_every_shape(tmp_path):
    assert main(["--tiny", "--out", str(tmp_path), "--deadline", "0", "--shapes", "2x256@100"]) == 0
    rec = json.loads((tmp_path / "decode_sweep.json").read_text())
    assert rec["status"] == "deadline" and rec["workloads"]["2x256@100"]["reason"] == "deadline"


def test_shapes_parse_and_refuse_what_the_engine_cannot_build():
    assert DecodeShape.parse("22x4224@4096") == DecodeShape(22, 4224, 4096)
    for bad in ("22x4200@4096", "22x4224@4224", "0x256@10", "22,4224,4096"):
        with pytest.raises(argparse.ArgumentTypeError):
            DecodeShape.parse(bad)


def test_split_variants_aim_at_four_programs_per_sm():
    v = flex_variants(rows=22, kv_heads=8, sms=132)
    assert v["split_4_per_sm"] == {"SPLIT_KV": 3, **FLEX_DECODE_OPTIONS}  # 176 (row, head) programs x 3 >= 4 x 132
    assert v["torch_defaults"] == {}  # what the engine ran before run 8, timed beside its options
    assert v["wide"] == FLEX_DECODE_OPTIONS  # no capacity: no wider split than torch's
    assert flex_variants(rows=3, kv_heads=8, sms=132, capacity=131200)["wide"] == {"SPLIT_KV": 32, **FLEX_DECODE_OPTIONS}
    assert flex_variants(rows=3, kv_heads=8, sms=132)["split_4_per_sm"]["SPLIT_KV"] == 22


def test_a_shape_with_retired_rows_reads_one_block_of_each(tmp_path):
    """``3x256@200:1``: one live row, two retired (one block each): the floors count the live row's K/V, flex reads
    its blocks and one of each retired row's, the live row's flex output equals split's; no steps are timed."""
    assert DecodeShape.parse("3x256@200:1") == DecodeShape(3, 256, 200, live=1)
    for bad in ("3x256@200:0", "3x256@200:4"):
        with pytest.raises(argparse.ArgumentTypeError, match="LIVE must be 1 to ROWS"):
            DecodeShape.parse(bad)
    assert main(["--tiny", "--out", str(tmp_path), "--repeats", "2", "--warmup", "1", "--deadline", "1e6",
                 "--parts", "attention,step", "--shapes", "3x256@200:1"]) == 0
    rec = json.loads((tmp_path / "decode_sweep.json").read_text())
    w, m = rec["workloads"]["3x256@200:1"], rec["model"]
    per_position = 2 * m["n_layers"] * m["n_kv_heads"] * m["head_dim"] * m["bytes_per_param"]
    assert w["status"] == "done" and w["live_rows"] == 1 and not any(k.startswith("step_") for k in w)
    assert w["floors"]["kv_bytes"] == 201 * per_position
    assert w["floors"]["kv_bytes_read_flex"] == (200 // 128 + 1 + 2) * 128 * per_position
    pair = w["attention"]["flex_vs_split"]
    assert pair["output_max_abs"] > 0.05 and pair["max_abs_diff"] < 1e-5 * max(1.0, pair["output_max_abs"])


def test_a_one_row_split_is_offered_whatever_the_rows():
    assert flex_variants(rows=3, kv_heads=8, sms=132)["split_of_one_row"] == {"SPLIT_KV": 32, **FLEX_DECODE_OPTIONS}
