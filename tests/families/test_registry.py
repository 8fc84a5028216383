"""The family registry: every family's task folder, data files and headline, and which files a task reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsuite.families import FAMILIES, FAMILY_NAMES, family_of, files_read
from evalsuite.families.ruler import fetch

REPO = Path(__file__).resolve().parents[2]


def test_every_family_has_its_task_folder_and_a_yaml_for_its_name() -> None:
    assert FAMILY_NAMES == ("es_wikitext", "es_mmlu", "es_hellaswag", "ruler_es")  # table order
    for family in FAMILIES:
        folder = REPO / "tasks" / family.task_dir
        assert (folder / "utils.py").is_file(), family.name
        assert any(f"{family.name}\n" in p.read_text() for p in folder.glob("*.yaml")), family.name


def test_family_of_a_task_or_subtask() -> None:
    assert family_of("es_mmlu_anatomy").key == "mmlu" and family_of("ruler_es_vt").key == "ruler"
    assert family_of("es_wikitext").headline == "token_perplexity" and family_of("ruler_es").headline is None
    assert family_of("diagnostics") is None and family_of("es_mmlux") is None


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    for rel in ("mmlu/dev/anatomy_dev.csv", "mmlu/dev/virology_dev.csv", "mmlu/test/anatomy_test.csv",
                "hellaswag/hellaswag_val.jsonl", "wikitext/wikitext-2-raw/wiki.test.raw",
                "pg_essays/PaulGrahamEssays.json", "squad/dev-v2.0.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    return tmp_path


def test_files_read_per_task(data_dir: Path, tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path_factory.mktemp("cache")))
    assert list(files_read("es_mmlu", data_dir)) == ["mmlu/dev/anatomy_dev.csv", "mmlu/dev/virology_dev.csv",
                                                      "mmlu/test/anatomy_test.csv"]
    assert list(files_read("es_mmlu_anatomy", data_dir)) == ["mmlu/dev/anatomy_dev.csv", "mmlu/test/anatomy_test.csv"]
    assert len(files_read("es_mmlu_stem", data_dir)) == 3  # a category group reads every subject
    assert list(files_read("es_hellaswag", data_dir)) == ["hellaswag/hellaswag_val.jsonl"]  # train is absent
    assert list(files_read("ruler_es_vt", data_dir)) == ["pg_essays/PaulGrahamEssays.json"]
    assert list(files_read("ruler_es_qa_squad", data_dir)) == ["pg_essays/PaulGrahamEssays.json",
                                                                "squad/dev-v2.0.json"]
    assert list(files_read("ruler_es", data_dir)) == ["pg_essays/PaulGrahamEssays.json", "squad/dev-v2.0.json"]
    cached = fetch.cached_path("qa_hotpot")  # a QA file fetched into the cache is named as such
    cached.parent.mkdir(parents=True)
    cached.write_text("{}")
    assert files_read("ruler_es_qa_hotpot", data_dir)["cache:hotpotqa/hotpot_dev_distractor_v1.json"] == cached
    assert files_read("diagnostics", data_dir) == {}


def test_each_family_declares_its_metrics() -> None:
    from evalsuite.families import hellaswag, mmlu, wikitext
    from evalsuite.families.ruler.family import length_label, metric_spec

    for module in (wikitext, mmlu, hellaswag):
        assert module.METRICS and {(m.unit_task, m.family) for m in module.METRICS} == {
            (module.FAMILY.name, module.FAMILY.key)}
        assert any(m.headline for m in module.METRICS)
    assert [m.key for m in mmlu.METRICS] == ["mmlu_acc", "mmlu_acc_stem", "mmlu_acc_humanities",
                                             "mmlu_acc_social_sciences", "mmlu_acc_other"]
    assert metric_spec(65536).label == "RULER 64K" and metric_spec(65536).unit_task == "ruler_es"
    assert length_label(131072) == "128K" and length_label(5000) == "5000"
