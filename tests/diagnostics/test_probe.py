"""Planted structure is found: an attention sink, uniform attention, an activation spike, gate values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evalsuite.diagnostics import diagnose_windows
from evalsuite.models.convert import split_paper_q_rows

from .helpers import VOCAB, tiny_stock


def _plant_sink(model: torch.nn.Module) -> None:
    """Every query attends to position 0, where (and only where) token 0 sits.

    Token 0's embedding is channel 0 alone; every other token has channel 0 = 0
    and channel 1 = 1. Keys read channel 0 and queries channel 1 into the head's
    lowest-frequency RoPE pair (dims D/2-1 and D-1; its rotation is ~1e-2 rad
    over 40 positions), so only key 0 gets a large score. Channels 0 and 1 of
    o_proj and down_proj are zeroed so the residual stream keeps that structure.
    """
    cfg = model.config
    D, H, KV = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb[:, :2] = 0
        emb[1:, 1] = 1
        emb[0] = 0
        emb[0, 0] = 1
        for layer in model.model.layers:
            attn = layer.self_attn
            for h in range(H):
                attn.q_proj.weight[h * D + D // 2 - 1, 1] = 2.0
            for kv in range(KV):
                attn.k_proj.weight[kv * D + D // 2 - 1, 0] = 2.0
            attn.k_proj.weight[:, 1:] = 0  # keys only from channel 0: zero at every position but 0
            attn.o_proj.weight[:2] = 0
            layer.mlp.down_proj.weight[:2] = 0


def test_planted_sink_gives_a_first_token_share_near_one_in_every_layer():
    model = tiny_stock("llama", layers=3)
    _plant_sink(model)
    ids = [0] + torch.randint(1, VOCAB, (39,), generator=torch.Generator().manual_seed(0)).tolist()
    result = diagnose_windows(model, [ids], window=40, chunk=8)
    assert all(share > 0.99 for share in result.first_token_share), result.first_token_share
    assert result.first_token_share_mean > 0.99
    # The same model on a window that does not start with token 0 has no sink.
    plain = diagnose_windows(model, [ids[1:]], window=40)
    assert all(share < 0.5 for share in plain.first_token_share), plain.first_token_share


def test_uniform_attention_gives_the_exact_mean_of_one_over_t_plus_one():
    model = tiny_stock("qwen3", layers=2)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.zero_()  # q = 0: every visible key scores the same
    lengths = [10, 25, 2]
    windows = [list(range(1, n + 1)) for n in lengths]
    result = diagnose_windows(model, windows, window=25, chunk=4)
    expected = sum(1 / (t + 1) for n in lengths for t in range(1, n)) / sum(n - 1 for n in lengths)
    assert result.first_token_share == pytest.approx([expected] * 2, abs=1e-7)
    assert (result.n_tokens, result.n_windows, result.window) == (37, 3, 25)


def test_a_4k_window_is_chunked_and_still_exact():
    model = tiny_stock("qwen3", layers=1, max_position_embeddings=8192)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.zero_()
    seen: list[tuple[int, ...]] = []
    result = diagnose_windows(model, [[7] * 4096], window=4096, chunk=512,
                              on_probs=lambda i, p: seen.append(tuple(p.shape)))
    assert seen == [(4, 4096)]
    assert result.first_token_share[0] == pytest.approx(sum(1 / (t + 1) for t in range(1, 4096)) / 4095, abs=1e-7)


def test_planted_activation_spike_is_found_at_its_layer():
    ids = [list(range(3, 40))]
    baseline = diagnose_windows(tiny_stock("llama", layers=4, std=0.2), ids, window=37)
    model = tiny_stock("llama", layers=4, std=0.2)
    with torch.no_grad():
        model.model.layers[2].mlp.down_proj.weight[5] *= 1000.0  # residual channel 5 from layer 2 on
    spiked = diagnose_windows(model, ids, window=37)
    ratio = [s / b for s, b in zip(spiked.max_abs_hidden, baseline.max_abs_hidden)]
    assert ratio[:2] == [1.0, 1.0]
    assert ratio[2] > 50 and int(np.argmax(np.diff(spiked.max_abs_hidden))) + 1 == 2
    assert spiked.max_abs_hidden_max == max(spiked.max_abs_hidden)
    assert spiked.max_abs_hidden_mean == pytest.approx(sum(spiked.max_abs_hidden) / 4)


def test_max_abs_hidden_is_each_layers_output_before_the_final_norm():
    model = tiny_stock("qwen3", layers=3, std=0.2)
    windows = [list(range(5, 30)), list(range(40, 52))]
    result = diagnose_windows(model, windows, window=25)
    per_window = []
    with torch.no_grad():
        for ids in windows:
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
            per_window.append([float(h.abs().max()) for h in hidden[1:-1]])  # the last one is after the final norm
    assert list(result.max_abs_hidden[:-1]) == pytest.approx(np.max(per_window, axis=0).tolist(), rel=1e-6)


def _direct_gates(model: torch.nn.Module, windows: list[list[int]]) -> np.ndarray:
    """sigmoid of q_proj's gate rows applied to each layer's normed input, for every window: (layers, values)."""
    cfg = model.config
    per_layer: list[list[np.ndarray]] = [[] for _ in model.model.layers]
    with torch.no_grad():
        for ids in windows:
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states  # [l] = input of layer l
            for l, layer in enumerate(model.model.layers):
                rows = layer.self_attn.q_proj(layer.input_layernorm(hidden[l]))
                _, logits = split_paper_q_rows(rows, gate=cfg.attn_output_gate, num_heads=cfg.num_attention_heads,
                                               num_kv_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim)
                per_layer[l].append(torch.sigmoid(logits).flatten().numpy())
    return np.stack([np.concatenate(parts) for parts in per_layer])


@pytest.mark.parametrize("gate", ["headwise", "elementwise"])
def test_gate_statistics_equal_a_direct_computation(load_gated, gate):
    model, _ = load_gated(gate)
    windows = [list(range(1, 60)), list(range(100, 131))]
    result = diagnose_windows(model, windows, window=59, chunk=16)
    direct = _direct_gates(model, windows)  # (L, values per layer)
    g = result.gates
    assert g is not None and g.kind == gate
    width = 1 if gate == "headwise" else model.config.head_dim
    assert direct.shape[1] == 90 * model.config.num_attention_heads * width
    assert g.n_values == direct.size
    assert list(g.mean_per_layer) == pytest.approx(direct.mean(axis=1).tolist(), abs=1e-6)
    assert list(g.frac_below_0_1_per_layer) == pytest.approx((direct < 0.1).mean(axis=1).tolist())
    assert g.mean == pytest.approx(direct.mean(), abs=1e-6)
    assert g.frac_below_0_1 == pytest.approx((direct < 0.1).mean())
    assert 0 < g.frac_below_0_1 < 0.5  # the seeded logits reach below 0.1, so the count is exercised
    counts, edges = np.histogram(direct, bins=20, range=(0.0, 1.0))
    assert list(g.histogram_counts) == counts.tolist()
    assert list(g.histogram_edges) == pytest.approx(edges.tolist())


def test_gate_recording_is_restored_and_baselines_have_no_gate_stats(load_gated):
    model, _ = load_gated("elementwise")
    diagnose_windows(model, [[1, 2, 3, 4]], window=4)
    assert all(a.record_gates is False and a.last_gate is None for a in model.gated_attention_layers())
    model.set_record_gates(True)
    diagnose_windows(model, [[1, 2, 3, 4]], window=4)
    assert all(a.record_gates is True for a in model.gated_attention_layers())
    model.set_record_gates(False)
    baseline, _ = load_gated("none")
    assert diagnose_windows(baseline, [[1, 2, 3, 4]], window=4).gates is None
