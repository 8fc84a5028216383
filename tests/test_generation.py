"""Our greedy decoder equals transformers' greedy generate, stops at stop strings and refuses long prompts."""

from __future__ import annotations

import pytest
import torch

from evalsuite.errors import ContextLengthError
from evalsuite.generation import GenerationRequest, greedy_generate


@pytest.fixture(scope="module")
def model_and_tok(tiny_folder):
    from evalsuite.models.loader import ModelSource, load

    loaded = load(ModelSource(path=str(tiny_folder("headwise"))), hash_weights=False)
    return loaded.model, loaded.tokenizer


def test_equals_hf_greedy_generate(model_and_tok):
    model, tok = model_and_tok
    prompt = tok("The quick brown fox jumps over the lazy dog and then").input_ids
    ref = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, len(prompt):]
    text = greedy_generate(model, tok, GenerationRequest(prompt, 12, ()), max_length=512, eos_token_id=None)
    assert text == tok.decode(ref, skip_special_tokens=True)


def test_stops_at_first_stop_string(model_and_tok):
    model, tok = model_and_tok
    prompt = tok("Once upon a time").input_ids
    full = greedy_generate(model, tok, GenerationRequest(prompt, 16, ()), max_length=512, eos_token_id=None)
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip(), "the tiny model should generate non-blank text"
    cut = greedy_generate(model, tok, GenerationRequest(prompt, 16, (stop,)), max_length=512, eos_token_id=None)
    assert cut == full[: full.find(stop)]


def test_prompt_too_long_is_an_error(model_and_tok):
    model, tok = model_and_tok
    with pytest.raises(ContextLengthError, match="exceeds max_length 40"):
        greedy_generate(model, tok, GenerationRequest(list(range(30)), 20, ()), max_length=40, eos_token_id=None)
