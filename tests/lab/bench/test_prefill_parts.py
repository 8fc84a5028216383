"""``python -m evalsuite.lab.bench.prefill_parts --tiny`` on CPU: the engine's prefill timed part by part, every
layer's halves and attention between timestamps, the products' FLOPs those of the cost model's limit, and the
prefill unchanged by being timed."""

from __future__ import annotations

import json

import pytest
import torch

from evalsuite.engine import forward, kernels
from evalsuite.engine.cost import PEAK_BF16_FLOPS
from evalsuite.engine.decode import prefill
from evalsuite.engine.forward import LeanDecoder
from evalsuite.engine.static_cache import StaticKV
from evalsuite.lab.bench.config import tiny
from evalsuite.lab.bench.harness import build_model
from evalsuite.lab.bench.prefill_parts import FUSED, GEMMS, SPANS, Marks, attention_alone, main, marked


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("prefill_parts")
    assert main(["--tiny", "--out", str(out), "--lengths", "256,512", "--gates", "none,elementwise"]) == 0
    return json.loads((out / "prefill_parts.json").read_text())


def test_every_layer_is_timed_part_by_part(record):
    assert set(record["parts"]) == {"none/256", "none/512", "elementwise/256", "elementwise/512"}
    for rec in record["parts"].values():
        assert "error" not in rec, rec
        # start and tail, and per layer: a gap, pre, the cache write, attention, a gap, post
        assert rec["timestamps"] == 2 + 6 * rec["layers"]
        assert set(rec["spans"]) == set(SPANS) | {"between"}
        assert all(s >= 0 for name, s in rec["spans"].items() if name != "between")
        assert rec["spans"]["pre"] > 0 and rec["spans"]["attention"] > 0 and rec["spans"]["post"] > 0
        assert rec["marked_s"] == pytest.approx(sum(rec["spans"].values()))
        assert rec["x_limit"] == pytest.approx(rec["whole_s"] / rec["limit_s"])
        assert rec["attention_kernel"] == "sdpa" and rec["compiled_halves"] is False
        alone = rec["attention_alone"]  # layer 0's kernel on its own inputs and on normal ones, as laid out
        assert alone["own_s"] > 0 and alone["normal_s"] > 0
        assert alone["own_over_normal"] == pytest.approx(alone["own_s"] / alone["normal_s"])
        assert [len(alone["strides"][n]) for n in "qkv"] == [4, 4, 4]
        assert 0 < alone["inputs"]["q"]["rms"] <= alone["inputs"]["q"]["max_abs"]


def test_products_are_the_limits_linear_flops(record):
    cfg = tiny()
    for key, rec in record["parts"].items():
        g = rec["gemms"]
        assert set(g) == set(GEMMS) | set(FUSED)
        for fused, parts in FUSED.items():  # the fused product: the same columns, one weight
            assert g[fused]["shape"] == [sum(g[n]["shape"][0] for n in parts), g[parts[0]]["shape"][1]]
            assert g[fused]["flops"] == pytest.approx(sum(g[n]["flops"] for n in parts))
            assert isinstance(g[fused]["identical"], bool) and g[fused]["max_abs_diff"] < 1e-4  # fp32, O(1) values
            assert g[fused]["identical"] == (g[fused]["max_abs_diff"] == 0)
        assert g["down_proj"]["shape"] == [cfg.model_overrides["hidden_size"], cfg.model_overrides["intermediate_size"]]
        if key.startswith("elementwise"):  # the paper's elementwise gate: q_proj carries a gate per query column
            assert g["q_proj"]["shape"][0] == 2 * g["o_proj"]["shape"][1]
        # The cost model's linear term counts every matrix parameter but the embedding: the products and the
        # norms' weights (a few hundred parameters here).
        products = sum(g[n]["flops"] for n in GEMMS) / PEAK_BF16_FLOPS
        assert products == pytest.approx(rec["linear_limit_s"], rel=0.01)
        assert rec["gemm_s"] == pytest.approx(sum(g[n]["s"] for n in GEMMS))
        assert rec["pre_other_s"] == pytest.approx(rec["spans"]["pre"] - sum(g[n]["s"] for n in FUSED["qkv"]))


def test_timing_leaves_the_prefill_and_the_product_unchanged():
    model = build_model(tiny(), "headwise")
    lean = LeanDecoder.wrap(model)
    prompt = torch.randint(0, 1000, (1, 200), generator=torch.Generator().manual_seed(1))
    originals = (forward.compiled_halves, kernels.causal, LeanDecoder.pre_attention, LeanDecoder.post_attention)
    with torch.inference_mode():
        kv_plain, kv_marked = StaticKV(lean, 256), StaticKV(lean, 256)
        plain = prefill(lean, kv_plain, prompt, fast=True)
        marks = Marks(lean.device)
        with marked(marks, compiled=False):
            timed = prefill(lean, kv_marked, prompt, fast=True)
    assert torch.equal(plain, timed)
    assert torch.equal(kv_plain.k[0], kv_marked.k[0]) and torch.equal(kv_plain.v[-1], kv_marked.v[-1])
    assert [label for label, _ in marks.marks[:6]] == ["gap", "pre", "cache_write", "attention", "gap", "post"]
    assert (forward.compiled_halves, kernels.causal, LeanDecoder.pre_attention, LeanDecoder.post_attention) == originals


def test_the_attention_alone_runs_the_layers_kernel_on_its_inputs_and_on_normal_ones_of_their_layout():
    seen = []

    def attend(i, q, k, v):
        seen.append((i, q, k, v))
        return q

    q = torch.randn(1, 8, 2, 4).transpose(1, 2)  # (B, H, T, D) over (B, T, H, D), as the engine hands it on
    k = v = torch.randn(1, 8, 1, 4).transpose(1, 2)
    out = attention_alone(attend, (0, q, k, v), n_layers=3, repeats=1)
    assert out["strides"] == {"q": list(q.stride()), "k": list(k.stride()), "v": list(v.stride())}
    own, normal = seen[0], seen[-1]
    assert own[1] is q and normal[1] is not q and normal[1].stride() == q.stride() and normal[1].shape == q.shape
    assert out["inputs"]["q"]["max_abs"] == pytest.approx(float(q.abs().max()))


def test_a_length_past_the_deadline_is_recorded_as_skipped(tmp_path):
    assert main(["--tiny", "--out", str(tmp_path), "--lengths", "256", "--deadline", "0"]) == 0
    rec = json.loads((tmp_path / "prefill_parts.json").read_text())
    assert rec["parts"] == {"none/256": {"skipped": "past the deadline"}}


def test_the_profile_names_the_forwards_operations(tmp_path):
    assert main(["--tiny", "--out", str(tmp_path), "--lengths", "256", "--profile", "--repeats", "1"]) == 0
    table = json.loads((tmp_path / "prefill_parts.json").read_text())["parts"]["none/256"]["profile"]
    names = " ".join(row["name"] for row in table["top"])
    assert table["kernels"] > 0 and "aten::" in names
    assert [row["ms"] for row in table["top"]] == sorted((row["ms"] for row in table["top"]), reverse=True)
