"""EngineConfig: one validation for the suite's engine keys and lm-eval's --model_args strings."""

from __future__ import annotations

import pytest

from evalsuite.errors import SpecError
from evalsuite.spec import EngineConfig, parse_suite


def test_model_args_strings_are_read_once_into_typed_fields():
    got = EngineConfig.parse({"compile_scoring": "True", "batch_tokens": "4096", "generation_rows": "1",
                              "attention": "flash", "check_finite": 0}, "--model_args", strings=True)
    assert got == EngineConfig(compile_scoring=True, batch_tokens=4096, generation_rows=1, attention="flash",
                               check_finite=False)
    assert EngineConfig.parse({"compile_scoring": "auto"}, "--model_args", strings=True).compile_scoring is None
    assert EngineConfig.parse({"compile_scoring": 1}, "--model_args", strings=True).compile_scoring is True


@pytest.mark.parametrize("raw, message", [
    ({"compile_scoring": "yes"}, r"--model_args.compile_scoring: expected bool, found 'yes'"),
    ({"batch_tokens": "many"}, r"--model_args.batch_tokens: expected int, found 'many'"),
    ({"generation_rows": 0}, r"--model_args.generation_rows: must be a positive integer, found 0"),
    ({"tree_attention": "dense"}, r"--model_args.tree_attention: must be one of sdpa, flex, found 'dense'"),
    ({"batch": 1}, r"--model_args: unknown engine key 'batch'"),
])
def test_a_bad_value_names_its_key(raw, message):
    with pytest.raises(SpecError, match=message):
        EngineConfig.parse(raw, "--model_args", strings=True)


def test_a_suite_model_entry_becomes_one_engine_config():
    suite = parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "compile_scoring": False,
                                                  "generation": "exact", "tree_attention": "flex"}],
                         "tasks": ["es_mmlu"]})
    engine = suite.models[0].engine
    assert engine == EngineConfig(batch_tokens=4096, compile_scoring=False, generation="exact", tree_attention="flex")
    # written back flat, under the keys suites and manifests have always had
    record = suite.models[0].as_record()
    assert {k: record[k] for k in ("batch_tokens", "compile_scoring", "generation", "tree_attention")} == {
        "batch_tokens": 4096, "compile_scoring": False, "generation": "exact", "tree_attention": "flex"}


def test_the_device_decides_what_was_left_open_and_nothing_else():
    assert EngineConfig().resolved(on_cuda=True) == EngineConfig(compile_scoring=True, tree_attention="flex",
                                                                 generation="fast", decode_attention="flex",
                                                                 compile_prefill=True, share_prefix=True,
                                                                 decode_split="torch")
    # CPU: compile_prefill stays open (the "compiled" mode's own choice), the fast step attends "split"
    assert EngineConfig().resolved(on_cuda=False) == EngineConfig(compile_scoring=False, tree_attention="sdpa",
                                                                  generation="exact", decode_attention="split",
                                                                  share_prefix=True, decode_split="torch")
    asked = EngineConfig(compile_scoring=False, tree_attention="sdpa", generation="hf", decode_attention="split",
                         compile_prefill=False, share_prefix=False, decode_split="wide")
    assert asked.resolved(on_cuda=True) == asked


def test_compile_prefill_is_read_like_compile_scoring():
    read = lambda v: EngineConfig.parse({"compile_prefill": v}, "--model_args", strings=True).compile_prefill  # noqa: E731
    assert (read("true"), read("0"), read("auto"), read(1)) == (True, False, None, True)
    assert EngineConfig().compile_prefill is None  # the device decides (CUDA: on), then the generation mode
    with pytest.raises(SpecError, match=r"--model_args.compile_prefill: expected bool, found 'yes'"):
        read("yes")


def test_share_prefix_is_read_like_compile_prefill():
    read = lambda v: EngineConfig.parse({"share_prefix": v}, "--model_args", strings=True).share_prefix  # noqa: E731
    assert (read("false"), read("1"), read("auto")) == (False, True, None)
    with pytest.raises(SpecError, match=r"--model_args.share_prefix: expected bool, found 'no'"):
        read("no")
    suite = parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "share_prefix": False}],
                         "tasks": ["es_mmlu"]})
    assert suite.models[0].engine.share_prefix is False


def test_pack_tokens_may_be_zero_or_open_decode_split_is_a_choice_and_retire_rows_a_bool():
    def read(**raw):
        return EngineConfig.parse(raw, "--model_args", strings=True)

    assert (read(pack_tokens="0").pack_tokens, read(pack_tokens="16384").pack_tokens) == (0, 16384)
    assert read(pack_tokens="auto").pack_tokens is None and EngineConfig().pack_tokens is None
    assert (read(retire_rows="false").retire_rows, read(retire_rows=1).retire_rows) == (False, True)
    assert EngineConfig().retire_rows is True and EngineConfig().resolved(on_cuda=True).retire_rows is True
    with pytest.raises(SpecError, match=r"--model_args.pack_tokens: must be 0 or a positive integer, found -1"):
        read(pack_tokens="-1")
    with pytest.raises(SpecError, match=r"--model_args.retire_rows: expected bool, found 'sometimes'"):
        read(retire_rows="sometimes")
    assert (read(decode_split="wide").decode_split, read(decode_split="torch").decode_split) == ("wide", "torch")
    assert read(decode_split="auto").decode_split is None and EngineConfig().decode_split is None
    assert EngineConfig().resolved(on_cuda=True).decode_split == "torch"  # until a trained model's GPU check
    with pytest.raises(SpecError, match=r"--model_args.decode_split: must be one of torch, wide, found '32'"):
        read(decode_split="32")
    # the lab's and --model_args' knob, not a suite's
    with pytest.raises(SpecError, match=r"models\[0\]: unknown key 'pack_tokens'"):
        parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "pack_tokens": 0}], "tasks": ["es_mmlu"]})
    with pytest.raises(SpecError, match=r"models\[0\]: unknown key 'decode_split'"):
        parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "decode_split": "wide"}],
                     "tasks": ["es_mmlu"]})


def test_decode_attention_is_a_choice_left_open_by_default():
    def read(value):
        return EngineConfig.parse({"decode_attention": value}, "--model_args", strings=True).decode_attention

    assert (read("flex"), read("split"), read("auto")) == ("flex", "split", None)
    with pytest.raises(SpecError, match=r"--model_args.decode_attention: must be one of split, flex, found 'fa'"):
        read("fa")
    suite = parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "decode_attention": "flex",
                                                  "compile_prefill": True}], "tasks": ["es_mmlu"]})
    assert (suite.models[0].engine.decode_attention, suite.models[0].engine.compile_prefill) == ("flex", True)


def test_tree_attention_auto_is_the_device_default():
    assert EngineConfig.parse({"tree_attention": "auto"}, "--model_args", strings=True).tree_attention is None
    assert EngineConfig.parse({"tree_attention": "sdpa"}, "--model_args", strings=True).tree_attention == "sdpa"
    with pytest.raises(SpecError, match=r"models\[0\]\.tree_attention: must be one of sdpa, flex, found 'auto'"):
        parse_suite({"name": "s", "models": [{"name": "m", "source": "/x", "tree_attention": "auto"}],
                     "tasks": ["es_mmlu"]})  # a suite leaves the key out for the default (no string guessing there)
