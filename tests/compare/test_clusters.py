"""Cluster keys recovered for records that predate them (results/mini's HellaSwag), verified by doc hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.compare._clusters import recover_clusters
from evalsuite.compare._join import pair_units
from evalsuite.compare._metrics import paired_metrics
from evalsuite.data import data_dir_from
from evalsuite.records import load_run

MINI = Path(__file__).resolve().parents[2] / "results" / "mini" / "gpu-small-lr2"


@pytest.fixture(scope="module")
def data_dir() -> Path:
    folder = data_dir_from(None)
    if folder is None or not (folder / "hellaswag" / "hellaswag_val.jsonl").is_file():
        pytest.skip("needs the real HellaSwag validation file under $EVALSUITE_DATA (CI has it)")
    return folder


def _hellaswag_units():
    run = load_run(MINI)
    return run.unit("small-lr2-baseline", "es_hellaswag"), run.unit("small-lr2-elementwise", "es_hellaswag")


def test_mini_records_have_no_cluster_keys_but_recover_them_by_doc_hash(data_dir: Path) -> None:
    base, _ = _hellaswag_units()
    samples = sorted(base.samples, key=lambda s: s.doc_id)
    assert all(s.cluster is None for s in samples)  # written before the run kept them
    keys = recover_clusters("es_hellaswag", [s.doc_id for s in samples], [s.doc_hash for s in samples], data_dir)
    rows = [json.loads(line) for line in (data_dir / "hellaswag" / "hellaswag_val.jsonl").read_text().splitlines()
            if line.strip()]
    assert keys == [rows[s.doc_id]["activity_label"] for s in samples]
    assert len(set(keys)) == 168


def test_one_mismatched_hash_or_no_data_recovers_nothing(data_dir: Path, tmp_path: Path) -> None:
    base, _ = _hellaswag_units()
    ids, hashes = [s.doc_id for s in base.samples], [s.doc_hash for s in base.samples]
    assert recover_clusters("es_hellaswag", ids, hashes[:-1] + ["0" * 64], data_dir) is None
    assert recover_clusters("es_hellaswag", [ids[0] + 1], hashes[:1], data_dir) is None  # another item's doc
    assert recover_clusters("es_hellaswag", ids, hashes, tmp_path) is None  # a data folder without the file
    assert recover_clusters("es_mmlu", ids, hashes, data_dir) is None  # no clusters for that task


def test_compare_clusters_the_mini_hellaswag_rows(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSUITE_DATA", str(data_dir))
    metrics = paired_metrics(pair_units(*_hellaswag_units()))
    assert [m.spec.key for m in metrics] == ["hellaswag_acc", "hellaswag_margin", "hellaswag_acc_norm"]
    assert all(m.clusters is not None and len(set(m.clusters)) == 168 for m in metrics)
    monkeypatch.delenv("EVALSUITE_DATA")
    assert all(m.clusters is None for m in paired_metrics(pair_units(*_hellaswag_units())))
