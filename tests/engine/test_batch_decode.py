"""Batched greedy decoding gives each request the one-at-a-time decoder's tokens (CPU, fp32, tiny models)."""

from __future__ import annotations

import pytest
import torch

from evalsuite.engine import batch_decode as batch
from evalsuite.engine.batch_decode import BatchDecodeCache, BatchItem, balanced_rows, greedy_batched, rows_for
from evalsuite.engine.decode import NonFiniteLogitsError, greedy
from evalsuite.engine.forward import LeanDecoder
from dataclasses import replace

LENGTHS = (5, 60, 33, 17, 48, 2, 90)
MAX_NEW = (12, 6, 20, 1, 9, 15, 12)


def _load(folder, yarn=None):
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    return load(SourceSpec(path=str(folder)), dtype="float32", device="cpu", hash_weights=False, yarn=yarn).model


@pytest.fixture(scope="module", params=["none", "headwise", "elementwise", "elementwise+yarn"])
def lean(request, tiny_folder):
    from evalsuite.spec import YarnSpec

    gate, _, yarn = request.param.partition("+")
    # YaRN x4 from 32 original positions: the longer prompts here run in its interpolated range.
    model = _load(tiny_folder(gate), YarnSpec(factor=4.0, original_max_position_embeddings=32) if yarn else None)
    return LeanDecoder.wrap(model)


def _prompts() -> list[list[int]]:
    return [torch.randint(3, 40000, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in LENGTHS]


def _one_at_a_time(lean, items, eos, *, fast):
    return [greedy(lean, list(it.prompt), max_new_tokens=it.max_new_tokens, eos_token_id=eos, stop=it.stop,
                   fast=fast) for it in items]


def _stop_at(token: int):
    return lambda tokens: tokens[-1] == token


def _items_with_stops(lean) -> tuple[list[BatchItem], int]:
    """Requests whose rows end at different steps: by EOS, by a stop check, by max_new_tokens."""
    never = _stop_at(-5)
    free = [BatchItem(p, m, never) for p, m in zip(_prompts(), MAX_NEW)]
    ref = _one_at_a_time(lean, free, None, fast=False)
    eos = ref[0][4]  # row 0 ends at its fifth token (others may too, wherever they produce it)
    items = list(free)
    items[2] = BatchItem(free[2].prompt, free[2].max_new_tokens, _stop_at(ref[2][3]))
    items[6] = BatchItem(free[6].prompt, free[6].max_new_tokens, _stop_at(ref[6][7]))
    return items, eos


@torch.inference_mode()
def test_batched_tokens_equal_one_at_a_time(lean):
    items, eos = _items_with_stops(lean)
    exact = _one_at_a_time(lean, items, eos, fast=False)
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=eos, max_rows=3, timings=timings)
    assert got == exact
    assert got == _one_at_a_time(lean, items, eos, fast=True)
    assert len(exact[0]) <= 4 and len(exact[3]) == 1  # EOS and max_new_tokens really ended rows early
    # 7 requests, 3 rows: three batches, the last with one live row among two ignored ones.
    assert [(t["rows"], t["live_rows"]) for t in timings] == [(3, 3), (3, 3), (3, 1)]


@torch.inference_mode()
def test_flex_decode_attention_gives_the_same_tokens(lean):
    items, eos = _items_with_stops(lean)
    exact = _one_at_a_time(lean, items, eos, fast=False)
    timings: list[dict] = []
    assert greedy_batched(lean, items, eos_token_id=eos, max_rows=3, decode_attention="flex", timings=timings) == exact
    assert all(t["decode_engine"].endswith(", flex attention") for t in timings)
    one = [greedy(lean, list(it.prompt), max_new_tokens=it.max_new_tokens, eos_token_id=eos, stop=it.stop, fast=True,
                  decode_attention="flex") for it in items]
    assert one == exact


@torch.inference_mode()
def test_a_flex_step_that_fails_falls_back_to_split_attention(tiny_folder, monkeypatch):
    from evalsuite.engine import static_cache

    def broken(*args, **kwargs):
        raise RuntimeError("no triton here")

    monkeypatch.setattr(static_cache, "flex_decode_attention", broken)
    lean = LeanDecoder.wrap(_load(tiny_folder("headwise")))
    items = [BatchItem(p, 5, _stop_at(-5)) for p in _prompts()[:3]]
    cache = BatchDecodeCache(lean, decode_attention="flex")
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, decode_attention="flex", cache=cache, timings=timings)
    assert got == _one_at_a_time(lean, items, None, fast=False)
    assert timings[0]["decode_engine"] == "eager static-shape step"  # split: no ", flex attention"
    assert any(n.startswith("flex decode attention failed (RuntimeError: no triton here); split") for n in cache.notes)


@torch.inference_mode()
def test_the_batches_memory_needs_are_evened_out(lean):
    items, eos = _items_with_stops(lean)
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=eos, max_rows=5, timings=timings)
    assert got == _one_at_a_time(lean, items, eos, fast=False)
    # 7 requests where 5 rows fit: two batches either way, of 4 rows (4 + 3 live), not of 5 (5 + 2 live).
    assert [(t["rows"], t["live_rows"]) for t in timings] == [(4, 4), (4, 3)]
    assert [balanced_rows(n, 8) for n in (1, 8, 9, 11, 16, 17)] == [1, 8, 5, 6, 8, 6]
    assert balanced_rows(1100, 8) == 8 and balanced_rows(3, 1) == 1


@torch.inference_mode()
def test_one_batch_of_every_request_equals_batches_of_two(lean):
    items, eos = _items_with_stops(lean)
    assert greedy_batched(lean, items, eos_token_id=eos) == greedy_batched(lean, items, eos_token_id=eos, max_rows=2)


@torch.inference_mode()
def test_compiled_batched_step_equals_one_at_a_time(tiny_folder):
    lean = LeanDecoder.wrap(_load(tiny_folder("headwise")))
    items = [BatchItem(p, 5, _stop_at(-5)) for p in _prompts()[:3]]
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, compile=True, timings=timings)
    # Several rows compile the layer's halves first (run 8: the whole compiled layer was 2.3-3.8x slower)
    assert timings[0]["rows"] > 1 and timings[0]["decode_engine"] == "torch.compile'd step (attention eager)"
    assert got == _one_at_a_time(lean, items, None, fast=False)


@torch.inference_mode()
def test_batched_step_compiles_the_whole_layer_if_the_halves_fail(tiny_folder, monkeypatch):
    from evalsuite.engine import decode

    real = decode.compiled_decode_layer

    def refuse_halves(*, split: bool = False):
        if split:
            def broken(*args):
                raise RuntimeError("inductor cannot lower the halves")
            return broken
        return real(split=False)

    monkeypatch.setattr(decode, "compiled_decode_layer", refuse_halves)
    lean = LeanDecoder.wrap(_load(tiny_folder("elementwise")))
    items = [BatchItem(p, 4, _stop_at(-5)) for p in _prompts()[:3]]
    cache, timings = BatchDecodeCache(lean, compile=True), []
    got = greedy_batched(lean, items, eos_token_id=None, compile=True, cache=cache, timings=timings)
    assert timings[0]["decode_engine"] == "torch.compile'd step"
    assert any("inductor cannot lower the halves" in n for n in cache.notes)
    assert got == _one_at_a_time(lean, items, None, fast=False)


@torch.inference_mode()
def test_a_compiled_prefill_with_the_uncompiled_step_gives_the_same_tokens(tiny_folder, monkeypatch):
    lean = LeanDecoder.wrap(_load(tiny_folder("elementwise")))
    items = [BatchItem(p, 5, _stop_at(-5)) for p in _prompts()[:3]]
    seen, real = [], batch.prefill

    def spy(*args, compiled=False, **kwargs):
        seen.append(compiled)
        return real(*args, compiled=compiled, **kwargs)

    monkeypatch.setattr(batch, "prefill", spy)
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, compile_prefill=True, timings=timings)
    assert got == _one_at_a_time(lean, items, None, fast=False)
    assert seen == [True] * 3 and "compile" not in timings[0]["decode_engine"]  # the step as "fast" has it
    seen.clear()
    greedy_batched(lean, items, eos_token_id=None, compile=True, compile_prefill=False)
    assert seen == [False] * 3


def test_rows_are_sized_from_free_memory(tiny_folder):
    lean = LeanDecoder.wrap(_load(tiny_folder("none")))
    per_row, workspace = batch.row_bytes(lean, 4096), batch.prefill_workspace_bytes(lean, 4000)
    free = int((workspace + 3.5 * per_row) / batch.MEMORY_FRACTION)
    assert rows_for(lean, 4096, longest_prompt=4000, wanted=100, free_bytes=free) == 3
    assert rows_for(lean, 4096, longest_prompt=4000, wanted=2, free_bytes=free) == 2
    assert rows_for(lean, 4096, longest_prompt=4000, wanted=100, free_bytes=0) == 1  # never 0: one row always
    assert rows_for(lean, 4096, longest_prompt=4000, wanted=100, max_rows=8) == 8  # CPU: memory is not asked


@torch.inference_mode()
def test_out_of_memory_halves_the_rows(tiny_folder, monkeypatch):
    lean = LeanDecoder.wrap(_load(tiny_folder("elementwise")))
    items = [BatchItem(p, 6, _stop_at(-5)) for p in _prompts()]
    real = batch.StaticKV

    def small_card(lean_, capacity, rows=1):
        if rows > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real(lean_, capacity, rows)

    monkeypatch.setattr(batch, "StaticKV", small_card)
    cache, timings = BatchDecodeCache(lean), []
    got = greedy_batched(lean, items, eos_token_id=None, max_rows=4, cache=cache, timings=timings)
    assert got == _one_at_a_time(lean, items, None, fast=False)
    assert {t["rows"] for t in timings} == {2} and any("out of memory at 4 rows" in n for n in cache.notes)
    assert all(t["prefill_compile_s"] >= 0.0 for t in timings)  # what the protocol's predictor counts once
    assert {t["prefill_attention"] for t in timings} == {"sdpa"}  # the prefill's kernel, named in the record


@torch.inference_mode()
def test_non_finite_logits_in_a_decode_step_are_an_error(tiny_folder):
    model = _load(tiny_folder("headwise"))
    lean = LeanDecoder.wrap(model)
    items = [BatchItem(p, 6, _stop_at(-5)) for p in _prompts()[:2]]
    first = _one_at_a_time(lean, items[:1], None, fast=False)[0][0]
    assert first not in items[0].prompt and first not in items[1].prompt


    def poison(_module, args, out):  # feeding that token makes the step's hidden states NaN (the head is tied)
        return out.masked_fill((args[0] == first)[..., None], float("nan"))

    hook = model.get_input_embeddings().register_forward_hook(poison)
    try:
        with pytest.raises(NonFiniteLogitsError, match="non-finite logits at position 5 ") as exc:
            greedy_batched(lean, items, eos_token_id=None)
    finally:
        hook.remove()
    # The error names the model's first non-finite module (a hook pass) and the caller's index of the request.
    assert "first non-finite output: the embeddings" in str(exc.value)
    assert _one_at_a_time(lean, [items[exc.value.request]], None, fast=False)[0][0] == first


def test_adapter_batches_generate_until_with_the_same_texts(tiny_folder):
    """``generate_until`` in the ``fast`` engine (batched) gives the one-at-a-time ``exact`` engine's texts,
    stop strings cut as lm-eval does."""
    from lm_eval.api.instance import Instance

    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(tiny_folder("elementwise"))), hash_weights=False)
    lm = EvalsuiteLM(loaded.model, loaded.tokenizer, max_length=256)
    free = lm.generate_until([Instance("generate_until", {}, ("Once upon a time", {"max_gen_toks": 8, "until": []}),
                                       0)], disable_tqdm=True)[0]
    stop = free[len(free) // 2: len(free) // 2 + 2]
    args = [("Once upon a time", {"max_gen_toks": 8, "until": [stop]}), ("The quick brown fox", {"max_gen_toks": 5}),
            ("A", {"max_gen_toks": 3, "until": []})]
    requests = [Instance("generate_until", {}, a, i) for i, a in enumerate(args)]
    lm.engine = replace(lm.engine, generation="exact")
    one_at_a_time = lm.generate_until(requests, disable_tqdm=True)
    lm.engine, n_batches = replace(lm.engine, generation="fast"), len(lm.generation_batches)
    batched = lm.generate_until(requests, disable_tqdm=True)
    assert batched == one_at_a_time and batched[0] == free[: free.find(stop)]
    assert [b["live_rows"] for b in lm.generation_batches[n_batches:]] == [3]  # one batch of three rows
    assert len(lm.generation_timings) == 1 + 2 * len(requests)  # a record per request either way


@torch.inference_mode()
def test_the_adapter_passes_pack_tokens_retire_rows_and_decode_split_to_the_batches(tiny_folder, monkeypatch):
    """``pack_tokens``, ``retire_rows`` and ``decode_split`` (engine knobs: lm-eval's ``--model_args`` strings
    here) reach the batched decoder, whose batches record the first two, and the flex mask's kernel options (on
    CPU none, so the options' lookup is watched); the texts are the same."""
    from lm_eval.api.instance import Instance

    from evalsuite.engine import static_cache
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.models.loader import load
    from evalsuite.spec import EngineConfig, SourceSpec

    asked: list[dict] = []
    real = static_cache.flex_decode_options
    monkeypatch.setattr(static_cache, "flex_decode_options",
                        lambda device, **kw: asked.append(kw) or real(device, **kw))
    loaded = load(SourceSpec(path=str(tiny_folder("headwise"))), hash_weights=False)
    args = [("Once upon a time", {"max_gen_toks": 8, "until": []}), ("The quick brown fox", {"max_gen_toks": 3})]
    requests = [Instance("generate_until", {}, a, i) for i, a in enumerate(args)]
    texts, seen, splits = [], [], []
    base = {"generation": "fast", "decode_attention": "flex"}
    for raw in (base, {**base, "pack_tokens": "4096", "retire_rows": "false", "decode_split": "wide"}):
        asked.clear()
        lm = EvalsuiteLM(loaded.model, loaded.tokenizer, EngineConfig.parse(raw, "--model_args", strings=True),
                         max_length=256)
        texts.append(lm.generate_until(requests, disable_tqdm=True))
        seen.append([(b["pack_tokens"], b["retire_rows"], b["prefill_forwards"], b["decode_kernel_options"])
                     for b in lm.generation_batches])
        splits.append({(a["rows"], a["kv_heads"], a["split"]) for a in asked})
    assert texts[0] == texts[1]
    # CPU packs nothing by default (a forward a prompt); 4096 tokens take both prompts in one forward; CPU's
    # unfused flex reference takes no kernel options
    assert seen == [[(0, True, 2, {})], [(4096, False, 1, {})]]
    kv_heads = loaded.model.config.num_key_value_heads
    assert splits == [{(2, kv_heads, "torch")}, {(2, kv_heads, "wide")}]


@torch.inference_mode()
def test_rows_count_the_cache_they_replace_as_free(tiny_folder, monkeypatch):
    """A group is sized with the previous group's cache counted as free memory: ``get`` releases that cache before
    allocating the next. Counted as used, a 128K group after six 64K rows got one row on an 80 GB card (run 6)."""
    lean = LeanDecoder.wrap(_load(tiny_folder("none")))
    held: list[int] = []

    def spy(*args, **kwargs):
        held.append(kwargs["held_bytes"])
        return rows_for(*args, **kwargs)

    monkeypatch.setattr(batch, "rows_for", spy)
    cache = BatchDecodeCache(lean)
    items = [BatchItem(p, 6, _stop_at(-5)) for p in _prompts()]
    greedy_batched(lean, items, eos_token_id=None, cache=cache)
    first = cache.kv.nbytes
    greedy_batched(lean, [BatchItem([*p, *p], 6, _stop_at(-5)) for p in _prompts()], eos_token_id=None, cache=cache)
    assert held == [0, first] and first > 0
    assert rows_for(lean, 4096, longest_prompt=4000, wanted=100, free_bytes=0,
                    held_bytes=int((batch.prefill_workspace_bytes(lean, 4000) + 2.5 * batch.row_bytes(lean, 4096))
                                   / batch.MEMORY_FRACTION)) == 2


def _shared_prompts() -> list[list[int]]:
    """Prompts that open alike (a 400-token stem cut at several depths, as RULER's haystacks are cut at the
    needle), one that shares nothing, one that shares fewer than MIN_SHARED_PREFIX tokens."""
    g = torch.Generator().manual_seed(7)
    stem = torch.randint(3, 40000, (400,), generator=g).tolist()
    tail = lambda n: torch.randint(3, 40000, (n,), generator=g).tolist()  # noqa: E731
    # stem[:100] + [0] sorts before every other stem prompt: its 100 shared tokens never stand between two others
    return [stem[:300] + tail(40), stem + tail(30), stem[:260] + tail(70), tail(350), stem + tail(12),
            stem[:100] + [0] + tail(200), stem[:330] + tail(5)]


def _lcp(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@pytest.mark.parametrize("rows", [1, 3])
@torch.inference_mode()
def test_shared_prefixes_are_prefilled_once_with_the_same_tokens(lean, rows):
    """Prompts in token order, each reusing the K/V of the longest prefix a held row shares (at least
    MIN_SHARED_PREFIX tokens; in place with one row, copied between rows with three, across batches too): the
    one-at-a-time decoder's tokens, and exactly the shareable tokens skipped."""
    items = [BatchItem(p, 7, _stop_at(-5)) for p in _shared_prompts()]
    exact = _one_at_a_time(lean, items, None, fast=False)
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, max_rows=rows, share_prefix=True, timings=timings)
    assert got == exact
    ordered = sorted(it.prompt for it in items)
    shareable = [_lcp(a, b) for a, b in zip(ordered, ordered[1:])]  # token order: the best earlier prompt is the last
    expected = sum(n for n in shareable if n >= batch.MIN_SHARED_PREFIX)
    assert expected == 260 + 300 + 330 + 400  # where the stem's prompts part: 4 of the 7 prompts reuse a prefix
    assert sum(t["shared_prefix_tokens"] for t in timings) == expected
    assert sum(t["prompt_tokens"] for t in timings) == sum(len(it.prompt) for it in items)
    unshared: list[dict] = []
    assert greedy_batched(lean, items, eos_token_id=None, max_rows=rows, timings=unshared) == exact
    assert sum(t["shared_prefix_tokens"] for t in unshared) == 0


@torch.inference_mode()
def test_a_row_that_decoded_no_request_is_never_a_prefix_source(tiny_folder):
    """The last batch's rows past its requests decode from position 0, over whatever prompt they held: a later
    call on the same cache must not copy that prompt's prefix from them."""
    lean = LeanDecoder.wrap(_load(tiny_folder("headwise")))
    g = torch.Generator().manual_seed(3)
    rand = lambda n: torch.randint(3, 40000, (n,), generator=g).tolist()  # noqa: E731
    stem = rand(300)
    # Token order puts the stem's prompt (first token stem[0]) in row 1 of batch one, then z alone in row 0 of
    # batch two, row 1 decoding no request.
    a, b, z = [1, *rand(320)], [2, *stem, *rand(20)], [40001, *rand(320)]
    cache = BatchDecodeCache(lean)
    first = greedy_batched(lean, [BatchItem(p, 9, _stop_at(-5)) for p in (a, b, z)], eos_token_id=None,
                           max_rows=2, cache=cache, share_prefix=True)
    assert cache.held[1] is None and cache.held[0] is not None
    # The same cache shape: q opens with b's prefix, which row 1 held before it decoded from position 0.
    q, filler = [2, *stem, *rand(10)], [40002, *rand(320)]
    items = [BatchItem(p, 9, _stop_at(-5)) for p in (q, filler)]
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, max_rows=2, cache=cache, share_prefix=True, timings=timings)
    assert (timings[0]["rows"], timings[0]["capacity"]) == (cache.kv.rows, cache.kv.capacity)  # the cache reused
    assert timings[0]["shared_prefix_tokens"] == 0
    assert got == _one_at_a_time(lean, items, None, fast=False)
    assert first == _one_at_a_time(lean, [BatchItem(p, 9, _stop_at(-5)) for p in (a, b, z)], None, fast=False)


def test_generate_until_encodes_its_prompts_as_tok_encode_does(tiny_folder, monkeypatch):
    """The prompts go to the decoder as lm-eval's ``tok_encode`` gives them, encoded in one batched call: a context
    that opens with the BOS text, one repeated, unicode and trailing whitespace alike."""
    from lm_eval.api.instance import Instance

    from evalsuite.engine import lm as lm_module
    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(tiny_folder("none"))), hash_weights=False)
    lm = EvalsuiteLM(loaded.model, loaded.tokenizer, max_length=256)
    bos = loaded.tokenizer.decode(lm.prefix_token_id)
    contexts = ["Once upon a time", f"{bos}The quick brown fox", "naïve café — déjà vu\n\n", "Once upon a time",
                "  leading and trailing  "]
    seen: list[list[int]] = []

    def capture(model, tokenizer, requests, **kwargs):
        seen.extend(list(r.prompt_tokens) for r in requests)
        return [[] for _ in requests]

    expected = [lm.tok_encode(c) for c in contexts]

    def one_at_a_time(*args, **kwargs):
        raise AssertionError("a prompt encoded alone")

    monkeypatch.setattr(lm_module, "greedy_generate_batch", capture)
    monkeypatch.setattr(lm, "tok_encode", one_at_a_time)
    lm.engine = replace(lm.engine, generation="fast")
    lm.generate_until([Instance("generate_until", {}, (c, {"max_gen_toks": 4}), i) for i, c in enumerate(contexts)],
                      disable_tqdm=True)
    assert seen == expected


@pytest.mark.parametrize("rows", [3, 7])
@torch.inference_mode()
def test_prompts_prefilled_together_give_the_same_tokens(lean, rows):
    """pack_tokens: whole prompts share one right-padded forward (as on CUDA): the one-at-a-time decoder's
    tokens, in fewer forwards than prompts, and no more than pack_tokens padded tokens a forward."""
    items, eos = _items_with_stops(lean)
    exact = _one_at_a_time(lean, items, eos, fast=False)
    alone: list[dict] = []
    assert greedy_batched(lean, items, eos_token_id=eos, max_rows=rows, pack_tokens=0, timings=alone) == exact
    assert sum(t["prefill_forwards"] for t in alone) == len(items)
    packed: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=eos, max_rows=rows, pack_tokens=180, timings=packed)
    assert got == exact
    assert sum(t["prefill_forwards"] for t in packed) < len(items)


@torch.inference_mode()
def test_prompts_that_fit_a_pack_are_packed_and_longer_ones_share_prefixes(lean):
    """With share_prefix and pack_tokens, a prompt of at most pack_tokens / 2 tokens is packed and copies no
    prefix; the longer ones still copy what they share (here the two 400-token stem prompts): the one-at-a-time
    decoder's tokens either way."""
    items = [BatchItem(p, 7, _stop_at(-5)) for p in _shared_prompts()]
    exact = _one_at_a_time(lean, items, None, fast=False)
    timings: list[dict] = []
    got = greedy_batched(lean, items, eos_token_id=None, max_rows=7, share_prefix=True, pack_tokens=800,
                         timings=timings)
    assert got == exact
    assert sorted(len(it.prompt) for it in items)[-2:] == [412, 430]  # the two too long to pack
    assert timings[0]["shared_prefix_tokens"] == 400
    assert timings[0]["prefill_forwards"] < len(items)


@torch.inference_mode()
def test_prefill_rows_writes_each_prompt_as_its_own_prefill_does(lean):
    """prefill_rows: each right-padded prompt's K/V (its own length only) and last logits equal prefill's."""
    from evalsuite.engine.decode import prefill, prefill_rows
    from evalsuite.engine.static_cache import StaticKV

    prompts = [p[:n] for p, n in zip(_prompts(), (5, 60, 33))]
    alone = StaticKV(lean, 128, 3)
    want = torch.cat([prefill(lean, alone, torch.tensor([p]), fast=True, row=r) for r, p in enumerate(prompts)])
    padded = torch.zeros((3, 60), dtype=torch.long)
    for j, p in enumerate(prompts):
        padded[j, :len(p)] = torch.tensor(p)
    together = StaticKV(lean, 128, 3)
    rows = [2, 0, 1]  # prompt j into row rows[j]
    got = prefill_rows(lean, together, padded, [len(p) for p in prompts], rows)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)  # fp32: the GEMMs of other shapes round apart
    for j, p in enumerate(prompts):
        for cache_a, cache_b in ((alone.k, together.k), (alone.v, together.v)):
            for a, b in zip(cache_a, cache_b):
                torch.testing.assert_close(b[rows[j], :, :len(p)], a[j, :, :len(p)], rtol=1e-4, atol=1e-4)
                assert not b[rows[j], :, len(p):].any()  # the padding's K/V are not written


@torch.inference_mode()
def test_no_prefix_is_shared_where_the_prefill_kernel_is_not_a_share_kernel(tiny_folder, monkeypatch):
    """SHARE_KERNELS: where the prefill's causal kernel is not one of them (cuDNN on CUDA: its suffix would run on
    a slower kernel), share_prefix copies nothing; the tokens are the one-at-a-time decoder's."""
    lean = LeanDecoder.wrap(_load(tiny_folder("elementwise")))
    items = [BatchItem(p, 7, _stop_at(-5)) for p in _shared_prompts()]
    exact = _one_at_a_time(lean, items, None, fast=False)
    shared: list[dict] = []
    assert greedy_batched(lean, items, eos_token_id=None, max_rows=3, share_prefix=True, timings=shared) == exact
    assert sum(t["shared_prefix_tokens"] for t in shared) > 0  # CPU's kernel is SDPA, a share kernel
    monkeypatch.setattr(batch, "SHARE_KERNELS", ("fa4",))
    unshared: list[dict] = []
    assert greedy_batched(lean, items, eos_token_id=None, max_rows=3, share_prefix=True, timings=unshared) == exact
    assert sum(t["shared_prefix_tokens"] for t in unshared) == 0


@torch.inference_mode()
def test_the_kernel_is_chosen_before_any_batch_is_timed(tiny_folder, monkeypatch):
    """The first kernel choice of a process runs its check (FlashAttention-4's: ~5.5 s on an H100, run 11). It is
    made before the batches' clocks start, with share_prefix off too, so no first prefill carries it: a priced
    unit counts it once (``kernel_check_s``), not as a prefill that scales with the rows."""
    import time

    from evalsuite.engine import kernels

    lean = LeanDecoder.wrap(_load(tiny_folder("headwise")))
    choose = kernels.causal_backend
    checked: list[int] = []

    def slow_first_choice(device, choice="auto"):
        if not checked:
            time.sleep(1.0)  # the check, once
        checked.append(1)
        return choose(device, choice)

    monkeypatch.setattr(kernels, "causal_backend", slow_first_choice)
    timings: list[dict] = []
    items = [BatchItem(p, 3, _stop_at(-5)) for p in _prompts()[:3]]
    greedy_batched(lean, items, eos_token_id=None, max_rows=3, share_prefix=False, timings=timings)
    assert checked and all(t["setup_s"] + t["prefill_s"] + t["decode_s"] < 1.0 for t in timings)


@torch.inference_mode()
@pytest.mark.parametrize("retire", [True, False])
def test_a_finished_row_reads_one_block_of_its_cache(tiny_folder, monkeypatch, retire):
    """With flex attention a row that is done (its max_new_tokens, EOS, a stop string) visits block 0 from the next
    step on, where the device ends it, or within the steps already queued when the host sees it end; the tokens
    are the one-at-a-time decoder's either way, and ``decode_row_steps`` counts the steps that read a cache."""
    from evalsuite.engine import static_cache

    lean = LeanDecoder.wrap(_load(tiny_folder("elementwise")))
    prompts = [torch.randint(3, 40000, (n,), generator=torch.Generator().manual_seed(n)).tolist()
               for n in (300, 420, 260, 390)]
    never = _stop_at(-5)
    items = [BatchItem(p, m, never) for p, m in zip(prompts, (30, 4, 30, 30))]
    items[2] = BatchItem(prompts[2], 30, lambda tokens: len(tokens) == 6)  # a stop check, seen on the host
    exact = _one_at_a_time(lean, items, None, fast=False)
    assert [len(t) for t in exact] == [30, 4, 6, 30]
    blocks: list[list[int]] = []
    attend = static_cache.flex_decode_attention

    def seen(q, keys, values, mask, scale, **kw):
        blocks.append(mask.kv_num_blocks.view(-1).tolist())
        return attend(q, keys, values, mask, scale, **kw)

    monkeypatch.setattr(static_cache, "flex_decode_attention", seen)
    timings: list[dict] = []
    cache = BatchDecodeCache(lean, decode_attention="flex")
    cache.get(4, 512)  # built (its warm-up steps run) before the batch: what is recorded below is the batch's
    blocks.clear()
    assert greedy_batched(lean, items, eos_token_id=None, max_rows=4, decode_attention="flex", cache=cache,
                          retire_rows=retire, timings=timings) == exact
    assert len(blocks) == 29 * lean.n_layers and timings[0]["decode_steps"] == 29
    steps = blocks[::lean.n_layers]  # a step's blocks, as its first layer reads them
    # rows in prompt-length order: 420 (4 tokens), 390, 300, 260 (stopped at 6)
    full = [[(n + k) // 128 + 1 for n in (420, 390, 300, 260)] for k in range(29)]
    if not retire:
        assert steps == full and timings[0]["decode_row_steps"] == 4 * 29
        return
    assert [s[0] for s in steps] == [f if k < 3 else 1 for k, f in enumerate(r[0] for r in full)]
    assert [s[1] for s in steps] == [r[1] for r in full] and [s[2] for s in steps] == [r[2] for r in full]
    host = [k for k, s in enumerate(steps) if s[3] == 1]  # the stop check ended row 3 on the host
    assert host and host == list(range(host[0], 29)) and 5 <= host[0] <= 5 + 2 * batch.SYNC_EVERY
    assert timings[0]["decode_row_steps"] == 3 + 29 + 29 + host[0]
