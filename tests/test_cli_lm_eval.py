"""``evalsuite lm-eval``: lm-eval's own CLI, in-process, with ``--model evalsuite`` and ``--model hf``."""

from __future__ import annotations

import json
from pathlib import Path

from evalsuite.lab.parity import within
from evalsuite.cli import main_lm_eval, split_include_paths
from evalsuite.models.builtin import ZOO_DIR


def test_include_paths_are_taken_out_in_order():
    argv = ["--model", "hf", "--include_path", "/a", "--tasks", "x", "--include_path=/b"]
    assert split_include_paths(argv) == (["--model", "hf", "--tasks", "x"], ["/a", "/b"])
    assert split_include_paths(["--include_path"]) == (["--include_path"], [])  # lm-eval names the error


def _samples(out: Path) -> list[dict]:
    (path,) = out.rglob("samples_es_hellaswag_*.jsonl")
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["doc_id"])


def _cli(model: str, out: Path) -> int:
    # Every flag as an lm-eval user types it, batch sizes and device included (ours ignores the batch sizes).
    return main_lm_eval(["--model", model, "--model_args", f"pretrained={ZOO_DIR / 'tiny-baseline'},dtype=float32",
                         "--device", "cpu", "--batch_size", "4", "--max_batch_size", "16", "--tasks", "es_hellaswag",
                         "--limit", "6", "--output_path", str(out), "--log_samples",
                         "--metadata", json.dumps({"data_dir": ""})])


def test_lm_eval_cli_with_model_evalsuite_equals_model_hf_per_sample(tmp_path, monkeypatch, real_data_dir):
    monkeypatch.chdir(tmp_path)  # not a checkout: no `fatal: not a git repository` either
    monkeypatch.setenv("EVALSUITE_DATA", str(real_data_dir))
    assert _cli("evalsuite", tmp_path / "ours") == 0
    assert _cli("hf", tmp_path / "stock") == 0
    ours, stock = _samples(tmp_path / "ours"), _samples(tmp_path / "stock")
    assert len(ours) == len(stock) == 6
    for a, b in zip(ours, stock):
        assert (a["doc_hash"], a["prompt_hash"]) == (b["doc_hash"], b["prompt_hash"])
        assert (a["acc"], a["acc_norm"]) == (b["acc"], b["acc_norm"])
        for (la, _), (lb, _) in zip(a["filtered_resps"], b["filtered_resps"], strict=True):
            assert within(float(la), float(lb), 1e-4), (a["doc_id"], la, lb)


def test_an_unknown_flag_is_lm_evals_usage_error(capsys):
    assert main_lm_eval(["--model", "evalsuite", "--tasks", "es_hellaswag", "--no_such_flag"]) == 2
    assert "--no_such_flag" in capsys.readouterr().err
