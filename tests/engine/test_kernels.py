"""Choosing the causal attention kernel: validation, and falling back when a chosen kernel raises.

On a GPU the chain is FlashAttention-4 -> cuDNN -> FlashAttention-2; here (CPU) the choice is simulated by
patching :func:`evalsuite.engine.kernels.causal_backend`, and the "FlashAttention-4" kernel is one that raises,
as a real kernel does at a shape it cannot take.
"""

from __future__ import annotations

import pytest
import torch

from evalsuite.engine import kernels
from evalsuite.engine.loglikelihood import score_requests
from evalsuite.spec import EngineConfig


@pytest.fixture(scope="module")
def gated(tiny_folder):
    from evalsuite.models.paper_format import load_paper_checkpoint

    return load_paper_checkpoint(tiny_folder("elementwise"), dtype=torch.float32, device="cpu",
                                 attn_implementation="sdpa")


def test_off_cuda_every_choice_is_sdpa():
    for choice in kernels.ATTENTION_CHOICES:
        assert kernels.causal_backend(torch.device("cpu"), choice) == "sdpa"


def test_unknown_choice_is_an_error():
    with pytest.raises(ValueError, match="attention must be one of"):
        kernels.causal_backend(torch.device("cpu"), "fa3")


@pytest.fixture
def failing_fa4(monkeypatch):
    """A "FlashAttention-4" that raises on every call, chosen until it is disabled."""
    calls = []

    def broken(scale):
        def attend(i, q, k, v):
            calls.append(q.shape)
            raise RuntimeError("kernel limit at this shape")
        return attend

    monkeypatch.setattr(kernels, "DISABLED", set())
    monkeypatch.setattr(kernels, "_fa4_causal", broken)
    monkeypatch.setattr(kernels, "causal_backend",
                        lambda device, choice="auto": "sdpa" if "fa4" in kernels.DISABLED else "fa4")
    return calls


def test_scoring_falls_back_when_the_chosen_kernel_raises(gated, failing_fa4):
    g = torch.Generator().manual_seed(0)
    reqs = [(torch.randint(0, 1000, (40,), generator=g).tolist(), torch.randint(0, 1000, (30,), generator=g).tolist())
            for _ in range(3)]  # plain rows: the causal kernel's path
    cfg = EngineConfig(batch_tokens=512, row_tokens=128)
    kernels.DISABLED.add("fa4")
    ref = score_requests(gated, reqs, max_length=128, pad_id=0, engine=cfg)
    kernels.DISABLED.clear()
    got = score_requests(gated, reqs, max_length=128, pad_id=0, engine=cfg)
    assert failing_fa4, "the failing kernel was tried first"
    assert "fa4" in kernels.DISABLED, "a kernel that raised is switched off"
    assert got == ref


def test_prefill_falls_back_when_the_chosen_kernel_raises(gated, failing_fa4):
    from evalsuite.engine.decode import greedy
    from evalsuite.engine.forward import LeanDecoder

    lean = LeanDecoder.wrap(gated)
    prompt = list(range(5, 45))
    kernels.DISABLED.add("fa4")
    ref = greedy(lean, prompt, max_new_tokens=6, eos_token_id=None, stop=lambda t: False, fast=True)
    kernels.DISABLED.clear()
    got = greedy(lean, prompt, max_new_tokens=6, eos_token_id=None, stop=lambda t: False, fast=True)
    assert failing_fa4 and "fa4" in kernels.DISABLED
    assert got == ref


def test_suite_attention_is_validated():
    from evalsuite.errors import SpecError
    from evalsuite.spec import parse_suite

    base = {"name": "s", "tasks": ["es_hellaswag"]}
    with pytest.raises(SpecError, match=r"models\[0\]\.attention: must be one of auto, fa4, cudnn, flash"):
        parse_suite({**base, "models": [{"name": "m", "source": {"builtin": "smollm2"}, "attention": "fa3"}]})
    suite = parse_suite({**base, "models": [{"name": "m", "source": {"builtin": "smollm2"}, "attention": "cudnn"}]})
    assert suite.models[0].engine.attention == "cudnn"
    with pytest.raises(SpecError, match=r"models\[0\]\.tree_attention: must be one of sdpa, flex, found 'block'"):
        parse_suite({**base, "models": [{"name": "m", "source": {"builtin": "smollm2"}, "tree_attention": "block"}]})


@pytest.mark.parametrize("args, message", [(["--variants", "compiled,fast"], "unknown scoring variant"),
                                           (["--ruler-modes", "compiled@fa3"], "bad RULER mode")])
def test_bench_options_are_validated(args, message, tmp_path):
    from evalsuite.lab.bench.cli import main
    from evalsuite.errors import SpecError

    with pytest.raises(SpecError, match=message):
        main(["--preset", "tiny", "--data", str(tmp_path), "--out", str(tmp_path)] + args)


def test_a_suffix_attends_causally_aligned_to_the_end():
    """A prompt's suffix over its cached prefix (fewer queries than keys): each query sees the keys up to its own
    position, as the same rows of the whole prompt's causal attention do (SDPA's is_causal would align top-left)."""
    from evalsuite.engine.kernels import causal, suffix_causal

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, 50, 16, generator=g) for h in (4, 2, 2))
    whole = causal(2, 0.25)(0, q, k, v)
    for start in (1, 20, 49):
        assert torch.allclose(suffix_causal(q[:, :, start:], k, v, 2, 0.25), whole[:, :, start:], atol=1e-6)
        assert torch.allclose(causal(2, 0.25, backend="cudnn")(0, q[:, :, start:], k, v), whole[:, :, start:],
                              atol=1e-6)


def test_the_kernel_checks_count_their_seconds_once_a_process(monkeypatch):
    """check_seconds: what the checks took, paid once (lru-cached); FlashAttention-4's check JIT-compiles its
    kernel (~5.5 s on an H100), so a priced unit takes it as paid once, as it does torch.compile's seconds."""
    import time

    import torch

    from evalsuite.engine import kernels

    def slow_capability(device):
        time.sleep(0.2)
        return (8, 0)  # an Ampere card: FlashAttention-4 is not for it

    monkeypatch.setattr(torch.cuda, "get_device_capability", slow_capability)
    monkeypatch.setattr(kernels, "DISABLED", set())
    kernels.fa4_attention_ok.cache_clear()
    try:
        before = kernels.check_seconds()
        assert kernels.fa4_attention_ok(0) is False
        once = kernels.check_seconds()
        assert once - before >= 0.2
        assert kernels.fa4_attention_ok(0) is False and kernels.check_seconds() == once  # the cached answer
    finally:
        kernels.fa4_attention_ok.cache_clear()


@pytest.fixture
def dynamo_limit():
    """dynamo's recompile limit at its default for the test, restored after it (through dynamo's own patch:
    pytest's monkeypatch deletes a config entry on undo)."""
    import torch._dynamo

    name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    with torch._dynamo.config.patch(**{name: 8}):
        yield lambda: getattr(torch._dynamo.config, name)


def test_the_engines_compiled_flex_has_room_for_every_shape_of_a_process(dynamo_limit):
    # One process of the paper suite compiles FlexAttention for ~8 shapes, dynamo's default limit; past it a new
    # shape would run the unfused reference without a word.
    kernels.flex_attention_fn.cache_clear()
    try:
        kernels.flex_attention_fn("cuda", dynamic=False)  # built lazily: nothing here needs a GPU
    finally:
        kernels.flex_attention_fn.cache_clear()
    assert dynamo_limit() == kernels.RECOMPILE_LIMIT >= 32
    assert kernels.allow_recompiles(16) == kernels.RECOMPILE_LIMIT  # never lowered


def test_the_raised_limit_is_the_one_dynamo_reads(dynamo_limit):
    # Twelve static shapes of one compiled function: at the default limit the last four would run uncompiled.
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    kernels.allow_recompiles()
    compiled = torch.compile(twice, dynamic=False, backend="eager")
    for n in range(1, 13):
        compiled(torch.ones(n))
    assert len(_debug_get_cache_entry_list(twice.__code__)) == 12
