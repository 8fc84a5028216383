"""The packed, shared-prefix scorer equals plain one-request-at-a-time scoring."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from evalsuite.errors import ContextLengthError
from evalsuite.engine.loglikelihood import score_requests
from evalsuite.spec import EngineConfig


@torch.no_grad()
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


@pytest.mark.parametrize("cfg", [EngineConfig(batch_tokens=64, row_tokens=64),
                                 EngineConfig(batch_tokens=4096, row_tokens=512, lm_head_chunk=7)])
def test_packed_scoring_equals_naive(model, cfg):
    reqs = _requests(0)
    got = score_requests(model, reqs, max_length=256, pad_id=0, engine=cfg)
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


# -- the prefix tree ---------------------------------------------------------------------------------
def _visible_prefix(batch, flat_index):
    """Tokens and positions a scored query attends to under the ancestor mask k <= q < end[k]."""
    row, q = divmod(int(flat_index), batch.input_ids.shape[1])
    keys = [k for k in range(q + 1) if q < batch.end[row, k]]
    return batch.input_ids[row, keys].tolist(), batch.position_ids[row, keys].tolist()


@pytest.mark.parametrize("seed", range(40))
def test_tree_rows_show_each_scored_token_exactly_its_input_prefix(seed):
    import random

    from evalsuite.engine.request_tree import build_plan

    rng = random.Random(seed)
    vocab = rng.choice([2, 3, 50])
    base = [rng.randrange(vocab) for _ in range(rng.randrange(1, 90))]
    reqs = []
    for _ in range(rng.randrange(1, 25)):
        ctx = base[:rng.randrange(1, len(base) + 1)] + [rng.randrange(vocab) for _ in range(rng.randrange(0, 6))]
        reqs.append((ctx, [rng.randrange(vocab) for _ in range(rng.randrange(1, 6))]))
    plan = build_plan(reqs, capacity=rng.choice([1, 16, 64, 200]), batch_tokens=rng.choice([1, 64, 1000]),
                      max_length=10_000)
    seen: dict[int, set[int]] = {}
    for batch in plan.batches():
        for fi, target, r in zip(batch.flat_index, batch.target, batch.request):
            tokens, positions = _visible_prefix(batch, fi)
            ctx, cont = reqs[r]
            d = len(tokens) - 1
            assert positions == list(range(d + 1))
            assert tokens == (ctx + cont[:-1])[:d + 1]
            assert cont[d - (len(ctx) - 1)] == target
            seen.setdefault(int(r), set()).add(d)
    assert {r: len(s) for r, s in seen.items()} == {r: len(c) for r, (_, c) in enumerate(reqs)}


@pytest.mark.parametrize("seed", range(20))
def test_unshared_plan_gives_every_sequence_a_plain_row_of_its_own(seed):
    """share=False (hybrid models): each row holds exactly one whole input sequence from position 0."""
    import random

    from evalsuite.engine.request_tree import build_plan

    rng = random.Random(seed)
    base = [rng.randrange(3) for _ in range(rng.randrange(1, 60))]
    reqs = [(base[:rng.randrange(1, len(base) + 1)] + [rng.randrange(3)], [rng.randrange(3) for _ in range(rng.randrange(1, 4))])
            for _ in range(rng.randrange(1, 15))]
    plan = build_plan(reqs, capacity=16, batch_tokens=rng.choice([1, 64, 1000]), max_length=10_000, align=1, share=False)
    sequences = {tuple(c + x[:-1]) for c, x in reqs}
    n_rows, owners = 0, {}
    for i, batch in enumerate(plan.batches()):
        assert batch.chain
        n_rows += batch.input_ids.shape[0]
        for fi, target, r in zip(batch.flat_index, batch.target, batch.request):
            ctx, cont = reqs[r]
            row, q = divmod(int(fi), batch.input_ids.shape[1])
            assert batch.input_ids[row, :q + 1].tolist() == (ctx + cont[:-1])[:q + 1]  # the whole prefix, unmasked
            assert batch.position_ids[row, :q + 1].tolist() == list(range(q + 1))
            assert cont[q - (len(ctx) - 1)] == target
            owners.setdefault((i, row), set()).add(tuple(ctx + cont[:-1]))
    assert n_rows == len(sequences)
    assert all(len(seqs) == 1 for seqs in owners.values())  # no row holds two sequences
    assert plan.stats.unique_tokens == sum(len(s) for s in sequences)


def test_shared_prefix_is_laid_out_once_per_row_and_windows_stay_unmasked():
    from evalsuite.engine.request_tree import build_plan

    prefix = list(range(100, 400))  # an MMLU-like 5-shot block
    mmlu = [(prefix + [q, q + 1], [7]) for q in range(20)]
    plan = build_plan(mmlu, capacity=1024, batch_tokens=4096, max_length=4096)
    assert plan.stats.unique_tokens == 300 + 2 * 20 and plan.stats.row_tokens == plan.stats.unique_tokens
    assert plan.stats.input_tokens == 20 * 302
    windows = [([0], list(range(1, n))) for n in (500, 120, 60)]  # rolling windows sharing the BOS
    assert all(b.chain for b in build_plan(windows, capacity=512, batch_tokens=4096, max_length=512).batches())


def test_hf_engine_gives_the_same_numbers(model):
    reqs = _requests(1)
    lean = score_requests(model, reqs, max_length=256, pad_id=0)
    hf = score_requests(model, reqs, max_length=256, pad_id=0, engine=EngineConfig(forward="hf"))
    for (a, ga), (b, gb) in zip(lean, hf):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb  # eager vs SDPA kernels: fp32 rounding


# -- lm-eval's pair encoding, batched ------------------------------------------------------------------
def _stock_pairs(tokenizer, pairs):
    from lm_eval.models.huggingface import HFLM

    ref = HFLM.__new__(HFLM)  # only the tokenisation methods are used
    ref.tokenizer, ref.add_bos_token, ref.custom_prefix_token_id, ref.backend = tokenizer, None, None, "causal"
    out = []
    for c, x in pairs:
        if c == "":
            xe = ref.tok_encode(x, add_special_tokens=False)
            out.append(([ref.prefix_token_id], xe) if ref.prefix_token_id != xe[0] else (xe[:1], xe[1:]))
        else:
            out.append(ref._encode_pair(c, x))
    return out, ref.prefix_token_id


def _real_pairs(data_dir):
    from evalsuite.families.hellaswag import read_hellaswag
    from evalsuite.families.mmlu import read_mmlu

    def fmt(r):
        c = r["choices"]
        return f"{r['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:"

    pairs = []
    for subject in ("anatomy", "professional_law"):
        shots = "".join(fmt(r) + " " + "ABCD"[r["answer"]] + "\n\n" for r in read_mmlu(data_dir, subject, "dev"))
        for r in read_mmlu(data_dir, subject, "test")[:25]:
            pairs += [(f"About {subject}.\n\n" + shots + fmt(r), " " + x) for x in "ABCD"]
    for d in read_hellaswag(data_dir / "hellaswag" / "hellaswag_val.jsonl")[:60]:
        pairs += [(d["activity_label"] + ": " + d["ctx"], " " + e) for e in d["endings"]]
    tricky = [("Hello  ", "world"), ("a\n\n", "b"), ("x", " y"), ("x", "y"), ("", "Hello"), ("", " Hello"),
              ("<|im_start|>hi", " there"), ("It's", "'s"), ("num 12", "34"), ("tab\t", "\tz"), ("q:", "\n\nA"),
              ("emoji \U0001F600", " \U0001F600x"), ("a  b", "  c"), ("end.", " \u00a0x"), ("x" * 300 + " y", " z")]
    return pairs + tricky + [(("shared prefix " * 40) + f"tail {i} ", f" c{i}") for i in range(10)]


@pytest.mark.parametrize("kind", ["smollm2", "bytes"])
def test_pair_encoder_equals_lm_eval_encode_pair(kind, real_data_dir, tmp_path):
    from transformers import AutoTokenizer

    from evalsuite.engine.encode import EncodeStats, PairEncoder
    from evalsuite.models.tiny import _byte_tokenizer, smollm2_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir()) if kind == "smollm2" else _byte_tokenizer()
    pairs = _real_pairs(real_data_dir)
    expected, prefix = _stock_pairs(tok, pairs)
    enc = PairEncoder(tok, add_bos_token=None, prefix_token_id=prefix)
    stats = EncodeStats()
    got = enc.encode_pairs(pairs, stats)
    assert [(list(c), list(x)) for c, x in got] == [(list(c), list(x)) for c, x in expected]
    assert stats.cut_enabled == (kind == "smollm2") and not stats.notes
    if kind == "smollm2":
        assert stats.cut_contexts >= 50 and stats.chars_encoded < stats.chars_stock / 5


def test_template_cache_renders_what_lm_eval_renders():
    from lm_eval import utils as lm_utils

    from evalsuite.engine import lmeval_templates as templates

    doc = {"question": " Why? ", "choices": ["a", "b", "c", "d"]}
    tpl = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nAnswer:"
    with templates.stock_templates():
        assert not templates.installed()
        want = lm_utils.apply_template(tpl, doc)
    templates.install()
    assert templates.installed() and lm_utils.apply_template(tpl, doc) == want


def test_env_info_collection_is_skipped_only_for_our_path():
    from lm_eval import evaluator as lm_evaluator

    from evalsuite.engine import lmeval_templates as templates

    templates.install()
    results: dict = {}
    lm_evaluator.add_env_info(results)  # ours: no subprocesses, an explicit note instead
    assert results["pretty_env_info"].startswith("not collected")
    with templates.stock_templates():
        assert lm_evaluator.add_env_info is templates._ORIGINAL_ENV_INFO
    assert lm_evaluator.add_env_info is not templates._ORIGINAL_ENV_INFO


def test_compiled_scoring_gives_the_same_numbers(model):
    """EngineConfig(compile_scoring=True): the layers' pure halves through torch.compile (dynamic shapes, one
    compilation for every layer and batch shape) score like the eager layers (fp32, CPU)."""
    from evalsuite.engine.loglikelihood import ScoringStats

    reqs = _requests(3)
    eager = score_requests(model, reqs, max_length=512, pad_id=0, engine=EngineConfig(batch_tokens=64, row_tokens=64))
    stats: list[ScoringStats] = []
    compiled = score_requests(model, reqs, max_length=512, pad_id=0,
                              engine=EngineConfig(batch_tokens=64, row_tokens=64, compile_scoring=True), stats_out=stats)
    assert stats[0].engine == "lean+compiled" and stats[0].batches > 1 and not stats[0].notes
    for (a, ga), (b, gb) in zip(eager, compiled, strict=True):
        assert abs(a - b) < 1e-4 and ga == gb


def test_compiled_scoring_falls_back_to_eager(model, monkeypatch):
    from evalsuite.engine import forward as lean_module
    from evalsuite.engine.loglikelihood import ScoringStats

    def broken(*args, **kwargs):
        raise RuntimeError("inductor cannot lower this")

    monkeypatch.setattr(lean_module, "compiled_halves", lambda: (broken, broken))
    reqs = _requests(4)
    stats: list[ScoringStats] = []
    got = score_requests(model, reqs, max_length=512, pad_id=0, engine=EngineConfig(compile_scoring=True), stats_out=stats)
    assert got == score_requests(model, reqs, max_length=512, pad_id=0)
    assert stats[0].engine == "lean (compile failed)" and "inductor cannot lower this" in stats[0].notes[0]


def test_compiled_lm_head_falls_back_to_eager(model, monkeypatch):
    """The compiled log-softmax + gather of the LM head (compile=True) is an optimisation: if inductor fails on
    it, the batch is scored by the eager head, with a note, and the layers stay compiled."""
    import evalsuite.engine.loglikelihood as scoring
    from evalsuite.engine.loglikelihood import ScoringStats

    def broken():
        def pick(*args):
            raise RuntimeError("no lowering for this reduction")
        return pick

    monkeypatch.setattr(scoring, "_compiled_pick", broken)
    reqs = _requests(5)
    stats: list[ScoringStats] = []
    got = score_requests(model, reqs, max_length=512, pad_id=0,
                         engine=EngineConfig(batch_tokens=64, row_tokens=64, compile_scoring=True), stats_out=stats)
    ref = score_requests(model, reqs, max_length=512, pad_id=0, engine=EngineConfig(batch_tokens=64, row_tokens=64))
    assert stats[0].engine == "lean+compiled" and "no lowering for this reduction" in stats[0].notes[0]
    for (a, ga), (b, gb) in zip(ref, got, strict=True):
        assert abs(a - b) < 1e-4 and ga == gb


@pytest.mark.parametrize("cfg", [EngineConfig(batch_tokens=64, row_tokens=64, tree_attention="flex"),
                                 EngineConfig(batch_tokens=4096, row_tokens=512, tree_attention="flex"),
                                 EngineConfig(batch_tokens=64, row_tokens=64, tree_attention="flex", compile_scoring=True)])
def test_flex_tree_attention_equals_the_dense_mask(model, cfg):
    """Packed rows through FlexAttention with a block mask (empty blocks skipped) score like the dense mask."""
    from evalsuite.engine.loglikelihood import ScoringStats

    reqs = _requests(6)
    stats: list[ScoringStats] = []
    got = score_requests(model, reqs, max_length=256, pad_id=0, engine=cfg, stats_out=stats)
    if stats[0].engine == "hf":
        return  # transformers' decoder (eager attention) takes the dense mask whatever the config
    assert stats[0].engine.endswith("tree rows: flex")
    ref = score_requests(model, reqs, max_length=256, pad_id=0,
                         engine=replace(cfg, tree_attention="sdpa", compile_scoring=False))
    for (a, ga), (b, gb) in zip(ref, got, strict=True):
        assert abs(a - b) < 1e-4 and ga == gb


def test_flex_tree_attention_falls_back_to_the_dense_mask(model, monkeypatch):
    from evalsuite.engine import kernels

    def broken(*args, **kwargs):
        raise RuntimeError("no flex kernel for this shape")

    monkeypatch.setattr(kernels, "DISABLED", set())
    monkeypatch.setattr(kernels, "tree_flex", broken)
    reqs = _requests(7)
    cfg = EngineConfig(batch_tokens=4096, row_tokens=512)
    got = score_requests(model, reqs, max_length=256, pad_id=0, engine=replace(cfg, tree_attention="flex"))
    assert got == score_requests(model, reqs, max_length=256, pad_id=0, engine=cfg)
    if model.config._attn_implementation == "sdpa":
        assert "flex" in kernels.DISABLED
