"""Our greedy decoder equals transformers' greedy generate, stops at stop strings and refuses long prompts."""

from __future__ import annotations

import pytest
import torch

from evalsuite.errors import ContextLengthError
from evalsuite.engine.generate import GenerationRequest, greedy_generate


@pytest.fixture(scope="module")
def model_and_tok(tiny_folder):
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(tiny_folder("headwise"))), hash_weights=False)
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


@pytest.fixture(scope="module")
def gated(tiny_folder):
    from evalsuite.models.paper_format import load_paper_checkpoint

    return load_paper_checkpoint(tiny_folder("elementwise"), dtype=torch.float32, device="cpu",
                                 attn_implementation="sdpa")


def test_split_decode_attention_equals_sdpa():
    from evalsuite.engine.static_cache import split_decode_attention

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 8, 1, 16, generator=g)
    k, v = torch.randn(1, 2, 4096, 16, generator=g), torch.randn(1, 2, 4096, 16, generator=g)
    valid = torch.arange(4096) <= 3000
    ref = torch.nn.functional.scaled_dot_product_attention(q, k[:, :, :3001], v[:, :, :3001], enable_gqa=True)
    assert torch.allclose(split_decode_attention(q, k, v, valid, 16 ** -0.5), ref, atol=1e-5)


def test_flex_decode_attention_equals_split_and_reads_each_rows_own_blocks():
    from evalsuite.engine.static_cache import FlexDecodeMask, flex_decode_attention, split_decode_attention

    g = torch.Generator().manual_seed(1)
    q = torch.randn(4, 8, 1, 16, generator=g)
    # Every slot holds values, those past a row's position too (stale K/V of an earlier batch): they must not count.
    k, v = torch.randn(4, 2, 640, 16, generator=g), torch.randn(4, 2, 640, 16, generator=g)
    position = torch.zeros(4, dtype=torch.long)
    mask = FlexDecodeMask(position, 640)
    for pos in ([0, 127, 128, 639], [5, 300, 0, 511]):
        position.copy_(torch.tensor(pos))  # the decoder moves its own tensor; the mask follows on update()
        mask.update()
        assert mask.kv_num_blocks.view(-1).tolist() == [p // 128 + 1 for p in pos]
        valid = torch.arange(640)[None] <= position[:, None]
        split = split_decode_attention(q, k, v, valid, 16 ** -0.5)
        assert torch.allclose(flex_decode_attention(q, k, v, mask, 16 ** -0.5), split, atol=1e-5)
        ref = torch.nn.functional.scaled_dot_product_attention(q[1:2], k[1:2, :, :pos[1] + 1], v[1:2, :, :pos[1] + 1],
                                                               enable_gqa=True)
        assert torch.allclose(split[1:2], ref, atol=1e-5)
    with pytest.raises(ValueError, match="whole 128-position blocks"):
        FlexDecodeMask(position, 600)


def test_a_retired_row_reads_one_block_and_the_others_are_unchanged():
    """A row whose position has reached its end visits block 0 only; the other rows' outputs are the ones without
    the retirement, bit for bit (each row is attended from its own blocks)."""
    from evalsuite.engine.static_cache import FlexDecodeMask, flex_decode_attention

    g = torch.Generator().manual_seed(2)
    q = torch.randn(3, 8, 1, 16, generator=g)
    k, v = torch.randn(3, 2, 640, 16, generator=g), torch.randn(3, 2, 640, 16, generator=g)
    position = torch.tensor([300, 500, 639])
    end = torch.tensor([640, 500, 700])  # row 1 is at its end: retired; rows 0 and 2 are not
    mask, plain = FlexDecodeMask(position, 640, end), FlexDecodeMask(position, 640)
    mask.update()
    plain.update()
    assert mask.kv_num_blocks.view(-1).tolist() == [3, 1, 5]
    assert plain.kv_num_blocks.view(-1).tolist() == [3, 4, 5]
    got, ref = flex_decode_attention(q, k, v, mask, 0.25), flex_decode_attention(q, k, v, plain, 0.25)
    assert torch.equal(got[[0, 2]], ref[[0, 2]])
    assert torch.isfinite(got[1]).all()
    end[1] = 900  # the decoder's own tensor: the mask follows it on update()
    mask.update()
    assert mask.kv_num_blocks.view(-1).tolist() == [3, 4, 5]


def test_flex_decode_runs_the_tuned_kernel_options_on_cuda(monkeypatch):
    """The decoding kernel gets 4 warps and 3 stages on CUDA (run 8: torch's own 2 warps, 1 stage read the cache at
    70-90 % of these' rate, bit-identical outputs); the CPU reference gets none."""
    from evalsuite.engine import kernels, static_cache
    from evalsuite.engine.static_cache import FlexDecodeMask, flex_decode_attention, flex_decode_options

    seen = []
    monkeypatch.setattr(kernels, "flex_attention_fn",
                        lambda device_type, dynamic: lambda *a, **kw: seen.append((device_type, kw)) or a[0])
    q, k = torch.zeros(2, 4, 1, 16), torch.zeros(2, 2, 256, 16)
    flex_decode_attention(q, k, k, FlexDecodeMask(torch.zeros(2, dtype=torch.long), 256), 0.25)
    assert seen == [("cpu", {"block_mask": seen[0][1]["block_mask"], "scale": 0.25, "enable_gqa": True,
                             "kernel_options": None})]
    tuned = flex_decode_options("cuda", rows=100, kv_heads=8, capacity=4224, sms=132)
    assert tuned == {"num_warps": 4, "num_stages": 3} == static_cache.FLEX_DECODE_OPTIONS  # torch's split at 4K
    assert tuned is not static_cache.FLEX_DECODE_OPTIONS  # torch may add keys to its copy
    assert flex_decode_options("cpu", rows=3, kv_heads=8, capacity=131200) is None


def test_the_wide_split_is_a_one_row_caches_where_the_cache_is_long():
    """Torch splits each row's keys 2 x (SMs // (rows x KV heads)) ways: 10 for 3 rows at 128K on 132 SMs, which
    left one live row among retired ones at 2.21x its read's floor against 1.11x at a one-row cache's 32 (run 12,
    an H200). The wide split is the one-row cache's where each split keeps 32 blocks, torch's elsewhere; torch's
    own is the default."""
    from evalsuite.engine.static_cache import decode_split, flex_decode_options

    assert decode_split(3, 8, 131200, 132) == 32  # torch: 10
    assert decode_split(6, 8, 65664, 132) == 16  # torch: 4; 513 blocks of 128 hold 16 splits of 32
    assert decode_split(15, 8, 32896, 132) == 8  # torch: 2
    assert decode_split(50, 8, 8320, 132) == 2  # torch: 1
    for rows, capacity in ((100, 4224), (1, 131200), (1, 4224), (2, 8320)):
        assert decode_split(rows, 8, capacity, 132) is None  # no wider than torch's: its own runs
    assert decode_split(3, 8, 131200, 78) == 18  # fewer SMs, a narrower one-row split
    base = {"num_warps": 4, "num_stages": 3}
    wide = flex_decode_options("cuda", rows=3, kv_heads=8, capacity=131200, sms=132, split="wide")
    assert wide == {**base, "SPLIT_KV": 32}
    assert flex_decode_options("cuda", rows=3, kv_heads=8, capacity=131200, sms=132) == base  # torch's, the default
    assert flex_decode_options("cuda", rows=100, kv_heads=8, capacity=4224, sms=132, split="wide") == base
    assert flex_decode_options("cuda", rows=3, kv_heads=8, capacity=131200, sms=132, split=7) == {**base, "SPLIT_KV": 7}


def test_a_flex_mask_fixes_its_kernel_options_and_refuses_a_bad_split(monkeypatch):
    """The mask computes its kernel's options once, from its rows, capacity, K/V heads and split (outside any
    compiled step); the decoding call passes them."""
    from evalsuite.engine import kernels, static_cache
    from evalsuite.engine.static_cache import FlexDecodeMask, flex_decode_attention

    asked, seen = [], []
    real = static_cache.flex_decode_options
    monkeypatch.setattr(static_cache, "flex_decode_options", lambda device, **kw: asked.append(kw) or {"k": 1})
    monkeypatch.setattr(kernels, "flex_attention_fn",
                        lambda device_type, dynamic: lambda *a, **kw: seen.append(kw["kernel_options"]) or a[0])
    mask = FlexDecodeMask(torch.zeros(3, dtype=torch.long), 512, kv_heads=2, split="wide")
    assert asked == [{"rows": 3, "kv_heads": 2, "capacity": 512, "split": "wide"}] and mask.kernel_options == {"k": 1}
    flex_decode_attention(torch.zeros(3, 4, 1, 16), torch.zeros(3, 2, 512, 16), torch.zeros(3, 2, 512, 16), mask, 1.0)
    assert seen == [{"k": 1}]
    monkeypatch.setattr(static_cache, "flex_decode_options", real)
    for bad in (0, -1, 2.0, True, "narrow", None):
        with pytest.raises(ValueError, match="split must be one of torch, wide or a positive integer"):
            FlexDecodeMask(torch.zeros(3, dtype=torch.long), 512, split=bad)


def test_static_shape_step_equals_eager_step_teacher_forced(gated):
    """The CUDA-graph step (run eagerly on CPU) gives the exact step's logits for the same tokens."""
    from evalsuite.engine.decode import GraphDecoder, exact_step, prefill
    from evalsuite.engine.static_cache import StaticKV
    from evalsuite.engine.forward import LeanDecoder

    lean = LeanDecoder.wrap(gated)
    prompt = torch.randint(0, 1000, (1, 50), generator=torch.Generator().manual_seed(1))
    forced = [5, 17, 99, 3, 250]
    with torch.inference_mode():
        kv_a, kv_b = StaticKV(lean, 60), StaticKV(lean, 2048)
        la, lb = prefill(lean, kv_a, prompt, fast=False), prefill(lean, kv_b, prompt, fast=True)
        assert torch.allclose(la, lb, atol=1e-5)
        step = GraphDecoder(lean, kv_b)
        step.start(forced[0], 50)
        for i, tok in enumerate(forced):
            want = exact_step(lean, kv_a, tok, 50 + i)
            step.token.fill_(tok)
            step.step()
            assert torch.allclose(step.logits, want, atol=1e-4), i


@pytest.mark.parametrize("mode", ["fast", "compiled", "exact", "hf"])
def test_every_mode_equals_hf_generate_on_the_gated_model(gated, mode):
    from evalsuite.engine.generate import greedy_generate_tokens

    prompt = torch.randint(0, 1000, (40,), generator=torch.Generator().manual_seed(2)).tolist()
    ref = gated.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, 40:].tolist()
    got = greedy_generate_tokens(gated, None, GenerationRequest(prompt, 10, ()), max_length=256, eos_token_id=None,
                                 mode=mode)
    assert got == ref


def test_decode_cache_is_reused_across_requests(gated):
    from evalsuite.engine.decode import DecodeCache
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.generate import greedy_generate_tokens

    cache = DecodeCache(LeanDecoder.wrap(gated))
    prompts = [torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in (60, 30)]
    fresh = [greedy_generate_tokens(gated, None, GenerationRequest(p, 6, ()), max_length=256, eos_token_id=None)
             for p in prompts]
    reused = [greedy_generate_tokens(gated, None, GenerationRequest(p, 6, ()), max_length=256, eos_token_id=None,
                                     mode="fast", cache=cache) for p in prompts]
    assert reused == fresh and cache.kv is not None


def test_compiled_step_is_used_and_reported(gated):
    """``compiled`` really runs the torch.compile'd step (a silent fallback would still pass the test above)."""
    from evalsuite.engine.generate import greedy_generate_tokens

    phases: dict = {}
    greedy_generate_tokens(gated, None, GenerationRequest(list(range(5, 25)), 4, ()), max_length=128,
                           eos_token_id=None, mode="compiled", timings=phases)
    assert phases["decode_engine"] == "torch.compile'd step"


def test_fused_norm_matches_the_module(gated):
    import dataclasses

    from evalsuite.engine.forward import LeanDecoder

    lean = LeanDecoder.wrap(gated)
    x = torch.randn(2, 7, gated.config.hidden_size, generator=torch.Generator().manual_seed(3))
    norm = gated.model.layers[0].input_layernorm
    fused = dataclasses.replace(lean, fused_norm=True).norm(norm, x)
    assert torch.allclose(fused, norm(x), atol=1e-6) and lean.norm(norm, x).equal(norm(x))


def test_compile_falls_back_to_compiling_around_attention(gated, monkeypatch):
    """If inductor cannot take the whole layer (cache write, fp32-output bmm), only the pure halves compile."""
    from evalsuite.engine import decode
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.generate import greedy_generate_tokens

    real = decode.compiled_decode_layer

    def refuse_whole_layer(*, split: bool = False):
        if not split:
            def broken(*args):
                raise RuntimeError("inductor cannot lower this")
            return broken
        return real(split=True)

    monkeypatch.setattr(decode, "compiled_decode_layer", refuse_whole_layer)
    prompt = torch.randint(0, 1000, (40,), generator=torch.Generator().manual_seed(2)).tolist()
    ref = gated.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, 40:].tolist()
    cache, phases = decode.DecodeCache(LeanDecoder.wrap(gated), compile=True), {}
    got = greedy_generate_tokens(gated, None, GenerationRequest(prompt, 10, ()), max_length=256, eos_token_id=None,
                                 mode="compiled", cache=cache, timings=phases)
    assert got == ref and phases["decode_engine"] == "torch.compile'd step (attention eager)"
    assert any("inductor cannot lower this" in n for n in cache.notes)


def test_compiled_prefill_is_used_and_falls_back(gated, monkeypatch):
    """``compiled`` also compiles the prefill's layer halves; if that fails, the eager prefill runs, with a note."""
    from evalsuite.engine import decode
    from evalsuite.engine import forward as lean_module
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.generate import greedy_generate_tokens

    prompt = torch.randint(0, 1000, (40,), generator=torch.Generator().manual_seed(3)).tolist()
    ref = gated.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, 40:].tolist()
    for broken in (False, True):
        if broken:
            def refuse(*args):
                raise RuntimeError("no lowering for the prefill")
            monkeypatch.setattr(lean_module, "compiled_halves", lambda: (refuse, refuse))
        cache, phases = decode.DecodeCache(LeanDecoder.wrap(gated), compile=True), {}
        got = greedy_generate_tokens(gated, None, GenerationRequest(prompt, 8, ()), max_length=256,
                                     eos_token_id=None, mode="compiled", cache=cache, timings=phases)
        assert got == ref
        assert phases["prefill_compiled"] is (not broken)
        assert any("no lowering for the prefill" in n for n in cache.notes) is broken


def test_fast_mode_with_a_compiled_prefill_keeps_its_step(gated):
    """``compile_prefill`` compiles the prompt's layer halves only; the decode step stays as ``fast`` has it."""
    from evalsuite.engine.generate import greedy_generate_tokens

    prompt = torch.randint(0, 1000, (40,), generator=torch.Generator().manual_seed(4)).tolist()
    ref = gated.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, 40:].tolist()
    phases: dict = {}
    got = greedy_generate_tokens(gated, None, GenerationRequest(prompt, 8, ()), max_length=256, eos_token_id=None,
                                 mode="fast", compile_prefill=True, timings=phases)
    assert got == ref and phases["prefill_compiled"] is True and "compile" not in phases["decode_engine"]


def test_a_released_compiled_cache_frees_its_memory(gated):
    """The compiled step must not keep a finished request's KV cache alive (15 GB at 128K on the 1.7B)."""
    import gc
    import weakref

    from evalsuite.engine.decode import DecodeCache
    from evalsuite.engine.forward import LeanDecoder
    from evalsuite.engine.generate import greedy_generate_tokens

    cache = DecodeCache(LeanDecoder.wrap(gated), compile=True)
    greedy_generate_tokens(gated, None, GenerationRequest(list(range(5, 45)), 4, ()), max_length=256,
                           eos_token_id=None, mode="compiled", cache=cache)
    kv = weakref.ref(cache.kv.k[0])
    cache.release()
    gc.collect()
    assert kv() is None
