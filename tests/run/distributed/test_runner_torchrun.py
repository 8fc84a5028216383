"""The real CLI under torchrun: `torchrun --nproc_per_node 2 -m evalsuite.cli run SUITE` (gloo on CPU)
writes one set of records that agree per sample with a one-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from evalsuite.records import load_run


def test_cli_under_torchrun_matches_one_process(tiny_folder, tmp_path):
    from evalsuite.families.miniature import write_miniature

    data = write_miniature(tmp_path / "data")
    suite = {"name": "dp", "seed": 1234,
             "models": [{"name": "tiny", "role": "baseline", "source": {"path": str(tiny_folder("elementwise"))},
                         "max_length": 1024, "batch_tokens": 256}],
             "tasks": [{"task": "es_hellaswag", "limit": 8}, {"task": "es_wikitext", "limit": 2}]}
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    common = ["run", str(path), "--data", str(data), "--no-publish", "--out", str(tmp_path / "out")]
    one = subprocess.run([sys.executable, "-m", "evalsuite.cli", *common, "--run-id", "one"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "evalsuite.cli", *common, "--run-id", "two"], env=env, capture_output=True,
                         text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = load_run(tmp_path / "out/dp/one"), load_run(tmp_path / "out/dp/two")
    assert b.manifest.provenance["distributed"]["world_size"] == 2 and b.manifest.status == "complete"
    for task in ("es_hellaswag", "es_wikitext"):
        sa, sb = a.unit("tiny", task).samples, b.unit("tiny", task).samples
        assert [s.doc_hash for s in sa] == [s.doc_hash for s in sb]
        for x, y in zip(sa, sb):
            assert {k: v for k, v in x.scores.items() if k in ("acc", "acc_norm")} == \
                   {k: v for k, v in y.scores.items() if k in ("acc", "acc_norm")}
            for k in ("loglik",):
                if k in x.scores:
                    assert abs(x.scores[k] - y.scores[k]) <= 1e-4 * max(1.0, abs(x.scores[k]))
            for r1, r2 in zip(x.resps, y.resps):
                if isinstance(r1, float):
                    assert abs(r1 - r2) <= 1e-4
