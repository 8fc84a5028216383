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


def test_the_unit_records_left_truncation_and_its_default_keeps_the_hash(tiny):
    from types import SimpleNamespace

    from evalsuite.run.runner import _model_info
    from evalsuite.spec import parse_suite

    model, _ = tiny
    loaded = SimpleNamespace(model=model, kind="hf", weights_sha256="x")
    lm = SimpleNamespace(max_length=MAX_LENGTH, scoring=None)
    spec = {"name": "s", "models": [{"name": "m", "source": "/x"}], "tasks": ["es_mmlu"]}
    default = _model_info(parse_suite(spec).models[0], loaded, lm)
    assert "truncation" not in default  # so every existing unit hash (and the CI reference) stays valid
    spec["models"][0]["truncation"] = "left"
    assert _model_info(parse_suite(spec).models[0], loaded, lm) == {**default, "truncation": "left"}


def test_the_cuda_default_tree_attention_enters_the_hash_and_the_cpu_one_does_not(tiny):
    from types import SimpleNamespace

    from evalsuite.run.runner import _model_info
    from evalsuite.spec import EngineConfig, parse_suite

    model, _ = tiny
    loaded = SimpleNamespace(model=model, kind="hf", weights_sha256="x")
    spec = {"name": "s", "models": [{"name": "m", "source": "/x"}], "tasks": ["es_mmlu"]}

    def info(entry, on_cuda: bool):
        lm = SimpleNamespace(max_length=MAX_LENGTH, engine=entry.engine.resolved(on_cuda=on_cuda))
        return _model_info(entry, loaded, lm)

    default = parse_suite(spec).models[0]
    assert "tree_attention" not in info(default, False)  # CPU: the dense mask, as before; the CI reference holds
    assert info(default, True)["tree_attention"] == "auto"  # CUDA: the block mask by default (scores within bf16)
    spec["models"][0]["tree_attention"] = "sdpa"
    assert "tree_attention" not in info(parse_suite(spec).models[0], True)  # the old CUDA default, its old hash
    spec["models"][0]["tree_attention"] = "flex"
    assert info(parse_suite(spec).models[0], False)["tree_attention"] == "flex"
    assert EngineConfig().tree_attention is None
    for knob in ("decode_attention", "compile_prefill"):  # the generation defaults since run 6, alike
        assert knob not in info(default, False)
        assert info(default, True)[knob] == "auto"


def test_the_generation_knobs_enter_the_hash_only_when_set(tiny):
    from types import SimpleNamespace

    from evalsuite.run.runner import _model_info
    from evalsuite.spec import parse_suite

    model, _ = tiny
    loaded = SimpleNamespace(model=model, kind="hf", weights_sha256="x")
    lm = SimpleNamespace(max_length=MAX_LENGTH, scoring=None)
    spec = {"name": "s", "models": [{"name": "m", "source": "/x"}], "tasks": ["es_mmlu"]}
    default = _model_info(parse_suite(spec).models[0], loaded, lm)
    assert "decode_attention" not in default and "compile_prefill" not in default  # every unit hash stays valid
    spec["models"][0].update(decode_attention="flex", compile_prefill=False)
    assert _model_info(parse_suite(spec).models[0], loaded, lm) == {**default, "decode_attention": "flex",
                                                                    "compile_prefill": False}
