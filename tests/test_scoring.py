"""The packed, shared-prefix scorer equals plain one-request-at-a-time scoring."""

from __future__ import annotations

import pytest
import torch

from evalsuite.errors import ContextLengthError
from evalsuite.scoring import ScoringConfig, score_requests


def _naive(model, ctx, cont):
    ids = torch.tensor([ctx + cont[:-1]])
    logp = torch.log_softmax(model(ids).logits.float(), -1)[0, len(ctx) - 1:]
    picked = logp.gather(1, torch.tensor(cont)[:, None]).squeeze(1)
    return float(picked.sum()), bool((logp.argmax(-1) == torch.tensor(cont)).all())


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def model(request, tiny_folder):
    from evalsuite.models.paper_format import load_paper_checkpoint

    return load_paper_checkpoint(tiny_folder("elementwise"), dtype=torch.float32, device="cpu",
                                 attn_implementation=request.param)


def _requests(seed: int):
    g = torch.Generator().manual_seed(seed)
    rand = lambda n: torch.randint(0, 1000, (n,), generator=g).tolist()  # noqa: E731
    reqs = []
    for _ in range(6):  # shared contexts with 4 branches of mixed lengths (HellaSwag-like)
        ctx = rand(int(torch.randint(3, 40, (1,), generator=g)))
        reqs += [(ctx, rand(int(torch.randint(1, 9, (1,), generator=g)))) for _ in range(4)]
    reqs += [(rand(30), rand(1)) for _ in range(5)]  # single-token continuations (MMLU-like)
    reqs += [(rand(2), rand(60))]  # long continuation (rolling-window-like)
    return reqs


@pytest.mark.parametrize("cfg", [ScoringConfig(batch_tokens=64, row_tokens=64),
                                 ScoringConfig(batch_tokens=4096, row_tokens=512, lm_head_chunk=7)])
def test_packed_scoring_equals_naive(model, cfg):
    reqs = _requests(0)
    got = score_requests(model, reqs, max_length=256, pad_id=0, config=cfg)
    for (ctx, cont), (lp, greedy) in zip(reqs, got):
        ref_lp, ref_greedy = _naive(model, ctx, cont)
        assert lp == pytest.approx(ref_lp, abs=1e-4)
        assert greedy == ref_greedy


def test_greedy_flag_detects_argmax_continuation(model):
    ctx = [5, 6, 7, 8]
    nxt = int(model(torch.tensor([ctx])).logits[0, -1].argmax())
    (lp, greedy), (_, not_greedy) = score_requests(model, [(ctx, [nxt]), (ctx, [(nxt + 1) % 1000])],
                                                   max_length=64, pad_id=0)
    assert greedy and not not_greedy and lp < 0


def test_overlong_request_is_an_error_not_a_truncation(model):
    with pytest.raises(ContextLengthError, match="max_length is 16"):
        score_requests(model, [(list(range(10)), list(range(10)))], max_length=16, pad_id=0)
