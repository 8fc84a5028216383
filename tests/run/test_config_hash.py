"""Task config hashes identify the task definition, not the machine it ran on."""

from __future__ import annotations

from lm_eval.tasks import TaskManager

from evalsuite.run.lmeval_unit import config_hash
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
