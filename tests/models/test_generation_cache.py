"""Greedy decoding with the KV cache equals decoding without it, for every gate and attention kernel."""

from __future__ import annotations

import pytest
import torch

from evalsuite.models import load_paper_checkpoint


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("gate", ["none", "headwise", "elementwise"])
def test_greedy_with_cache_equals_without(tiny_checkpoint, gate, attn):
    model = load_paper_checkpoint(tiny_checkpoint(gate), dtype=torch.float32, device="cpu", attn_implementation=attn)
    ids = torch.randint(1, 49152, (2, 10))
    mask = torch.ones_like(ids)
    ids[0, :3], mask[0, :3] = 0, 0  # left padding on the first row exercises the mask path too
    runs = {}
    with torch.no_grad():
        for use_cache in (True, False):
            runs[use_cache] = model.generate(
                ids, attention_mask=mask, max_new_tokens=8, do_sample=False, use_cache=use_cache, pad_token_id=0,
                output_scores=True, return_dict_in_generate=True,
            )
    cached, uncached = runs[True], runs[False]
    assert cached.sequences.shape == (2, 18)
    assert torch.equal(cached.sequences, uncached.sequences)
    for step_cached, step_uncached in zip(cached.scores, uncached.scores, strict=True):
        torch.testing.assert_close(step_cached, step_uncached, rtol=1e-4, atol=1e-4)
