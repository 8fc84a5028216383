"""tasks/ruler_es under stock lm-eval: tasks load, docs build, scores come per length."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evalsuite.errors import DataError, SpecError
from evalsuite.families.ruler.generate import TASKS
from evalsuite.families.ruler.lmeval import HarnessConfig, process_results

TASKS_DIR = Path(__file__).resolve().parents[3] / "tasks"
LENGTHS = [1024, 2048]


@pytest.fixture(scope="module")
def tok_dir(smollm2: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tok")
    smollm2.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def manager(tok_dir: Path, essay_path: Path, data_dir: Path) -> Any:
    from lm_eval.tasks import TaskManager

    meta = {"tokenizer": str(tok_dir), "max_seq_lengths": LENGTHS, "samples": 2, "data_dir": str(data_dir)}
    # include_defaults=False only to keep the test fast: lm-eval's own index takes seconds to build.
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=meta)


def test_all_tasks_and_groups_are_indexed(manager: Any) -> None:
    names = set(manager.all_tasks)
    assert {f"ruler_es_{t}" for t in TASKS} <= names
    assert {"ruler_es", "ruler_es_synthetic"} <= set(manager.all_groups)


def test_docs_build_and_prompts_match_token_counts(manager: Any, smollm2: Any) -> None:
    loaded = manager.load_task_or_group(["ruler_es_niah_single_1", "ruler_es_vt", "ruler_es_cwe"])
    for name, task in loaded.items():
        docs = list(task.test_docs())
        assert sorted({d["length"] for d in docs}) == LENGTHS and len(docs) == 2 * len(LENGTHS)
        assert task.config.output_type == "generate_until" and task.config.generation_kwargs["until"] == []
        assert task.config.generation_kwargs["max_gen_toks"] == docs[0]["max_gen_toks"]
        assert task.config.metadata["version"] == 1.0
        for doc in docs:
            ctx = task.fewshot_context(doc, 0, gen_prefix=task.doc_to_prefix(doc))
            assert ctx == doc["input"] + " " + doc["gen_prefix"], name
            assert len(smollm2(ctx).input_ids) == doc["token_count"]
            assert doc["token_count"] + doc["max_gen_toks"] <= doc["length"]
        agg, hib = task.aggregation(), task.higher_is_better()
        assert all(hib[str(n)] is True and str(n) in agg for n in LENGTHS)


def test_process_results_reports_only_the_docs_length() -> None:
    doc = {"length": 4096, "outputs": ["123", "456"], "metric": "all"}
    assert process_results(doc, [" 123, then 999"]) == {"4096": 0.5}
    assert process_results({**doc, "metric": "part"}, ["456"]) == {"4096": 1.0}


def test_qa_without_data_raises_data_error(manager: Any) -> None:
    with pytest.raises(DataError, match=r"qa_squad: not run: data missing \(expected .*dev-v2\.0\.json"):
        manager.load_task_or_group(["ruler_es_qa_squad"])


def test_metadata_errors_name_the_key() -> None:
    with pytest.raises(SpecError, match="tokenizer"):
        HarnessConfig.from_metadata("vt", {"data_dir": "/x"})
    with pytest.raises(SpecError, match="samples"):
        HarnessConfig.from_metadata("vt", {"tokenizer": "t", "data_dir": "/x", "samples": "many"})
    cfg = HarnessConfig.from_metadata("vt", {"pretrained": "p", "data_dir": "/x", "max_seq_lengths": "4096,8192"})
    assert cfg.tokenizer == "p" and cfg.lengths == (4096, 8192) and cfg.samples == 100


class _NeedleFinder:
    """A stand-in model for niah_single_1: reads the queried key's value out of the prompt."""

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out = []
        for req in requests:
            ctx = req.args[0]
            key = re.search(r"for (\S+) mentioned in the provided text is$", ctx).group(1)
            out.append(" " + re.search(rf"for {re.escape(key)} is: (\d+)\.", ctx).group(1) + ".")
        return out


def test_simple_evaluate_reports_every_length_and_the_group(manager: Any) -> None:
    from lm_eval import evaluator
    from lm_eval.api.model import LM

    class FakeLM(_NeedleFinder, LM):
        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            raise NotImplementedError

        def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            raise NotImplementedError

    out = evaluator.simple_evaluate(
        model=FakeLM(), tasks=["ruler_es_niah_single_1"], task_manager=manager, bootstrap_iters=0
    )
    res = out["results"]["ruler_es_niah_single_1"]
    assert res["1024,none"] == 1.0 and res["2048,none"] == 1.0
    assert "4096,none" not in res  # no documents at 4096: no score, not a -1 placeholder
