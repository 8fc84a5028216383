"""The non-finite checks at the source: scorer, greedy decoders, the locating pass and its fp16 hint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evalsuite.errors import NonFiniteError
from evalsuite.engine import finite
from evalsuite.engine.generate import GenerationRequest, greedy_generate_tokens
from evalsuite.models.loader import load_model
from evalsuite.engine.loglikelihood import score_requests
from evalsuite.spec import EngineConfig

REQUESTS = [([1, 2, 3, 4], [5, 6]), ([1, 2, 3, 9], [7]), ([8, 8], [3, 3, 3])]


@pytest.fixture(scope="module")
def broken(broken_folder):
    """``broken(value)``: the poisoned tiny baseline (layer 1 all ``value``), loaded in fp32."""
    cache: dict[str, tuple] = {}

    def get(value: str):
        if value not in cache:
            cache[value] = load_model(str(broken_folder("none", value=float(value))), dtype="float32", device="cpu")
        return cache[value]

    return get


def test_next_token_is_argmax_or_minus_one_for_a_non_finite_row() -> None:
    logits = torch.tensor([[0.1, 3.0, -2.0], [1.0, math.nan, 5.0], [math.inf, 0.0, 1.0], [-1.0, -math.inf, -3.0]])
    assert finite.next_token(logits).tolist() == [1, -1, -1, 0]  # a -inf logit that is not chosen is fine
    ties = torch.tensor([[2.0, 2.0, 1.0]])
    assert finite.next_token(ties).tolist() == ties.argmax(-1).tolist()  # argmax's tie-breaking, kept


def test_first_nonfinite() -> None:
    assert finite.first_nonfinite(np.array([1.0, -3.0])) is None
    assert finite.first_nonfinite(np.array([1.0, math.nan, -math.inf, 2.0])) == (1, 2)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_scorer_names_the_first_request_and_the_broken_layer(broken, value: str) -> None:
    model, _ = broken(value)
    with pytest.raises(NonFiniteError) as info:
        score_requests(model, REQUESTS, max_length=64, pad_id=0)
    message = str(info.value)
    assert info.value.request == 0 and len(message.splitlines()) == 1
    assert message.startswith("non-finite log-likelihood (NaN) in 3 of 3 requests; first non-finite output: ")
    assert "decoder layer 1 of 2, whose weights hold" in message and "checkpoint itself is broken" in message


def test_scorer_check_can_be_switched_off_for_the_benchmark_only(broken) -> None:
    model, _ = broken("inf")
    out = score_requests(model, REQUESTS, max_length=64, pad_id=0, engine=EngineConfig(check_finite=False))
    assert all(math.isnan(lp) for lp, _ in out)  # what the check refuses to let through


def test_healthy_scores_are_untouched(tiny_folder) -> None:
    model, _ = load_model(str(tiny_folder("none")), dtype="float32", device="cpu")
    on = score_requests(model, REQUESTS, max_length=64, pad_id=0)
    off = score_requests(model, REQUESTS, max_length=64, pad_id=0, engine=EngineConfig(check_finite=False))
    assert on == off and all(math.isfinite(lp) for lp, _ in on)


@pytest.mark.parametrize("mode", ["exact", "fast", "hf"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_decoders_refuse_non_finite_logits(broken, mode: str, value: str) -> None:
    model, tok = broken(value)
    request = GenerationRequest(prompt_tokens=[1, 2, 3, 4], max_gen_toks=4, until=())
    with pytest.raises(NonFiniteError, match=r"^non-finite logits at generation step 0; first non-finite output: "
                                             r"decoder layer 1 of 2, whose weights hold \d+ NaN or infinite"):
        greedy_generate_tokens(model, tok, request, max_length=64, eos_token_id=None, mode=mode)


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_a_later_decode_step_is_checked_too(tiny_folder, mode: str) -> None:
    """Finite prompt, then a step whose logits go non-finite: the step is named."""
    model, tok = load_model(str(tiny_folder("none")), dtype="float32", device="cpu")
    head = model.get_output_embeddings()
    calls = {"n": 0}

    def poison_after_prefill(module, args, output):
        calls["n"] += 1
        return output if calls["n"] == 1 else output * math.nan

    handle = head.register_forward_hook(poison_after_prefill)
    try:
        request = GenerationRequest(prompt_tokens=[1, 2, 3, 4], max_gen_toks=5, until=())
        with pytest.raises(NonFiniteError, match="^non-finite logits at generation step 1; "):
            greedy_generate_tokens(model, tok, request, max_length=64, eos_token_id=None, mode=mode)
    finally:
        handle.remove()


def test_fp16_overflow_is_named_and_bf16_suggested(broken_folder) -> None:
    folder = broken_folder("none", scale=30.0)  # finite weights whose activations pass 65504
    model32, _ = load_model(str(folder), dtype="float32", device="cpu")
    assert all(math.isfinite(lp) for lp, _ in score_requests(model32, REQUESTS, max_length=64, pad_id=0))
    model16, _ = load_model(str(folder), dtype="float16", device="cpu")
    with pytest.raises(NonFiniteError) as info:
        score_requests(model16, REQUESTS, max_length=64, pad_id=0)
    message = str(info.value)
    assert "decoder layer 1 of 2, whose weights are finite: the model runs in float16" in message
    assert "overflowed; run it in bfloat16 or float32" in message


def test_locate_says_when_the_forward_is_finite(tiny_folder) -> None:
    model, _ = load_model(str(tiny_folder("none")), dtype="float32", device="cpu")
    assert "finite at every layer" in finite.locate(model, [1, 2, 3])


def test_check_layers_names_window_and_layer(broken) -> None:
    model, _ = broken("nan")
    ok = torch.tensor(True)
    finite.check_layers(model, [1.0, 2.0], [ok])
    with pytest.raises(NonFiniteError, match=r"^diagnostics window 1: non-finite hidden state \(NaN\) in 1 of 2 "
                                             r"layers; first non-finite output: decoder layer 1 of 2"):
        finite.check_layers(model, [1.0, math.nan], [ok, torch.tensor(False), torch.tensor(False)])
