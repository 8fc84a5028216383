"""Suite files: the shipped ones validate; every schema error names its key."""

from __future__ import annotations

import pytest

from evalsuite.errors import SpecError
from evalsuite.spec import load_suite, parse_suite

from tests.conftest import REPO

BASE = {"name": "s", "models": [{"name": "m", "source": {"builtin": "smollm2"}}], "tasks": ["es_hellaswag"]}


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_shipped_suites_validate(name):
    suite = load_suite(REPO / "tasks" / "suites" / f"{name}.yaml")
    assert suite.units()


def test_paper_suite_uses_yarn_for_long_ruler():
    suite = load_suite(REPO / "tasks/suites/paper.yaml")
    yarn_models = {m.name: m for m in suite.models if m.yarn}
    assert {m.max_length for m in yarn_models.values()} == {131072}
    long = [t for t in suite.tasks if 131072 in t.lengths]
    assert long and set(long[0].models) == set(yarn_models)


@pytest.mark.parametrize("patch, message", [
    ({"models": [{"name": "m", "source": {"hub": "a/b"}, "colour": 1}]}, r"models\[0\]: unknown key 'colour'"),
    ({"models": [{"name": "m"}]}, r"models\[0\]: missing required key 'source'"),
    ({"models": [{"name": "m", "source": {"hub": "a/b", "path": "x"}}]}, r"models\[0\].source: give exactly one"),
    ({"models": [{"name": "m", "source": {"tiny": {"gate": "both"}}}]}, r"models\[0\].source.tiny.gate"),
    ({"models": [{"name": "m", "source": "x", "role": "boss"}]}, r"models\[0\].role"),
    ({"models": [{"name": "m", "source": "x", "yarn": {"factor": 4}}]}, r"models\[0\].yarn: missing required key"),
    ({"models": [{"name": "m", "source": "x", "dtype": "int3"}]}, r"models\[0\].dtype"),
    ({"models": [{"name": "m", "source": "x", "generation": "turbo"}]}, r"models\[0\].generation: must be one of"),
    ({"tasks": [{"task": "t", "lengths": [0]}]}, r"tasks\[0\].lengths"),
    ({"tasks": [{"task": "t", "models": ["ghost"]}]}, r"tasks\[0\].models: no model named 'ghost'"),
    ({"tasks": [{"task": "t", "limit": "ten"}]}, r"tasks\[0\].limit: expected int"),
    ({"tasks": []}, r"'tasks' must list at least one task"),
    ({"seeds": 1}, r"suite: unknown key 'seeds'"),
])
def test_schema_errors_name_the_key(patch, message):
    with pytest.raises(SpecError, match=message):
        parse_suite({**BASE, **patch})


def test_invalid_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nmodels: [\n")
    with pytest.raises(SpecError, match=r"bad.yaml:\d+: invalid YAML"):
        load_suite(p)


def test_fingerprint_is_stable_and_content_sensitive():
    a, b = parse_suite(BASE), parse_suite({**BASE, "seed": 7})
    assert a.fingerprint() == parse_suite(BASE).fingerprint() != b.fingerprint()


def test_compile_scoring_must_be_a_boolean():
    with pytest.raises(SpecError, match=r"models\[0\].compile_scoring: expected bool"):
        parse_suite({**BASE, "models": [{"name": "m", "source": "x", "compile_scoring": "yes"}]})
    suite = parse_suite({**BASE, "models": [{"name": "m", "source": "x", "compile_scoring": True}]})
    assert suite.models[0].engine.compile_scoring


def test_truncation_is_a_model_key_whose_default_leaves_the_fingerprint_as_before():
    raw = load_suite(REPO / "tasks/suites/quick.yaml")
    assert {m.engine.truncation for m in raw.models} == {"refuse"}
    # The fingerprint names the run folder, so a rerun still resumes: the values of the shipped suites as
    # computed before `truncation` existed and before the engine's knobs moved into EngineConfig (a2b98b9).
    assert raw.fingerprint() == "95bc44bbee99"
    assert load_suite(REPO / "tasks/suites/paper.yaml").fingerprint() == "471ac47e2519"  # with YaRN
    spec = {"name": "s", "models": [{"name": "m", "source": "/x", "truncation": "left"}], "tasks": ["es_mmlu"]}
    left = parse_suite(spec)
    assert left.models[0].engine.truncation == "left" and left.fingerprint() != parse_suite(
        {**spec, "models": [{"name": "m", "source": "/x"}]}).fingerprint()
    with pytest.raises(SpecError, match=r"models\[0\].truncation: must be one of refuse, left, found 'right'"):
        parse_suite({**spec, "models": [{"name": "m", "source": "/x", "truncation": "right"}]})


def test_the_device_default_tree_attention_leaves_the_fingerprint_of_the_old_sdpa_default():
    base = {"name": "s", "models": [{"name": "m", "source": "/x"}], "tasks": ["es_mmlu"]}
    sdpa = {**base, "models": [{"name": "m", "source": "/x", "tree_attention": "sdpa"}]}
    flex = {**base, "models": [{"name": "m", "source": "/x", "tree_attention": "flex"}]}
    assert parse_suite(base).models[0].engine.tree_attention is None  # the device decides (flex on CUDA)
    assert parse_suite(base).fingerprint() == parse_suite(sdpa).fingerprint() != parse_suite(flex).fingerprint()


def test_the_generation_suite_keys_left_out_leave_the_fingerprint_as_before():
    base = {"name": "s", "models": [{"name": "m", "source": "/x"}], "tasks": ["es_mmlu"]}
    before = parse_suite(base).fingerprint()
    for knob, value in (("decode_attention", "flex"), ("decode_attention", "split"), ("compile_prefill", True),
                        ("compile_prefill", False), ("share_prefix", True), ("share_prefix", False)):
        set_ = parse_suite({**base, "models": [{"name": "m", "source": "/x", knob: value}]})
        assert set_.fingerprint() != before, (knob, value)
