"""``truncation: left`` reproduces stock hf's left cut per sample; the default still refuses."""

from __future__ import annotations

import pytest

from evalsuite.lab.parity import run_parity
from evalsuite.models.builtin import ZOO_DIR
from evalsuite.spec import EngineConfig
from evalsuite.errors import SpecError

MAX_LENGTH = 192  # 5-shot MMLU prompts are ~400-900 tokens: every item is cut


@pytest.fixture(scope="module")
def tiny():
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(ZOO_DIR / "tiny-baseline")), dtype="float32", device="cpu",
                  hash_weights=False)
    return loaded.model, loaded.tokenizer


def test_left_truncation_equals_stock_hf_per_sample(tiny, real_data_dir):
    model, tok = tiny
    (row,) = run_parity(model, tok, tasks={"es_mmlu_anatomy": (4, 5)}, data_dir=real_data_dir,
                        max_length=MAX_LENGTH, truncation="left")
    assert row.n_logliks == 16 and row.n_outside_tolerance == 0 and row.decisions_identical, row
    assert row.max_abs_delta <= 1e-4


def test_the_default_refuses_and_left_flags_each_cut_sample(tiny, real_data_dir):
    from lm_eval.tasks import TaskManager

    from evalsuite.engine.lm import EvalsuiteLM
    from evalsuite.errors import ContextLengthError
    from evalsuite.run.unit_eval import run_lm_eval
    from evalsuite.run.runner import TASKS_DIR

    model, tok = tiny
    tm = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"data_dir": str(real_data_dir)})
    refuse = EvalsuiteLM(model, tok, max_length=MAX_LENGTH)
    with pytest.raises(ContextLengthError, match="instead of truncating"):
        run_lm_eval(refuse, task="es_mmlu_anatomy", task_manager=tm, shots=5, limit=2, seed=1234)
    left = EvalsuiteLM(model, tok, EngineConfig(truncation="left"), max_length=MAX_LENGTH)
    out = run_lm_eval(left, task="es_mmlu_anatomy", task_manager=tm, shots=5, limit=2, seed=1234)
    assert all(s.scores["truncated_tokens"] > 0 for s in out.samples)
    short = run_lm_eval(left, task="es_mmlu_anatomy", task_manager=tm, shots=0, limit=2, seed=1234)
    assert not any("truncated_tokens" in s.scores for s in short.samples)  # flags are per unit and per item


def test_left_truncation_of_a_generation_prompt_keeps_its_last_tokens(tiny):
    from lm_eval.api.instance import Instance

    from evalsuite.engine.lm import EvalsuiteLM

    model, tok = tiny
    lm = EvalsuiteLM(model, tok, EngineConfig(truncation="left"), max_length=64)
    prompt = " ".join(f"word{i}" for i in range(200))
    req = Instance("generate_until", {}, (prompt, {"until": ["\n"], "max_gen_toks": 8}), 0)
    lm.generate_until([req])
    n_prompt = len(lm.tok_encode(prompt))
    assert lm.truncated_tokens[prompt] == n_prompt - (64 - 8)  # stock's left_truncate_len = max_length - max_gen


def test_an_unknown_truncation_is_refused(tiny):
    from evalsuite.engine.lm import EvalsuiteLM

    with pytest.raises(SpecError, match="--model_args.truncation: must be one of refuse, left, found 'right'"):
        EvalsuiteLM.from_model_args({"pretrained": tiny[0], "tokenizer": tiny[1], "truncation": "right"})


def _unit_model_info(model, entry: dict | None = None, *, on_cuda: bool | None = None) -> dict:
    """What a unit of model entry ``{"name": "m", "source": "/x", **entry}`` puts in its hash; ``on_cuda``: the LM's
    engine resolved for that device (None: an LM without one)."""
    from types import SimpleNamespace

    from evalsuite.run.runner import _model_info
    from evalsuite.spec import parse_suite

    spec = parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", **(entry or {})}],
                        "tasks": ["es_mmlu"]}).models[0]
    loaded = SimpleNamespace(model=model, kind="hf", weights_sha256="x")
    lm = (SimpleNamespace(max_length=MAX_LENGTH, scoring=None) if on_cuda is None else
          SimpleNamespace(max_length=MAX_LENGTH, engine=spec.engine.resolved(on_cuda=on_cuda)))
    return _model_info(spec, loaded, lm)


def test_the_unit_records_left_truncation_and_its_default_keeps_the_hash(tiny):
    default = _unit_model_info(tiny[0])
    assert "truncation" not in default  # so every existing unit hash (and the CI reference) stays valid
    assert _unit_model_info(tiny[0], {"truncation": "left"}) == {**default, "truncation": "left"}


def test_the_cuda_default_tree_attention_enters_the_hash_and_the_cpu_one_does_not(tiny):
    from evalsuite.spec import EngineConfig

    model, _ = tiny
    assert "tree_attention" not in _unit_model_info(model, on_cuda=False)  # CPU: the dense mask; the CI reference holds
    assert _unit_model_info(model, on_cuda=True)["tree_attention"] == "auto"  # CUDA: the block mask (bf16 scores)
    assert "tree_attention" not in _unit_model_info(model, {"tree_attention": "sdpa"}, on_cuda=True)  # the old default
    assert _unit_model_info(model, {"tree_attention": "flex"}, on_cuda=False)["tree_attention"] == "flex"
    assert EngineConfig().tree_attention is None
    for knob in ("decode_attention", "compile_prefill"):  # the generation defaults since run 6, alike
        assert knob not in _unit_model_info(model, on_cuda=False)
        assert _unit_model_info(model, on_cuda=True)[knob] == "auto"


def test_the_generation_knobs_enter_the_hash_only_when_set(tiny):
    default = _unit_model_info(tiny[0])
    assert "decode_attention" not in default and "compile_prefill" not in default  # every unit hash stays valid
    assert _unit_model_info(tiny[0], {"decode_attention": "flex", "compile_prefill": False}) == {
        **default, "decode_attention": "flex", "compile_prefill": False}


def test_shared_prefixes_enter_the_hash_where_generation_batches(tiny):
    """``share_prefix``'s default is recorded as "auto" only where it takes effect (batched generation: CUDA's fast
    decoder), so CPU units (the exact decoder, one at a time) keep their hashes; set, it is recorded as set."""
    model, _ = tiny
    assert "share_prefix" not in _unit_model_info(model)
    assert "share_prefix" not in _unit_model_info(model, on_cuda=False)  # CPU: exact, never batched
    assert _unit_model_info(model, on_cuda=True)["share_prefix"] == "auto"
    assert "share_prefix" not in _unit_model_info(model, {"generation": "exact"}, on_cuda=True)
    assert _unit_model_info(model, {"generation": "fast"}, on_cuda=False)["share_prefix"] == "auto"
    assert _unit_model_info(model, {"share_prefix": False}, on_cuda=True)["share_prefix"] is False
