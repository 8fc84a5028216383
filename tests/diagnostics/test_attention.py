"""Chunked first-token probabilities against a full softmax and against eager ``output_attentions``."""

from __future__ import annotations

import pytest
import torch

from evalsuite.diagnostics import diagnose_windows, first_token_probs
from evalsuite.errors import ModelLoadError
from .helpers import VOCAB, tiny_stock


def _full_softmax_col0(q: torch.Tensor, k: torch.Tensor, scaling: float, window: int | None = None) -> torch.Tensor:
    H, T, _ = q.shape
    k = k.repeat_interleave(H // k.shape[0], dim=0)  # repeat_kv
    scores = q @ k.transpose(1, 2) * scaling  # (H, T, T)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    hidden = (j > i) | ((i - j >= window) if window else torch.zeros_like(j > i))
    return scores.masked_fill(hidden, float("-inf")).softmax(-1)[..., 0]


@pytest.mark.parametrize("chunk", [1, 7, 64, None])
@pytest.mark.parametrize("window", [None, 5])
def test_first_token_probs_match_a_full_softmax(chunk, window):
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(6, 23, 8, generator=gen) * 2, torch.randn(2, 23, 8, generator=gen) * 2
    got = first_token_probs(q, k, scaling=8**-0.5, chunk=chunk, sliding_window=window)
    torch.testing.assert_close(got, _full_softmax_col0(q, k, 8**-0.5, window), atol=1e-6, rtol=0)
    assert torch.all(got[:, 0] == 1)


def _eager_vs_probe(model: torch.nn.Module, T: int, chunk: int) -> None:
    for p in model.parameters():  # large weights: peaked, position-dependent attention
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.3)
    ids = torch.randint(0, VOCAB, (1, T), generator=torch.Generator().manual_seed(2))
    captured: dict[int, torch.Tensor] = {}
    result = diagnose_windows(model, [ids[0].tolist()], window=T, chunk=chunk,
                              on_probs=lambda i, p: captured.__setitem__(i, p))
    with torch.no_grad():
        eager = model(ids, output_attentions=True).attentions  # per layer (1, H, T, T)
    assert len(captured) == len(eager) == model.config.num_hidden_layers
    for i, attn in enumerate(eager):
        torch.testing.assert_close(captured[i], attn[0, :, :, 0], atol=1e-5, rtol=0)
        assert result.first_token_share[i] == pytest.approx(float(attn[0, :, 1:, 0].mean()), abs=1e-6)
    assert result.first_token_share_mean == pytest.approx(sum(result.first_token_share) / len(eager))


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_chunked_equals_eager_output_attentions(arch):
    _eager_vs_probe(tiny_stock(arch, attn="eager"), T=41, chunk=6)


def test_sliding_window_layers_match_eager():
    model = tiny_stock("qwen3", attn="eager", use_sliding_window=True, sliding_window=8, max_window_layers=1,
                       layers=3)
    assert [getattr(layer.self_attn, "sliding_window", None) for layer in model.model.layers][1:] == [8, 8]
    _eager_vs_probe(model, T=30, chunk=4)


def test_the_models_own_attention_implementation_does_not_matter():
    ids = [list(range(1, 40))]
    sdpa = diagnose_windows(tiny_stock("llama", attn="sdpa"), ids, window=39, chunk=5)
    eager = diagnose_windows(tiny_stock("llama", attn="eager"), ids, window=39, chunk=50)
    assert sdpa.first_token_share == pytest.approx(eager.first_token_share, abs=1e-6)
    assert sdpa.max_abs_hidden == pytest.approx(eager.max_abs_hidden, rel=1e-5)
    model = tiny_stock("llama", attn="sdpa")
    diagnose_windows(model, ids, window=39)
    assert model.config._attn_implementation == "sdpa"  # nothing switched to eager, and no hooks left behind
    assert all(not layer.self_attn._forward_pre_hooks and not layer._forward_hooks for layer in model.model.layers)


def test_unsupported_attention_is_refused():
    model = tiny_stock("llama")
    model.model.layers[0].self_attn = torch.nn.Identity()
    with pytest.raises(ModelLoadError, match="Identity"):
        diagnose_windows(model, [[1, 2, 3]], window=3)
