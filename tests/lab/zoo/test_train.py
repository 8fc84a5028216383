"""The zoo trainer on CPU: shared initial weights, shared data order, schedule, spikes, a short end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evalsuite.models.convert import split_paper_q_rows
from evalsuite.lab.zoo import MICRO, SMALL, TINY, TrainConfig, build_model, lr_at, spike_steps, train_variant
from evalsuite.lab.zoo.data import PackedCorpus, doc_windows


def _cfg(**kw) -> TrainConfig:
    base = dict(shape=MICRO, steps=6, batch_size=2, seq_len=16, lr=3e-3, warmup_steps=2)
    return TrainConfig(**{**base, **kw})


def test_variants_share_every_weight_whose_shape_agrees():
    cfg = _cfg(match_params=True)
    models = {g: dict(build_model(cfg, g, device="cpu").named_parameters()) for g in ("none", "headwise", "elementwise")}
    base = models["none"]
    c = MICRO
    for gate in ("headwise", "elementwise"):
        other = models[gate]
        q, _ = split_paper_q_rows(other["model.layers.1.self_attn.q_proj.weight"].T, gate=gate, num_heads=c.heads,
                                  num_kv_heads=c.kv_heads, head_dim=c.head_dim)  # (in, H, D)
        assert torch.equal(q.reshape(c.hidden, -1).T, base["model.layers.1.self_attn.q_proj.weight"])
        for name in ("model.embed_tokens.weight", "model.layers.0.self_attn.k_proj.weight",
                     "model.layers.1.self_attn.o_proj.weight", "model.norm.weight"):
            assert torch.equal(other[name], base[name]), name
        up = other["model.layers.0.mlp.up_proj.weight"]
        assert torch.equal(up, base["model.layers.0.mlp.up_proj.weight"][: up.shape[0]])


def test_parameter_matching_narrows_the_gated_ffn():
    assert SMALL.ffn_for("none", match_params=True) == 1536
    # SMALL rounds to multiples of 8 (aligned bf16 GEMMs): 170.7 units of FFN pay for 512 gate rows -> 168.
    assert SMALL.ffn_for("elementwise", match_params=True) == 1536 - 168
    assert SMALL.ffn_for("headwise", match_params=True) == 1536  # 2.7 units round to none
    assert SMALL.ffn_for("elementwise", match_params=False) == 1536
    assert TINY.ffn_for("elementwise", match_params=True) == 256 - round(4 * 16 / 3)  # the shipped trio: unit rounding
    sizes = {g: sum(p.numel() for p in build_model(_cfg(match_params=True), g, device="cpu").parameters())
             for g in ("none", "headwise", "elementwise")}
    per_layer_slack = 1.5 * MICRO.hidden * MICRO.layers
    assert all(abs(n - sizes["none"]) <= per_layer_slack for n in sizes.values()), sizes


def test_batches_follow_one_seeded_order_and_cover_each_token_once():
    stream = torch.arange(1 + 16 * 10, dtype=torch.int32)
    a, b = PackedCorpus(stream, seq_len=16, seed=3), PackedCorpus(stream, seq_len=16, seed=3)
    for step in range(7):  # past the end of epoch 0 (5 batches of 2)
        xa, ya = a.batch(step, 2)
        xb, yb = b.batch(step, 2)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(xa[:, 1:], ya[:, :-1])
    targets = torch.cat([a.batch(s, 2)[1].flatten() for s in range(5)])
    assert sorted(targets.tolist()) == list(range(1, 161))  # every token after the first, once per epoch
    assert not torch.equal(a.batch(0, 2)[0], PackedCorpus(stream, seq_len=16, seed=4).batch(0, 2)[0])


def test_document_windows_predict_every_token_but_the_first():
    ids = np.arange(40, dtype=np.int32)
    targets = np.concatenate([y for _, y in doc_windows(ids, 16)])
    assert targets.tolist() == list(range(1, 40))


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = _cfg(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[99] == pytest.approx(0.1) and all(x >= y for x, y in zip(lrs[9:], lrs[10:]))


def test_spikes_are_jumps_over_the_running_median():
    losses = [5.0 + 0.01 * (i % 3) for i in range(120)]  # flat, with noise
    losses[80] += 0.3  # a spike
    losses[100] += 0.15  # under the 0.2-nat threshold
    losses[30] += 5.0  # before the 50-step window is full: not counted
    assert spike_steps(losses) == [80]
    assert spike_steps(losses, threshold_nats=0.1) == [80, 100]
    assert spike_steps([float("nan")] * 60)[:1] == [50]


def test_training_a_few_steps_lowers_the_loss_for_every_gate():
    torch.manual_seed(0)
    stream = torch.as_tensor(np.tile(np.arange(40, dtype=np.int32), 30))  # a repeating pattern to learn
    corpus = PackedCorpus(stream, seq_len=16, seed=0)
    cfg = _cfg(steps=30, batch_size=4, lr=1e-2, warmup_steps=3)
    for gate in ("none", "headwise", "elementwise"):
        _, rec = train_variant(cfg, gate, corpus, [], device="cpu", log=lambda _: None)
        assert len(rec.losses) == 30 and all(np.isfinite(rec.losses))
        assert rec.losses[-1] < rec.losses[0] - 1.0, (gate, rec.losses[0], rec.losses[-1])
        assert rec.tokens == 30 * 4 * 16 and rec.spikes is not None


def test_micro_plan_end_to_end(tmp_path, synthetic_corpus, byte_tokenizer_json):
    """The CLI: tokenize, train three trios, export in the paper's format, reload, report."""
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec
    from evalsuite.lab.zoo.cli import main

    records, ckpt = tmp_path / "records", tmp_path / "ckpt"
    rc = main(["train", "--plan", "micro", "--corpus", str(synthetic_corpus), "--parts", "2",
               "--tokenizer-json", str(byte_tokenizer_json), "--records", str(records), "--checkpoints", str(ckpt),
               "--device", "cpu", "--commit", "test"])
    assert rc == 0
    rows = json.loads((records / "summary.json").read_text())
    assert [r["model"] for r in rows] == ["micro-baseline", "micro-headwise", "micro-elementwise",
                                          "micro-budget-baseline", "micro-budget-headwise",
                                          "micro-budget-elementwise", "micro-lr2-elementwise"]
    assert rows[-1]["peak_lr"] == pytest.approx(6e-3) and rows[-1]["heldout_ppl_ratio_vs_baseline"] is not None
    assert all(r["roundtrip"]["weights_identical"] for r in rows)
    for name in ("micro-baseline", "micro-elementwise"):
        folder = ckpt / name
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == "qwen3" and "auto_map" not in config
        loaded = load(SourceSpec(path=str(folder)), dtype="float32", device="cpu")
        assert loaded.kind == "paper-gated"
        assert loaded.model.config.attn_output_gate == ("elementwise" if "element" in name else "none")
        assert loaded.tokenizer.eos_token == "<|endoftext|>"
        assert "## How it was produced" in (folder / "MODEL_CARD.md").read_text()
    assert (records / "micro-loss.png").stat().st_size > 1000
