"""The protocol benchmark's pieces: released-format checkpoints, the reduced suite, the limit and the predictor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from evalsuite.lab.bench.flops import PEAK_BYTES_PER_S, ModelShape, generation_cost
from evalsuite.lab.bench.protocol_run import (GATES, QA_UNIT, fixed_unit_s, paper_suite, predict_unit, unit_limit_s,
                                              validate)
from evalsuite.lab.bench.released import TINY_DIMS, write_released

SHAPE = ModelShape(n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16, vocab=1000, linear_params=50_000,
                   total_params=120_000, bytes_per_param=2)


@pytest.fixture(scope="module")
def tokenizer_dir() -> Path:
    from evalsuite.models.tiny import smollm2_tokenizer_dir

    return smollm2_tokenizer_dir()


@pytest.mark.parametrize("gate", ["none", "headwise", "elementwise"])
def test_released_folder_has_the_released_format_and_loads_natively(tmp_path, tokenizer_dir, gate):
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    folder = tmp_path / gate
    info = write_released(folder, gate=gate, tokenizer_dir=tokenizer_dir, dims=TINY_DIMS, device="cpu",
                          shard_bytes=2_000_000)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen3" and config["auto_map"] and config["torch_dtype"] == "bfloat16"
    assert config["headwise_attn_output_gate"] == (gate == "headwise")
    assert config["elementwise_attn_output_gate"] == (gate == "elementwise")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(info["shards"]) >= 2 and set(index["weight_map"].values()) == set(info["shards"])
    assert (folder / "tokenizer.json").is_file()
    loaded = load(SourceSpec(path=str(folder)), dtype="float32", device="cpu", hash_weights=False)
    assert loaded.model.config.num_hidden_layers == TINY_DIMS["layers"]
    assert getattr(loaded.model.config, "headwise_attn_output_gate", False) == (gate == "headwise")
    assert getattr(loaded.model.config, "elementwise_attn_output_gate", False) == (gate == "elementwise")
    again = write_released(folder, gate=gate, tokenizer_dir=tokenizer_dir, dims=TINY_DIMS, device="cpu",
                           shard_bytes=2_000_000)
    assert again["reused"] is True  # same config: gigabytes are not rewritten


def test_reduced_suite_changes_only_sources_and_counts(tmp_path):
    from evalsuite.packaged import tasks_dir

    paper = yaml.safe_load((tasks_dir() / "suites" / "paper.yaml").read_text())
    folders = {name: tmp_path / name for name in GATES}
    got = paper_suite(folders, 3)
    assert [(m["name"], m.get("role"), m.get("compare_to"), m.get("yarn"), m.get("max_length"))
            for m in got["models"]] == [(m["name"], m.get("role"), m.get("compare_to"), m.get("yarn"),
                                         m.get("max_length")) for m in paper["models"]]
    assert all(m["source"] == {"path": str(folders[m["source"]["path"].split("/")[-1]])} for m in got["models"])
    assert got["defaults"] == paper["defaults"] and got["seed"] == paper["seed"]
    for mine, theirs in zip(got["tasks"], paper["tasks"]):
        changed = {k for k in mine if mine.get(k) != theirs.get(k)}
        if theirs.get("task") == "ruler_es":
            assert changed == {"samples"} and mine["samples"] == 3 and mine["lengths"] == theirs["lengths"]
        elif theirs.get("task") in QA_UNIT:
            assert changed == {"limit"} and mine["limit"] == 3 * QA_UNIT[theirs["task"]]
        else:
            assert changed == set()


def test_unit_limit_is_the_generation_cost_of_its_requests():
    requests = [(1000, 127), (3000, 31)]
    work = {"scored_tokens": 0, "scored_attended_keys": 0, "scored_head_positions": 0,
            "generation_requests": len(requests), "prompt_tokens": sum(n for n, _ in requests),
            "prompt_attended_keys": sum(n * (n + 1) // 2 for n, _ in requests),
            "decode_attended_keys": sum((n + k) * (n + k + 1) // 2 - n * (n + 1) // 2 for n, k in requests)}
    expected = sum(generation_cost(SHAPE, prompt_tokens=n, decode_steps=k).limit_seconds() for n, k in requests)
    assert unit_limit_s(work, SHAPE) == pytest.approx(expected, rel=1e-12)


def _gen_unit(*, live: int, rows_memory: int, prefill_per_row: float, c: float, capacity: int, steps: int,
              outside: float) -> dict:
    e = capacity * SHAPE.kv_bytes_per_position() / PEAK_BYTES_PER_S
    batch = {"rows": live, "live_rows": live, "capacity": capacity, "rows_memory": rows_memory, "setup_s": 0.5,
             "prefill_s": prefill_per_row * live, "decode_s": steps * (c + live * e), "decode_steps": steps}
    generate = batch["setup_s"] + batch["prefill_s"] + batch["decode_s"]
    return {"seconds": outside + generate, "work": {"generation_requests": live, "generate_s": generate,
                                                    "batches": [batch]}}, e


def test_predictor_follows_batches_of_the_rows_memory_allows():
    unit, e = _gen_unit(live=4, rows_memory=6, prefill_per_row=0.25, c=0.003, capacity=8192, steps=127,
                        outside=2.0)
    # x3: 12 rows = two batches of 6 (each decodes 6 rows), prefill x3; outside the engine (lm-eval building the
    # task) and the setup once.
    want = 2.0 + 0.25 * 12 + 2 * 127 * (0.003 + 6 * e) + 0.5
    assert predict_unit(unit, 3.0, SHAPE) == pytest.approx(want, rel=1e-9)
    # x1 reproduces the measurement.
    assert predict_unit(unit, 1.0, SHAPE) == pytest.approx(unit["seconds"], rel=1e-9)


def test_predictor_prices_the_full_counts_shared_prefixes(tmp_path, capsys):
    """``--shares``: a group's steady prefill taken as unshared (less the share of prompt tokens this run copied)
    and scaled by one less the full count's FLOP share for its length; other lengths, scoring and decode as before."""
    from evalsuite import strict_json
    from evalsuite.lab.bench.protocol_run import main

    unit, e = _gen_unit(live=4, rows_memory=6, prefill_per_row=0.25, c=0.003, capacity=8320, steps=127,
                        outside=2.0)
    unit["work"]["batches"][0].update(prompt_tokens=32000, shared_prefix_tokens=3200)  # 10 % copied here
    plain = predict_unit(unit, 3.0, SHAPE)
    shares = {"4096": {"flop_share": 0.5}, "8192": {"flop_share": 0.28}, "16384": {"flop_share": 0.9}}
    assert predict_unit(unit, 3.0, SHAPE, shares=shares) == pytest.approx(plain - 0.25 * 12 * (1 - 0.72 / 0.9))
    assert predict_unit(unit, 3.0, SHAPE, shares={"16384": {"flop_share": 0.9}}) == pytest.approx(plain)
    packed = {**unit, "work": {**unit["work"], "batches": [{**unit["work"]["batches"][0], "pack_tokens": 16384}]}}
    assert predict_unit(packed, 3.0, SHAPE, shares=shares) == pytest.approx(plain)  # 8K prompts packed: none shared
    base = {"model": "1B_baseline", "task": "ruler_es", "status": "complete", "peak_gpu_gib": 1.0, "samples": 4}
    unit["work"].update(scored_tokens=0, scored_attended_keys=0, scored_head_positions=0, prompt_tokens=32000,
                        prompt_attended_keys=32000 * 8001 // 2, decode_attended_keys=0)
    record = tmp_path / "protocol.json"
    strict_json.write(record, {"n1": {"units": {"1B_baseline/ruler_es": base | unit,
                                                "_run": {"wall_seconds": None, "status": "complete"}}}})
    share_file = tmp_path / "limit.json"
    strict_json.write(share_file, {"shares_by_length": shares})
    out = tmp_path / "priced.json"
    assert main(["--price", str(record), "--samples", "1", "--tiny", "--out", str(out)]) == 0
    without = json.loads(out.read_text())["priced"]["full_s"]
    assert main(["--price", str(record), "--samples", "1", "--tiny", "--shares", str(share_file), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["shares_by_length"] == shares and got["priced"]["full_s"] < without
    capsys.readouterr()
    assert main(["--price", str(record), "--samples", "1", "--tiny", "--shares", str(record), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"--shares {record}: not a record of `protocol --shares`")


def test_predictor_scales_only_the_engine_of_a_scoring_unit():
    unit = {"seconds": 10.0, "work": {"generation_requests": 0, "tokenize_s": 1.0, "loglikelihood_s": 3.0}}
    assert predict_unit(unit, 5.0, SHAPE) == pytest.approx(6.0 + 4.0 * 5)


def test_predictor_keeps_a_scoring_units_compilation_fixed():
    unit = {"seconds": 10.0, "work": {"generation_requests": 0, "tokenize_s": 1.0, "loglikelihood_s": 3.0,
                                      "compile_s": 2.5}}
    # 6 s outside the engine and 2.5 s compiling are paid once; the 1.5 s of tokenising and scoring scale.
    assert predict_unit(unit, 5.0, SHAPE) == pytest.approx(6.0 + 2.5 + 1.5 * 5)
    assert predict_unit(unit, 1.0, SHAPE) == pytest.approx(10.0)


def test_the_kernels_checks_are_paid_once():
    """``kernel_check_s`` (run 11: FlashAttention-4's check, ~5.5 s in a process's first RULER unit, outside its
    batches; scaled x100 it was 550 s of the 64K/128K unit's 6,500 s): paid once, in generation and scoring units."""
    unit, e = _gen_unit(live=4, rows_memory=6, prefill_per_row=0.25, c=0.003, capacity=8192, steps=127,
                        outside=2.0)
    host = dict(unit, seconds=unit["seconds"] + 0.5,
                work=dict(unit["work"], generate_s=unit["work"]["generate_s"] + 0.5))
    checked = dict(host, seconds=host["seconds"] + 5.0,
                   work=dict(host["work"], generate_s=host["work"]["generate_s"] + 5.0, kernel_check_s=5.0))
    assert predict_unit(checked, 100.0, SHAPE) == pytest.approx(predict_unit(host, 100.0, SHAPE) + 5.0)
    assert predict_unit(host, 100.0, SHAPE) == pytest.approx(predict_unit(unit, 100.0, SHAPE) + 0.5 * 100)
    assert fixed_unit_s(checked) == pytest.approx(fixed_unit_s(host) + 5.0)
    assert predict_unit(checked, 1.0, SHAPE) == pytest.approx(checked["seconds"])
    alone = {"seconds": 8.0, "work": {"generation_requests": 2, "generate_s": 7.0, "kernel_check_s": 5.0}}
    assert predict_unit(alone, 10.0, SHAPE) == pytest.approx(1.0 + 5.0 + 2.0 * 10)  # one request at a time
    scoring = {"seconds": 10.0, "work": {"generation_requests": 0, "tokenize_s": 1.0, "loglikelihood_s": 8.0,
                                         "compile_s": 2.5, "kernel_check_s": 4.0}}
    assert predict_unit(scoring, 5.0, SHAPE) == pytest.approx(1.0 + 2.5 + 4.0 + 2.5 * 5)


def test_retired_rows_price_the_row_steps_that_read_a_cache():
    """A batch whose finished rows were retired (``decode_row_steps``, run 12) costs ``steps x c`` plus each read
    row-step's KV read, scaled per live row: 4 rows of 127, 127, 29 and 49 steps read 332 row-steps, not 4 x 127.
    Records without the field are priced as before (every row at every step)."""
    unit, e = _gen_unit(live=4, rows_memory=6, prefill_per_row=0.25, c=0.003, capacity=8192, steps=127,
                        outside=2.0)
    batch = unit["work"]["batches"][0]
    old = predict_unit(unit, 3.0, SHAPE)
    read = 127 + 127 + 29 + 49
    batch["decode_s"] = 127 * 0.003 + read * e
    batch["decode_row_steps"] = read
    unit["work"]["generate_s"] = batch["setup_s"] + batch["prefill_s"] + batch["decode_s"]
    unit["seconds"] = 2.0 + unit["work"]["generate_s"]
    # x3: 12 rows in two batches of 6; each batch's 127 steps pay c, each live row its read row-steps (83 a row).
    want = 2.0 + 0.25 * 12 + 2 * 127 * 0.003 + 12 * (read / 4) * e + 0.5
    assert predict_unit(unit, 3.0, SHAPE) == pytest.approx(want, rel=1e-9)
    assert predict_unit(unit, 1.0, SHAPE) == pytest.approx(unit["seconds"], rel=1e-9)
    assert predict_unit(unit, 3.0, SHAPE) < old - 2 * 127 * 6 * e * 0.3


def test_validation_checks_the_seconds_beyond_what_is_paid_once_too():
    base = {"model": "1B_baseline", "task": "es_wikitext", "status": "complete"}
    small = base | {"samples": 8, "seconds": 16.0,
                    "work": {"generation_requests": 0, "tokenize_s": 0.0, "loglikelihood_s": 15.0, "compile_s": 14.0}}
    large = base | {"samples": 16, "seconds": 11.0,  # a new process compiles again, faster (a warm cache)
                    "work": {"generation_requests": 0, "tokenize_s": 0.0, "loglikelihood_s": 10.0, "compile_s": 8.0}}
    got = validate({"u": small}, {"u": large}, 2.0, {"1B_baseline": SHAPE})
    assert got["predicted_s"] == pytest.approx(1.0 + 14.0 + 1.0 * 2)  # outside + compile + scoring x2
    assert not got["within_10_percent"]  # 17 s predicted against 11 s: the totals differ by the compile times
    beyond = got["beyond_fixed"]  # what each pays once: 1 s outside the engine + its compile seconds
    assert beyond["predicted_s"] == pytest.approx(2.0) and beyond["measured_s"] == pytest.approx(2.0)
    assert beyond["within_10_percent"]


def test_a_new_shapes_first_batch_beyond_the_steady_rate_is_paid_once():
    """Run 7's 64K/128K unit: the first 64K batch's prefill took 21.3 s for 6 rows, the second 5.8 s for 5 (the
    compiled prefill compiling and tuning for the new shape). Scaled with the requests, with the task building,
    1 sample predicted 2 samples 32 % high; counted once, the seconds beyond what each run pays once within 2 %."""
    unit, e = _gen_unit(live=4, rows_memory=4, prefill_per_row=0.5, c=0.002, capacity=8192, steps=100, outside=3.0)
    second = dict(unit["work"]["batches"][0])
    first = dict(second, prefill_s=second["prefill_s"] + 10.0)  # compiling inside the first prefill
    second["setup_s"] = 0.0
    work = dict(unit["work"], batches=[first, second], generation_requests=8)
    work["generate_s"] = sum(b["setup_s"] + b["prefill_s"] + b["decode_s"] for b in work["batches"])
    two = {"seconds": 3.0 + work["generate_s"], "work": work}
    assert fixed_unit_s(two) == pytest.approx(3.0 + 0.5 + 10.0)
    # x5: 40 rows in 10 batches of 4; each row's prefill at the steady 0.5 s; the 10 s and the 3 s once.
    assert predict_unit(two, 5.0, SHAPE) == pytest.approx(3.0 + 0.5 + 10.0 + 0.5 * 40 + 10 * 100 * (0.002 + 4 * e))
    assert predict_unit(two, 1.0, SHAPE) == pytest.approx(two["seconds"])
    # One batch: the compile seconds it recorded inside its prefill are what it paid once.
    one = {"seconds": unit["seconds"] + 10.0, "work": dict(unit["work"], generate_s=unit["work"]["generate_s"] + 10.0,
                                                          batches=[dict(first, prefill_compile_s=10.0)])}
    assert fixed_unit_s(one) == pytest.approx(3.0 + 0.5 + 10.0)
    assert predict_unit(one, 2.0, SHAPE) == pytest.approx(13.5 + 0.5 * 8 + 2 * 100 * (0.002 + 4 * e))


def test_each_count_compiles_from_empty_caches(tmp_path, monkeypatch):
    import subprocess

    import evalsuite.lab.bench.protocol_run as protocol_run

    seen = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, env, **kw: seen.append(env) or subprocess.CompletedProcess(
        cmd, 0))
    cache = tmp_path / "cache" / "n2"
    (cache / "inductor").mkdir(parents=True)
    (cache / "inductor" / "stale").write_text("a previous run's kernels")
    for run_id in ("n1", "n2"):
        protocol_run.run_suite({"models": []}, tmp_path / "out", run_id, compile_cache=tmp_path / "cache" / run_id)
    assert [env["TORCHINDUCTOR_CACHE_DIR"] for env in seen] == [str(tmp_path / "cache" / r / "inductor")
                                                                for r in ("n1", "n2")]
    assert seen[1]["TRITON_CACHE_DIR"] == str(cache / "triton") and not (cache / "inductor").exists()


def test_validation_reports_the_error_of_the_prediction():
    small, _ = _gen_unit(live=2, rows_memory=8, prefill_per_row=0.1, c=0.003, capacity=4096, steps=127, outside=1.0)
    large, _ = _gen_unit(live=4, rows_memory=8, prefill_per_row=0.1, c=0.003, capacity=4096, steps=127, outside=1.0)
    base = {"model": "1B_baseline", "task": "ruler_es", "status": "complete", "samples": 2}
    got = validate({"1B_baseline/ruler_es": base | small}, {"1B_baseline/ruler_es": base | large | {"samples": 4}},
                   2.0, {"1B_baseline": SHAPE})
    assert got["within_10_percent"] and abs(got["error"]) < 1e-9
    slow = base | large | {"samples": 4, "seconds": large["seconds"] * 1.5}
    got = validate({"1B_baseline/ruler_es": base | small}, {"1B_baseline/ruler_es": slow}, 2.0, {"1B_baseline": SHAPE})
    assert not got["within_10_percent"] and math.isclose(got["error"], 1 / 1.5 - 1, rel_tol=1e-9)
    # Run 6: the second count was cut before its only unit finished; that is no check (it read as a failed one).
    cut = {"1B_baseline/ruler_es": slow | {"status": "partial"}}
    assert validate({"1B_baseline/ruler_es": base | small}, cut, 2.0, {"1B_baseline": SHAPE}) == {
        "units": [], "checked": False, "reason": "no unit complete at both counts"}


def test_a_subset_of_models_still_gets_every_checkpoint_the_suite_names(tmp_path, monkeypatch):
    """`evalsuite run` checks every source of the suite before it runs any model (run 5's first call: the baseline
    alone was refused, the gated folders did not exist yet)."""
    import evalsuite.lab.bench.protocol_run as protocol_run
    import evalsuite.lab.bench.released as released

    written = []
    monkeypatch.setattr(released, "write_released", lambda folder, **kw: written.append(folder.name) or {})
    monkeypatch.setattr(protocol_run, "_run_count", lambda *a, **kw: None)
    rc = protocol_run.main(["--data", str(tmp_path), "--tokenizer", str(tmp_path), "--work", str(tmp_path / "w"),
                            "--out", str(tmp_path / "out"), "--models", "1B_baseline", "--tiny"])
    assert rc == 0 and sorted(written) == sorted(GATES)


def test_a_run_is_priced_at_the_roofline_of_the_card_that_ran_it(tmp_path):
    from evalsuite import strict_json
    from evalsuite.lab.bench.protocol_run import CARDS, combine

    n, k = 4096, 127
    work = {"scored_tokens": 0, "scored_attended_keys": 0, "scored_head_positions": 0, "generation_requests": 1,
            "prompt_tokens": n, "prompt_attended_keys": n * (n + 1) // 2, "generated_tokens": k + 1,
            "decode_attended_keys": (n + k) * (n + k + 1) // 2 - n * (n + 1) // 2, "generate_s": 1.0,
            "batches": []}
    unit = {"model": "1B_baseline", "task": "ruler_es", "status": "complete", "seconds": 2.0, "samples": 1,
            "peak_gpu_gib": 1.0, "work": work}
    path = tmp_path / "protocol.json"  # what the command writes (a cut-off run: its wall time unknown)
    strict_json.write(path, {"n1": {"units": {"1B_baseline/ruler_es": unit,
                                              "_run": {"wall_seconds": None, "status": "running"}}}})
    h200, h100 = (combine([path], 1, {"1B_baseline": SHAPE}, CARDS[c])["priced"] for c in ("h200", "h100"))
    cost = generation_cost(SHAPE, prompt_tokens=n, decode_steps=k)
    assert h200["measured_limit_s"] == pytest.approx(cost.limit_seconds(), rel=1e-12)
    # Same matmul rate, 3.0 instead of 4.3 TB/s: only the KV-cache reads cost more on the H100.
    assert h100["measured_limit_s"] == pytest.approx(
        cost.prefill_flops / CARDS["h100"].flops + cost.decode_kv_bytes / 3.0e12, rel=1e-12)
    assert h100["full_x_limit"] < h200["full_x_limit"] and h100["outside_units_s"] == 0.0


def test_pricing_runs_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, capsys):
    from evalsuite import strict_json
    from evalsuite.lab.bench.protocol_run import main

    record = tmp_path / "protocol.json"
    strict_json.write(record, {"n1": {"units": {}}})
    for runs, samples in (([str(tmp_path / "absent")], "1"), ([str(record)], "2")):
        assert main(["--price", *runs, "--samples", samples, "--tiny", "--out", str(tmp_path / "o.json")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("--price: cannot read the runs") and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()


def test_engine_keys_reach_every_model_of_the_suite_and_bad_ones_are_one_line(tmp_path, monkeypatch, capsys):
    import evalsuite.lab.bench.protocol_run as protocol_run
    import evalsuite.lab.bench.released as released
    from evalsuite.spec import parse_suite

    suite = paper_suite({name: tmp_path / name for name in GATES}, 1,
                        engine={"decode_attention": "flex", "compile_prefill": True})
    assert all(m.engine.decode_attention == "flex" and m.engine.compile_prefill for m in parse_suite(suite).models)
    monkeypatch.setattr(released, "write_released", lambda folder, **kw: {})
    seen = []
    monkeypatch.setattr(protocol_run, "_run_count", lambda record, samples, folders, models, args, *a: seen.append(
        args.engine))
    common = ["--data", str(tmp_path), "--tokenizer", str(tmp_path), "--work", str(tmp_path / "w"), "--tiny"]
    assert protocol_run.main([*common, "--out", str(tmp_path / "a"), "--engine", "decode_attention=flex",
                              "--engine", "compile_prefill=true"]) == 0
    assert seen == [{"decode_attention": "flex", "compile_prefill": True}]
    for bad, says in (("decode_attention=fast", "--engine.decode_attention: must be one of split, flex"),
                      ("row_tokens=64", "--engine row_tokens=64: expected KEY=VALUE with KEY one of"),
                      ("decode_attention", "--engine decode_attention: expected KEY=VALUE"),
                      ("decode_attention=auto", "leave the key out for its default")):
        assert protocol_run.main([*common, "--out", str(tmp_path / "b"), "--engine", bad]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()


def test_records_of_both_counts_are_checked_again_by_the_current_predictor(tmp_path, capsys):
    from evalsuite import strict_json
    from evalsuite.lab.bench.protocol_run import main

    base = {"model": "1B_baseline", "task": "ruler_es", "status": "complete", "peak_gpu_gib": 1.0}
    small, _ = _gen_unit(live=2, rows_memory=8, prefill_per_row=0.1, c=0.003, capacity=4096, steps=127, outside=1.0)
    large, _ = _gen_unit(live=4, rows_memory=8, prefill_per_row=0.1, c=0.003, capacity=4096, steps=127, outside=1.0)
    for u in (small, large):
        u["work"].update(scored_tokens=0, scored_attended_keys=0, scored_head_positions=0, prompt_tokens=4000,
                         prompt_attended_keys=4000 * 4001 // 2, decode_attended_keys=0)
    run = {"wall_seconds": None, "status": "complete"}
    record = tmp_path / "protocol.json"  # what a GPU call wrote, its validation by the predictor of its day
    strict_json.write(record, {"n1": {"units": {"1B_baseline/ruler_es": base | small | {"samples": 2}, "_run": run}},
                               "n2": {"units": {"1B_baseline/ruler_es": base | large | {"samples": 4}, "_run": run}},
                               "validation": {"within_10_percent": False}})
    out = tmp_path / "priced.json"
    assert main(["--price", str(record), "--samples", "1", "--validate", "2", "--tiny", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["validation"]
    assert got["checked"] and got["within_10_percent"] and abs(got["error"]) < 1e-9
    assert "validation" in capsys.readouterr().out
    assert main(["--price", str(record), "--samples", "2", "--validate", "2", "--tiny", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("--validate 2: must be larger")


def test_a_projection_reads_each_row_step_at_the_target_cards_rate_and_keeps_the_rest(tmp_path, capsys):
    """``--measured-on h100``: an H100's batches priced as an H200 would run them. Each batch's decode keeps its
    per-step overhead and reads its row-steps at 4.3 instead of 3.0 TB/s; prefill, setup and the rest stay as
    measured, and the predictor's overhead ``c`` is the one the H100 measured. Projecting to the same card, or
    omitting the flag, changes nothing; the record says it is a projection."""
    from evalsuite import strict_json
    from evalsuite.lab.bench.protocol_run import CARDS, main, project_decode

    h100, h200 = CARDS["h100"], CARDS["h200"]
    capacity, steps, read, c = 8192, 127, 127 + 127 + 29 + 49, 0.003
    was = capacity * SHAPE.kv_bytes_per_position() / h100.bytes_per_s
    now = capacity * SHAPE.kv_bytes_per_position() / h200.bytes_per_s
    batch = {"rows": 4, "live_rows": 4, "capacity": capacity, "rows_memory": 6, "setup_s": 0.5, "prefill_s": 1.0,
             "decode_s": steps * c + read * was, "decode_steps": steps, "decode_row_steps": read}
    generate = batch["setup_s"] + batch["prefill_s"] + batch["decode_s"]
    unit = {"model": "1B_baseline-yarn4", "task": "ruler_es", "status": "complete", "samples": 4,
            "peak_gpu_gib": 1.0, "seconds": 2.0 + generate,
            "work": {"scored_tokens": 0, "scored_attended_keys": 0, "scored_head_positions": 0,
                     "generation_requests": 4, "prompt_tokens": 32000, "prompt_attended_keys": 32000 * 8001 // 2,
                     "decode_attended_keys": read * capacity, "generate_s": generate, "batches": [batch]}}
    scoring = {"model": "1B_baseline", "task": "es_mmlu", "status": "complete", "samples": 10, "seconds": 3.0,
               "peak_gpu_gib": 1.0,
               "work": {"scored_tokens": 5000, "scored_attended_keys": 5000 * 251, "scored_head_positions": 10,
                        "generation_requests": 0, "prompt_tokens": 0, "prompt_attended_keys": 0,
                        "decode_attended_keys": 0, "tokenize_s": 0.1, "loglikelihood_s": 2.0}}
    units = {"a": unit, "b": scoring}
    shape_of = {"1B_baseline": SHAPE}

    got = project_decode(units, shape_of, h100, h200)
    saved = read * (was - now)
    assert got["a"]["work"]["batches"][0]["decode_s"] == pytest.approx(steps * c + read * now, rel=1e-12)
    assert got["a"]["seconds"] == pytest.approx(unit["seconds"] - saved, rel=1e-12)
    assert got["a"]["work"]["generate_s"] == pytest.approx(generate - saved, rel=1e-12)
    assert got["a"]["work"]["batches"][0]["prefill_s"] == batch["prefill_s"] and got["b"] == scoring
    assert unit["work"]["batches"][0]["decode_s"] == steps * c + read * was  # the records are left alone
    # The predictor at the H200's rates then sees the H100's per-step overhead, at any count.
    assert predict_unit(got["a"], 3.0, SHAPE, h200) == pytest.approx(
        predict_unit(unit, 3.0, SHAPE, h100) - 3 * saved, rel=1e-9)
    cut = {**unit, "status": "running", "seconds": None}  # a unit its call cut: not priced, left as it is
    assert project_decode({"c": cut}, shape_of, h100, h200)["c"] == cut
    same = project_decode(units, shape_of, h200, h200)
    assert same["a"]["seconds"] == pytest.approx(unit["seconds"], rel=1e-12)
    # A decode already faster than the measured card's reads allow is scaled by the ratio of the rates.
    fast = {**unit, "work": {**unit["work"], "batches": [{**batch, "decode_s": 0.5 * read * was}]}}
    assert project_decode({"a": fast}, shape_of, h100, h200)["a"]["work"]["batches"][0]["decode_s"] == \
        pytest.approx(0.5 * read * now, rel=1e-12)

    record = tmp_path / "protocol.json"
    strict_json.write(record, {"n1": {"units": {"1B_baseline-yarn4/ruler_es": unit, "1B_baseline/es_mmlu": scoring,
                                                "_run": {"wall_seconds": None, "status": "complete"}}}})
    out = {name: tmp_path / f"{name}.json" for name in ("h200", "projected", "same")}
    args = ["--price", str(record), "--samples", "1", "--tiny"]
    assert main([*args, "--out", str(out["h200"])]) == 0
    assert main([*args, "--measured-on", "h100", "--out", str(out["projected"])]) == 0
    assert main([*args, "--measured-on", "h200", "--out", str(out["same"])]) == 0
    capsys.readouterr()
    priced = {name: json.loads(path.read_text()) for name, path in out.items()}
    assert priced["projected"]["projected_from"] == {"flops": h100.flops, "bytes_per_s": h100.bytes_per_s}
    assert "projected_from" not in priced["h200"] and "projected_from" not in priced["same"]
    assert priced["same"]["priced"] == priced["h200"]["priced"]
    x = {name: p["priced"]["full_x_limit"] for name, p in priced.items()}
    # Against the H200's limit, the projection's decode is faster than the H100's.
    assert x["projected"] < x["h200"]
    assert priced["projected"]["priced"]["full_limit_s"] == priced["h200"]["priced"]["full_limit_s"]
