"""Qwen3-Next, Qwen3.5 and Qwen3.5-MoE (tiny, random, offline) through every stage: load, score, generate,
YaRN, diagnostics, compare, publish, check; per-sample parity with stock lm-eval's hf backend (fp32, CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from evalsuite.cli import main
from evalsuite.models.tiny_hybrid import FAMILIES
from evalsuite.records import load_run
from evalsuite.run import RunOptions, run_suite
from evalsuite.engine.loglikelihood import HYBRID_ENGINE
from evalsuite.spec import parse_suite

NAMES = {"qwen3_5": "q35", "qwen3_next": "qnext", "qwen3_5_moe": "q35moe"}


@pytest.fixture(scope="module")
def hybrid_run(hybrid_folder, tmp_path_factory) -> Path:
    from evalsuite.families.miniature import write_miniature

    data = write_miniature(tmp_path_factory.mktemp("mini"))
    models = [{"name": "q35", "role": "baseline", "source": {"path": str(hybrid_folder("qwen3_5"))}},
              {"name": "qnext", "role": "gated", "compare_to": "q35",
               "source": {"path": str(hybrid_folder("qwen3_next"))}},
              {"name": "q35moe", "role": "gated", "compare_to": "q35", "dtype": "float32",
               "source": {"path": str(hybrid_folder("qwen3_5_moe"))},
               "yarn": {"factor": 2.0, "original_max_position_embeddings": 1024}}]
    spec = {"name": "hybrid", "output_dir": str(tmp_path_factory.mktemp("out")), "seed": 1234,
            "defaults": {"dtype": "float32", "device": "cpu", "max_length": 2048},
            "models": models,
            "tasks": [{"task": "es_hellaswag", "limit": 4}, {"task": "es_wikitext", "limit": 1},
                      {"task": "ruler_es_niah_single_1", "lengths": [256], "samples": 1},
                      {"diagnostics": {}, "limit": 1}]}
    return run_suite(parse_suite(spec), RunOptions(data_dir=data, run_id="r1", log=lambda _m: None))


def test_every_unit_completes_and_says_which_path_ran(hybrid_run):
    run = load_run(hybrid_run)
    assert run.manifest.status == "complete", run.manifest.units
    for name in NAMES.values():
        hs = run.unit(name, "es_hellaswag")
        assert hs.n_samples == 4 and hs.extra["paths"] == {"loglikelihood": HYBRID_ENGINE}
        assert run.unit(name, "es_wikitext").extra["paths"] == {"loglikelihood": HYBRID_ENGINE}
        ruler = run.unit(name, "ruler_es_niah_single_1")
        assert ruler.extra["paths"]["generate_until"].startswith("hf (model forward with its own cache; linear-attention")
        diag = run.unit(name, "diagnostics")
        assert diag.extra["layer_kinds"] == ["linear_attention", "attention"] * 2
        assert diag.extra["first_token_share"][0] is None and diag.extra["gates"]["layout"] == "per_head"
        assert {"gate_mean", "first_token_share_vs_uniform"} <= {m.name for m in diag.metrics}
    moe = run.unit("q35moe", "es_hellaswag").model_info
    assert moe["rope"]["rope_type"] == "yarn" and moe["rope"]["max_position_embeddings"] == 2048
    diag = run.unit("q35moe", "diagnostics").extra
    assert diag["window"] == 1024 and diag["window_source"].startswith("training context")


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_equal_stock_hf_per_sample(hybrid_folder, real_data_dir, family):
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec
    from evalsuite.lab.parity import run_parity

    loaded = load(SourceSpec(path=str(hybrid_folder(family))), hash_weights=False)
    tasks = {"es_hellaswag": (6, 0), "es_mmlu_anatomy": (2, 1)}
    if family == "qwen3_next":  # rolling windows: one family keeps CI short (the suite runs WikiText on all three)
        tasks["es_wikitext"] = (1, 0)
    rows = run_parity(loaded.model, loaded.tokenizer, data_dir=real_data_dir, max_length=2048, tasks=tasks)
    for r in rows:
        assert r.n_items > 0 and r.ok, r


def test_generation_equals_transformers_generate(hybrid_folder):
    from evalsuite.engine.generate import GenerationRequest, greedy_generate_tokens
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(hybrid_folder("qwen3_next"))), hash_weights=False)
    ids = loaded.tokenizer("The quick brown fox jumps over the lazy dog. " * 6)["input_ids"]
    request = GenerationRequest(prompt_tokens=ids, max_gen_toks=10, until=())
    ours = greedy_generate_tokens(loaded.model, loaded.tokenizer, request, max_length=2048, eos_token_id=None,
                                  mode="fast", prefill_chunk=16)  # a hybrid prefills in one call regardless
    ref = loaded.model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False)[0, len(ids):].tolist()
    assert ours == ref


def test_hub_id_with_subfolder_and_bf16(hybrid_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec
    from evalsuite.engine.loglikelihood import score_requests

    repo = tmp_path / "models--org--hybrids"
    shutil.copytree(hybrid_folder("qwen3_5"), repo / "snapshots" / ("a" * 40) / "qwen3_5")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    loaded = load(SourceSpec(hub="org/hybrids", subfolder="qwen3_5"), dtype="bfloat16", hash_weights=False)
    assert type(loaded.model).__name__ == "Qwen3_5ForCausalLM" and loaded.model.dtype == torch.bfloat16
    (logprob, _), = score_requests(loaded.model, [([1, 2, 3, 4], [5, 6])], max_length=64, pad_id=0)
    assert -40 < logprob < 0


def test_compare_publish_and_check(hybrid_run, tmp_path, capsys):
    assert main(["compare", str(hybrid_run)]) == 0
    assert "qnext" in capsys.readouterr().out
    assert main(["publish", str(hybrid_run), "--out", str(tmp_path / "pub")]) == 0
    board = (tmp_path / "pub" / "LEADERBOARD.md").read_text()
    assert "| Layers |" in board and "2 softmax attention (1, 3), 2 linear attention" in board
    assert (tmp_path / "pub" / "first_token_share.png").is_file()
    assert main(["check", "--reference", str(hybrid_run), "--candidate", str(hybrid_run)]) == 0
    diag = json.loads((hybrid_run / "units" / "qnext" / "diagnostics" / "metrics.json").read_text())
    assert diag["extra"]["frac_heads_above_0_3"] is not None
