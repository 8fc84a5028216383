"""Each unit records the work its engine did (``extra["work"]``), so its time can be priced against the hardware."""

from __future__ import annotations

from evalsuite.records import load_run


def test_units_record_their_work(tmp_path, tiny_folder, real_data_dir):
    from evalsuite.run.runner import RunOptions, run_suite
    from evalsuite.spec import parse_suite

    suite = parse_suite({
        "name": "work", "seed": 1234, "output_dir": str(tmp_path),
        "defaults": {"dtype": "float32", "device": "cpu", "batch_tokens": 4096},
        "models": [{"name": "m", "role": "baseline", "source": {"path": str(tiny_folder("none"))},
                    "max_length": 2048}],
        "tasks": [{"task": "es_hellaswag", "limit": 4}, {"task": "ruler_es_niah_single_1", "lengths": [512],
                                                         "samples": 2}]})
    run = load_run(run_suite(suite, RunOptions(data_dir=real_data_dir, run_id="R", log=[].append)))
    hs, ruler = run.units[("m", "es_hellaswag")], run.units[("m", "ruler_es_niah_single_1")]
    w = hs.extra["work"]
    assert w["generation_requests"] == 0 and w["scored_tokens"] > 0 and w["loglikelihood_s"] > 0
    assert w["scored_attended_keys"] >= w["scored_tokens"] and w["scored_head_positions"] > 0
    g = ruler.extra["work"]
    assert g["scored_tokens"] == 0 and g["generation_requests"] == ruler.n_samples == 2
    assert g["prompt_attended_keys"] > g["prompt_tokens"] > 400 and g["generated_tokens"] > 0
    assert g["decode_steps"] == g["generated_tokens"] - 2 and g["generate_s"] > 0
    assert "peak_gpu_gib" not in g  # CPU: no device peak to report
    assert 0.0 <= w["compile_s"] <= w["loglikelihood_s"]  # eager on CPU: nothing (or little) compiled
    assert w["kernel_check_s"] == g["kernel_check_s"] == 0.0  # CPU: SDPA, no kernel to check


def test_compile_seconds_reads_torchs_own_account(monkeypatch):
    import torch._dynamo.utils as dynamo_utils

    from evalsuite.engine.kernels import compile_seconds

    monkeypatch.setattr(dynamo_utils, "compile_times",
                        lambda repr="str", aggregate=False: (["x", "_compile.compile_inner"], ["1.0", "12.5"]))
    assert compile_seconds() == 12.5

    def broken(repr="str", aggregate=False):
        raise RuntimeError("gone in this torch")

    monkeypatch.setattr(dynamo_utils, "compile_times", broken)
    assert compile_seconds() == 0.0
