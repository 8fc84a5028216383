"""Task config hashes identify the task definition, not the machine it ran on."""

from __future__ import annotations

from lm_eval.tasks import TaskManager

from evalsuite.run.unit_eval import config_hash
from evalsuite.run.runner import TASKS_DIR


def _dump(data_dir: str) -> dict:
    tm = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"data_dir": data_dir})
    return tm.load_task_or_group(["es_mmlu_anatomy"])["es_mmlu_anatomy"].dump_config()


def test_hash_ignores_paths_and_function_addresses(real_data_dir, tmp_path):
    (tmp_path / "data").symlink_to(real_data_dir)
    a, b = _dump(str(real_data_dir)), _dump(str(tmp_path / "data"))
    assert a["metadata"]["data_dir"] != b["metadata"]["data_dir"]
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "doc_to_text": "Q: {{question}}"})


def test_ruler_data_files_are_the_ones_each_task_reads(tmp_path):
    """A synthetic RULER unit must not depend on QA files it never opens (else two machines that differ only
    in having SQuAD would refuse to pair their synthetic results)."""
    from evalsuite.run.provenance import data_files

    for rel in ("pg_essays/PaulGrahamEssays.json", "squad/dev-v2.0.json", "hotpotqa/hotpot_dev_distractor_v1.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert set(data_files("ruler_es_synthetic", tmp_path)) == {"pg_essays/PaulGrahamEssays.json"}
    assert set(data_files("ruler_es_niah_single_1", tmp_path)) == {"pg_essays/PaulGrahamEssays.json"}
    assert "squad/dev-v2.0.json" in data_files("ruler_es_qa_squad", tmp_path)
    assert "hotpotqa/hotpot_dev_distractor_v1.json" not in data_files("ruler_es_qa_squad", tmp_path)
    assert len(data_files("ruler_es", tmp_path)) == 3
