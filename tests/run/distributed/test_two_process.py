"""Two gloo processes under torchrun vs one process, both through ``run_suite``: the same records (scores to
float rounding, every generation and decision identical); a rank dying loses only its unit.

One in-process reference run, then two 2-process launches: the first loses rank 1
in the middle of the second unit, the second resumes. ~35 s on a loaded 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evalsuite.records import read_unit

HERE = Path(__file__).resolve().parent
TASKS = ["es_hellaswag", "es_wikitext", "es_dp_generate"]
# HellaSwag's items as a generate_until task (the repository's tasks have none this small).
GENERATE_TASK = """include: {hellaswag}
task: es_dp_generate
output_type: generate_until
doc_to_target: "{{{{choices[gold]}}}}"
doc_to_choice: null
generation_kwargs:
  until: ["."]
  max_gen_toks: 4
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def setup(tiny_folder, tmp_path_factory) -> dict[str, Path]:
    from evalsuite.families.miniature import write_miniature

    root = tmp_path_factory.mktemp("dp")
    tasks = root / "tasks"
    tasks.mkdir()
    hellaswag = HERE.parents[2] / "tasks" / "hellaswag_es" / "es_hellaswag.yaml"
    (tasks / "es_dp_generate.yaml").write_text(GENERATE_TASK.format(hellaswag=hellaswag))
    suite = {"name": "dp", "seed": 1234,
             "models": [{"name": "tiny", "role": "baseline", "source": {"path": str(tiny_folder("headwise"))},
                         "max_length": 1024, "device": "cpu", "dtype": "float32",
                         "batch_tokens": 128}],  # small batches, so chunks are small: both ranks get work
             "tasks": [{"task": "es_hellaswag", "limit": 8}, {"task": "es_wikitext", "limit": 3},
                       {"task": "es_dp_generate", "limit": 3}]}
    (root / "suite.json").write_text(json.dumps(suite))
    return {"root": root, "tasks": tasks, "suite": root / "suite.json", "data": write_miniature(root / "data")}


def _torchrun(setup: dict[str, Path], run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_worker.py"), "--suite", str(setup["suite"]), "--run-dir", str(run_dir),
           "--data", str(setup["data"]), "--tasks", str(setup["tasks"]), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240)


def _samples(run_dir: Path, task: str) -> list[tuple]:
    unit = read_unit(run_dir, "tiny", task)
    assert unit is not None and unit.status == "complete", f"{task}: {unit and unit.error}"
    return sorted((s.task, s.doc_id, s.prompt_hash, s.scores, s.resps) for s in unit.samples)


def _close(a: object, b: object) -> bool:
    """Equal, floats (also as strings, as lm-eval's responses hold them) to 1e-5 relative: one process scores a
    unit in one call, ranks in cost-balanced chunks, and the packed scorer's sums move by ~1e-7 with the
    company a request keeps in its batch (evalsuite.run.distributed)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    try:
        x, y = float(a), float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return a == b
    return x == pytest.approx(y, rel=1e-5, abs=1e-6)


def test_two_ranks_equal_one_and_resume_after_a_rank_dies(setup) -> None:
    from evalsuite.run import RunOptions, run_suite
    from evalsuite.spec import parse_suite

    ref = setup["root"] / "ref"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as torchrun's workers (OMP_NUM_THREADS=1): same CPU kernels, same rounding
    try:
        suite = parse_suite({**json.loads(setup["suite"].read_text()), "output_dir": str(setup["root"])})
        run_suite(suite, RunOptions(run_id="ref", data_dir=setup["data"], task_dirs=(setup["tasks"],),
                                    log=lambda s: None))
    finally:
        torch.set_num_threads(threads)

    run = setup["root"] / "dp"
    killed = _torchrun(setup, run, "--die-at", "es_wikitext")
    assert killed.returncode != 0, killed.stdout[-2000:]
    assert read_unit(run, "tiny", "es_hellaswag").status == "complete"  # finished before the crash: kept
    assert read_unit(run, "tiny", "es_wikitext") is None  # in flight: lost, never half-written
    assert read_unit(run, "tiny", "es_dp_generate") is None
    assert json.loads((run / "manifest.json").read_text())["status"] == "running"  # never marked complete

    resumed = _torchrun(setup, run)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert "[rank 0] [1/3] tiny/es_hellaswag: already complete (verified), skipped" in resumed.stdout
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    for task in TASKS:
        assert _close(_samples(run, task), _samples(ref, task)), task
        metrics = {(m.task, m.name, m.filter): m.value for m in read_unit(run, "tiny", task).metrics}
        assert _close(metrics, {(m.task, m.name, m.filter): m.value for m in read_unit(ref, "tiny", task).metrics})
    shares = [json.loads(Path(f"{run}.rank{r}.json").read_text()) for r in (0, 1)]
    for task in TASKS[1:]:  # both ranks computed part of each unit the resumed run ran
        assert shares[0][task] > 0 and shares[1][task] > 0, shares
