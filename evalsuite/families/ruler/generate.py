"""Offline, token-exact RULER: the generator's public entry points.

Scope: the 13 RULER tasks (what each needs, its generation budget and metric),
the sample record, :func:`generate` for one task and length, and the
``evalsuite ruler generate`` command (:func:`main_generate`), which writes one
JSONL file per task and length plus a manifest.

Token budget: a sample's prompt is ``input + target_delimiter + gen_prefix``,
exactly what lm-eval feeds the model for a ``generate_until`` task with a
``gen_prefix`` and no chat template. ``token_count`` is that prompt's length
with this tokenizer, including any special tokens it adds by default, and
``token_count + max_gen_toks <= length`` always holds.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from evalsuite import strict_json
from evalsuite.errors import SpecError
from evalsuite.families.ruler import niah, qa, vt, words
from evalsuite.families.ruler.haystack import load_essay
from evalsuite.families.ruler.tokens import VERIFY_MODES, Recipe, Verify, counter_for, verify_drafts
from evalsuite.families.ruler.wordlist import ADJECTIVES, NOUNS, essay_vocabulary

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_LENGTHS: tuple[int, ...] = (4096, 8192, 16384, 32768, 65536, 131072)
DEFAULT_SEED = 42
DEFAULT_SAMPLES = 100
ESSAY_FILE = Path("pg_essays/PaulGrahamEssays.json")
QA_FILES = {"qa_squad": Path("squad/dev-v2.0.json"), "qa_hotpot": Path("hotpotqa/hotpot_dev_distractor_v1.json")}


@dataclass(frozen=True)
class TaskSpec:
    """What a RULER task needs and how it is scored (max_gen_toks as lm-eval/RULER)."""

    name: str
    max_gen_toks: int
    metric: Literal["all", "part"]  # string_match.match_all / match_part
    needs: Literal["nothing", "essay", "qa"]


SPECS: dict[str, TaskSpec] = {
    s.name: s
    for s in (
        TaskSpec("niah_single_1", niah.MAX_GEN_TOKS, "all", "nothing"),
        TaskSpec("niah_single_2", niah.MAX_GEN_TOKS, "all", "essay"),
        TaskSpec("niah_single_3", niah.MAX_GEN_TOKS, "all", "essay"),
        TaskSpec("niah_multikey_1", niah.MAX_GEN_TOKS, "all", "essay"),
        TaskSpec("niah_multikey_2", niah.MAX_GEN_TOKS, "all", "nothing"),
        TaskSpec("niah_multikey_3", niah.MAX_GEN_TOKS, "all", "nothing"),
        TaskSpec("niah_multivalue", niah.MAX_GEN_TOKS, "all", "essay"),
        TaskSpec("niah_multiquery", niah.MAX_GEN_TOKS, "all", "essay"),
        TaskSpec("vt", vt.MAX_GEN_TOKS, "all", "nothing"),
        TaskSpec("cwe", words.CWE_MAX_GEN_TOKS, "all", "essay"),  # its word pool is the essay vocabulary
        TaskSpec("fwe", words.FWE_MAX_GEN_TOKS, "all", "nothing"),
        TaskSpec("qa_squad", qa.MAX_GEN_TOKS, "part", "qa"),
        TaskSpec("qa_hotpot", qa.MAX_GEN_TOKS, "part", "qa"),
    )
}
TASKS: tuple[str, ...] = tuple(SPECS)


@dataclass(frozen=True)
class QAPaths:
    """Local QA files; ``None`` (or a path that does not exist) means not available."""

    squad: Path | None = None
    hotpot: Path | None = None

    def for_task(self, task: str) -> Path | None:
        return {"qa_squad": self.squad, "qa_hotpot": self.hotpot}[task]


@dataclass(frozen=True)
class RulerDataPaths:
    """Where the generator reads its files, laid out as the shared data folder."""

    essay: Path
    qa: QAPaths

    @classmethod
    def from_dir(cls, data_dir: str | os.PathLike[str]) -> RulerDataPaths:
        root = Path(data_dir)
        return cls(root / ESSAY_FILE, QAPaths(root / QA_FILES["qa_squad"], root / QA_FILES["qa_hotpot"]))


@dataclass(frozen=True)
class RulerSample:
    """One generated prompt with its references (one line of the JSONL)."""

    task: str
    length: int  # the context length this sample is sized for
    index: int
    input: str  # lm-eval's doc_to_text
    outputs: tuple[str, ...]  # reference answers
    gen_prefix: str  # RULER's answer prefix, lm-eval's gen_prefix
    target_delimiter: str  # between input and gen_prefix
    max_gen_toks: int
    token_count: int  # tokens of `prompt`, special tokens included
    depths: tuple[float, ...]  # where the needles / chain links / gold paragraphs sit, 0-1
    metric: str  # "all" (string_match_all) or "part" (string_match_part)
    seed: int

    @property
    def prompt(self) -> str:
        return self.input + self.target_delimiter + self.gen_prefix

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NotRun:
    """A task that was not generated, with the reason (e.g. its data file is missing)."""

    task: str
    length: int
    reason: str
    status: str = field(default="not_run")


def generate(
    task: str,
    *,
    tokenizer: Any,
    length: int,
    n_samples: int,
    seed: int = DEFAULT_SEED,
    haystack_path: str | os.PathLike[str] | None = None,
    qa_paths: QAPaths | None = None,
    verify: Verify = "spot",
    verify_sha256: bool = True,
) -> list[RulerSample] | NotRun:
    """Generate ``n_samples`` samples of ``task`` sized to ``length`` tokens of ``tokenizer``.

    ``haystack_path`` is RULER's essay file (needed by the essay tasks and
    ``cwe``); ``qa_paths`` the SQuAD / HotpotQA files: a QA task whose file is
    absent returns :class:`NotRun`. ``verify="full"`` re-tokenizes every prompt;
    ``"spot"`` re-tokenizes the first and checks every junction of the others
    (see :mod:`evalsuite.families.ruler.tokens`). Same arguments, same samples.
    """
    spec = _check(task, length, n_samples, verify)
    counter = counter_for(tokenizer)
    budget = length - spec.max_gen_toks - counter.n_special
    if spec.needs == "qa":
        path = (qa_paths or QAPaths()).for_task(task)
        if path is None or not Path(path).is_file():
            return NotRun(task, length, _missing_reason(task, path))
    job = _Job(task, spec, length, budget, n_samples, seed, haystack_path, qa_paths or QAPaths(), verify_sha256)
    recipes = _recipes(job, counter)
    drafts = [r(budget) for r in recipes]
    counts = verify_drafts(counter, recipes, drafts, budget, verify=verify)
    samples = []
    for i, (d, n) in enumerate(zip(drafts, counts, strict=True)):
        token_count = n + counter.n_special
        assert token_count + spec.max_gen_toks <= length, f"{task}[{i}]: {token_count} tokens over {length}"
        samples.append(
            RulerSample(
                task=task,
                length=length,
                index=i,
                input=d.input,
                outputs=tuple(d.outputs),
                gen_prefix=d.gen_prefix,
                target_delimiter=d.delimiter,
                max_gen_toks=spec.max_gen_toks,
                token_count=token_count,
                depths=tuple(d.depths),
                metric=spec.metric,
                seed=seed,
            )
        )
    return samples


def _check(task: str, length: int, n_samples: int, verify: str) -> TaskSpec:
    if task not in SPECS:
        raise SpecError(f"unknown RULER task {task!r}; known: {', '.join(TASKS)}")
    spec = SPECS[task]
    if not isinstance(length, int) or length <= spec.max_gen_toks:
        raise SpecError(f"{task}: length {length!r} must be an integer above max_gen_toks={spec.max_gen_toks}")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise SpecError(f"{task}: n_samples must be a positive integer, got {n_samples!r}")
    if verify not in VERIFY_MODES:
        raise SpecError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    return spec


def _missing_reason(task: str, path: Path | None) -> str:
    where = f"expected {path}" if path is not None else "no path given"
    return (
        f"{task}: not run: data missing ({where}; the official {qa.FILE_NAMES[task]}, "
        f"sha256 {qa.SHA256[task]})"
    )


@dataclass(frozen=True)
class _Job:
    """One (task, length) to generate, as :func:`generate` was asked."""

    task: str
    spec: TaskSpec
    length: int
    budget: int  # prompt tokens allowed, special tokens and max_gen_toks already taken off
    n_samples: int
    seed: int
    haystack_path: str | os.PathLike[str] | None
    qa_paths: QAPaths
    verify_sha256: bool


def _recipes(job: _Job, counter: Any) -> list[Recipe]:
    task, common = job.task, {"counter": counter, "length": job.length, "n_samples": job.n_samples, "seed": job.seed}
    if job.spec.needs == "essay" and job.haystack_path is None:
        raise SpecError(f"{task} needs the essay haystack: pass haystack_path (RULER's PaulGrahamEssays.json)")
    if task in niah.CONFIGS:
        essay = load_essay(Path(job.haystack_path)) if job.spec.needs == "essay" else None  # type: ignore[arg-type]
        return niah.recipes(task, budget=job.budget, essay=essay, **common)
    if task == "vt":
        return vt.recipes(**common)
    if task == "cwe":
        return words.cwe_recipes(pool=_essay_words(Path(job.haystack_path)), **common)  # type: ignore[arg-type]
    if task == "fwe":
        return words.fwe_recipes(**common)
    path = job.qa_paths.for_task(task)
    assert path is not None
    return qa.recipes(task, ds=qa.load(task, Path(path), verify_sha256=job.verify_sha256), **common)


@cache
def _essay_words(path: Path) -> tuple[str, ...]:
    """cwe's word pool: the essay vocabulary plus the embedded key words (so a small haystack still works)."""
    return tuple(sorted(set(essay_vocabulary(load_essay(path).text)) | set(ADJECTIVES) | set(NOUNS)))


# ---------------------------------------------------------------- tokenizers


def load_tokenizer(source: str | os.PathLike[str]) -> Any:
    """A tokenizer from a directory, a hub id (offline cache) or a ``.gguf`` file.

    A directory without ``tokenizer.json`` but with exactly one ``.gguf`` file
    counts as that GGUF file.
    A GGUF file's tokenizer is converted once and kept under
    ``$XDG_CACHE_HOME/evalsuite/tokenizers`` (default ``~/.cache``), since the
    conversion takes seconds.
    """
    from transformers import AutoTokenizer

    from evalsuite.errors import ModelLoadError

    src = str(source)
    folder = Path(src)
    if folder.is_dir() and not (folder / "tokenizer.json").is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        if len(ggufs) == 1:  # a GGUF-only model folder: its tokenizer is inside the GGUF
            src = str(ggufs[0])
    try:
        if src.endswith(".gguf"):
            gguf = Path(src).resolve()
            st = gguf.stat()
            cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evalsuite" / "tokenizers"
            cached = cache_root / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"
            if (cached / "tokenizer.json").is_file():
                return AutoTokenizer.from_pretrained(cached, trust_remote_code=False)
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
            try:
                tok.save_pretrained(cached)
            except OSError as e:  # a read-only home still works, just slower next time
                log.warning("could not cache the GGUF tokenizer at %s: %s", cached, e)
            return tok
        return AutoTokenizer.from_pretrained(src, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"tokenizer {src!r} could not be loaded offline: {e}") from e


# ---------------------------------------------------------------- files and CLI


def write_jsonl(samples: Sequence[RulerSample], path: Path) -> None:
    """Write samples one JSON object a line, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(strict_json.dumps(s.to_record(), where=str(path), ensure_ascii=False) + "\n")
    tmp.replace(path)


def parse_lengths(text: str | int | Sequence[int | str]) -> tuple[int, ...]:
    """``"4096,8192"``, ``4096`` or ``[4096, "8192"]`` to a tuple of ints (SpecError otherwise)."""
    items = text.split(",") if isinstance(text, str) else [text] if isinstance(text, int) else list(text)
    try:
        lengths = tuple(int(str(x).strip()) for x in items if str(x).strip())
    except ValueError as e:
        raise SpecError(f"lengths must be integers like 32768,131072; got {text!r}") from e
    if not lengths or any(n <= 0 for n in lengths):
        raise SpecError(f"lengths must be positive integers like 32768,131072; got {text!r}")
    return lengths


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evalsuite ruler generate",
        description="Generate RULER samples offline, token-exact for one tokenizer; one JSONL per task and length.",
    )
    p.add_argument("--tokenizer", required=True, help="tokenizer directory, hub id (offline cache) or .gguf file")
    p.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)), help="comma-separated, e.g. 32768,131072")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="samples per task and length")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--data", default=os.environ.get("EVALSUITE_DATA"), help="data folder (default $EVALSUITE_DATA)")
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of the 13 tasks")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--verify", choices=VERIFY_MODES, default="spot", help="re-tokenize every prompt, or spot-check")
    return p


def _write_unit(result: list[RulerSample] | NotRun, out_dir: Path, task: str, length: int) -> dict[str, Any]:
    """Write one (task, length): its JSONL, or a ``.not_run.json`` record; return its manifest entry."""
    unit: dict[str, Any] = {"task": task, "length": length}
    if isinstance(result, NotRun):
        out = out_dir / task / f"{length}.not_run.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        strict_json.write(out, asdict(result))
        print(result.reason)
        return unit | {"status": "not_run", "reason": result.reason, "path": str(out)}
    out = out_dir / task / f"{length}.jsonl"
    write_jsonl(result, out)
    print(f"{task} {length}: {len(result)} samples -> {out}")
    return unit | {
        "status": "ok",
        "samples": len(result),
        "max_token_count": max(s.token_count for s in result),
        "path": str(out),
    }


def main_generate(argv: Sequence[str] | None = None) -> int:
    """``evalsuite ruler generate``: write ``OUT/<task>/<length>.jsonl`` and ``OUT/manifest.json``.

    A QA task without its data file writes ``OUT/<task>/<length>.not_run.json``
    and is listed as ``not_run`` in the manifest. Returns the exit code (0).
    """
    args = _parser().parse_args(argv)
    if not args.data:
        raise SpecError("--data is required (or set EVALSUITE_DATA): the folder holding pg_essays/ (and squad/, hotpotqa/)")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    lengths = parse_lengths(args.lengths)
    for t in tasks:
        _check(t, min(lengths), args.samples, args.verify)
    paths = RulerDataPaths.from_dir(args.data)
    tokenizer = load_tokenizer(args.tokenizer)
    units = []
    started = time.perf_counter()
    for length in lengths:
        for task in tasks:
            t0 = time.perf_counter()
            result = generate(
                task,
                tokenizer=tokenizer,
                length=length,
                n_samples=args.samples,
                seed=args.seed,
                haystack_path=paths.essay,
                qa_paths=paths.qa,
                verify=args.verify,
            )
            units.append(_write_unit(result, args.out, task, length) | {"seconds": round(time.perf_counter() - t0, 3)})
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "generator": "evalsuite.ruler",
        "tokenizer": str(args.tokenizer),
        "seed": args.seed,
        "samples": args.samples,
        "lengths": list(lengths),
        "verify": args.verify,
        "essay": str(paths.essay),
        "seconds": round(time.perf_counter() - started, 3),
        "units": units,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    strict_json.write(args.out / "manifest.json", manifest)
    return 0
