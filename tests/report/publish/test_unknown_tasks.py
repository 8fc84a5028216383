"""publish: a finished unit of a task the page has no table for (an MMLU subset, another benchmark) is named in
the Notes, never dropped without a word."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.compare.ruler_shapes import _replace_manifest_entry
from tests.conftest_records import BASE, GATED, write_run
from evalsuite.report.publish import publish
from evalsuite.records import read_unit, write_unit


def test_a_unit_without_a_table_is_named_in_the_notes(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, [BASE, GATED])
    mmlu = read_unit(run_dir, GATED.name, "es_mmlu")
    write_unit(run_dir, replace(mmlu, task="es_mmlu_stem", task_info={**mmlu.task_info, "spec": {"task": "es_mmlu_stem"}}))
    _replace_manifest_entry(run_dir, None, {f"{GATED.name}/es_mmlu_stem": {"status": "complete", "seconds": 1.0}})
    page = publish([run_dir], n_resamples=50, seed=0).read_text()
    notes = page.split("## Notes\n", 1)[1]
    assert f"{GATED.name}: es\\_mmlu\\_stem ran but this page has no table for it" in notes  # markdown-escaped
