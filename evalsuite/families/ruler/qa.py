"""RULER's question-answering tasks (``qa_squad``, ``qa_hotpot``) from local files.

Scope: read SQuAD v2 dev (``dev-v2.0.json``) and HotpotQA dev distractor
(``hotpot_dev_distractor_v1.json``) from paths given, never downloaded; check
them against the official sha256 (``verify_sha256=False`` only for tests on
small files in the same format); and build RULER's prompt: the question's gold
paragraphs, then (SQuAD) other paragraphs of the same article, then random
paragraphs of the whole file, shuffled, as many as the token budget allows.

As in lm-eval's ``qa_utils.py``, sample ``i`` asks the ``i``-th answerable
question of the file (file order), and the paragraphs of a question are never
dropped to fit: a length too short for them is a
:class:`~evalsuite.errors.SpecError`. Paragraphs are stripped of surrounding
whitespace so that they join cleanly.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from evalsuite.errors import DataError, SpecError
from evalsuite.families.ruler.tokens import Draft, Pieces, Recipe, TokenCounter

MAX_GEN_TOKS = 32
HEAD = (
    "Answer the question based on the given documents. Only give me the answer and do not output any other words."
    "\n\nThe following are given documents."
)
TAIL = (
    "\n\nAnswer the question based on the given documents. Only give me the answer and do not output any other words."
    "\n\nQuestion: {query}"
)
DOCUMENT = "\n\nDocument {i}:\n{document}"  # RULER: "Document {i}:\n{document}", joined by blank lines
GEN_PREFIX = "Answer:"
DELIMITER = " "

SHA256 = {
    "qa_squad": "80a5225e94905956a6446d296ca1093975c4d3b3260f1d6c8f68bc2ab77182d8",
    "qa_hotpot": "e3da074df24e8369009918aa5cdbdd254dadcde4c63f7569d36afd6f2268caa8",
}
FILE_NAMES = {"qa_squad": "dev-v2.0.json", "qa_hotpot": "hotpot_dev_distractor_v1.json"}


@dataclass(frozen=True)
class QAItem:
    query: str
    outputs: tuple[str, ...]
    gold: tuple[int, ...]  # paragraphs (indices into QADataset.docs) the question is about
    more: tuple[int, ...] = ()  # other paragraphs of the same article (SQuAD)


@dataclass(frozen=True, eq=False)
class QADataset:
    task: str
    path: Path
    docs: tuple[str, ...]
    items: tuple[QAItem, ...]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(task: str, path: Path, *, verify_sha256: bool = True) -> QADataset:
    """Read and check the file of ``task`` ("qa_squad" or "qa_hotpot")."""
    return _load(task, Path(path).resolve(), verify_sha256)


@cache
def _load(task: str, path: Path, verify_sha256: bool) -> QADataset:
    if not path.is_file():
        raise DataError(f"{path}: {task} data file not found")
    if verify_sha256:
        actual = sha256_of(path)
        if actual != SHA256[task]:
            raise DataError(
                f"{path}: sha256 {actual} is not the official {FILE_NAMES[task]} ({SHA256[task]}); "
                "use the unmodified file"
            )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        docs, items = _read_squad(data) if task == "qa_squad" else _read_hotpot(data)
    except (json.JSONDecodeError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a {FILE_NAMES[task]} file ({type(e).__name__}: {e})") from e
    if not items:
        raise DataError(f"{path}: no answerable questions")
    return QADataset(task, path, docs, items)


def _read_squad(data: dict) -> tuple[tuple[str, ...], tuple[QAItem, ...]]:
    docs = sorted({p["context"].strip() for d in data["data"] for p in d["paragraphs"]})
    at = {c: i for i, c in enumerate(docs)}
    items = []
    for d in data["data"]:
        article = [at[p["context"].strip()] for p in d["paragraphs"]]
        for p in d["paragraphs"]:
            here = at[p["context"].strip()]
            for qa in p["qas"]:
                if not qa.get("is_impossible", False):
                    items.append(
                        QAItem(
                            query=qa["question"],
                            outputs=tuple(a["text"] for a in qa["answers"]),
                            gold=(here,),
                            more=tuple(dict.fromkeys(i for i in article if i != here)),
                        )
                    )
    return tuple(docs), tuple(items)


def _read_hotpot(data: list) -> tuple[tuple[str, ...], tuple[QAItem, ...]]:
    def doc(title: str, sentences: list[str]) -> str:
        return f"{title}\n{''.join(sentences)}".strip()

    docs = sorted({doc(t, s) for d in data for t, s in d["context"]})
    at = {c: i for i, c in enumerate(docs)}
    items = tuple(
        QAItem(
            query=d["question"],
            outputs=(d["answer"],),
            gold=tuple(dict.fromkeys(at[doc(t, s)] for t, s in d["context"])),
        )
        for d in data
    )
    return tuple(docs), items


class _DocCosts:
    """Token counts of paragraphs and of their "Document i" headers, counted on demand."""

    def __init__(self, counter: TokenCounter, ds: QADataset) -> None:
        self.counter, self.ds = counter, ds
        self.docs = np.full(len(ds.docs), -1, dtype=np.int64)
        self.headers = np.zeros(1, dtype=np.int64)  # prefix sums over positions 1..n

    def of(self, idx: list[int]) -> np.ndarray:
        missing = [i for i in dict.fromkeys(idx) if self.docs[i] < 0]
        if missing:
            self.docs[missing] = self.counter.counts([self.ds.docs[i] for i in missing])
        return self.docs[idx]

    def header_sum(self, n: int) -> int:
        if len(self.headers) <= n:
            start, stop = len(self.headers), max(n + 1, 2 * len(self.headers), 256)
            heads = [DOCUMENT.format(i=i, document="") for i in range(start, stop)]
            more = np.cumsum(self.counter.counts(heads)) + self.headers[-1]
            self.headers = np.concatenate([self.headers, more])
        return int(self.headers[n])


def _recipe(task: str, counter: TokenCounter, ds: QADataset, costs: _DocCosts, item: QAItem, rng: random.Random) -> Recipe:
    more = list(item.more)
    rng.shuffle(more)
    taken = set(item.gold) | set(more)
    # Random other paragraphs in a random order, taken lazily as the budget needs them.
    perm = np.random.default_rng(rng.getrandbits(64)).permutation(len(ds.docs))
    others = (int(i) for i in perm if int(i) not in taken)
    order: list[int] = list(item.gold) + more
    tail = TAIL.format(query=item.query)
    c_head = counter.short_one(HEAD)
    c_close = counter.count(tail + DELIMITER + GEN_PREFIX)
    order_seed = rng.getrandbits(64)

    def plan_prefix(budget: int) -> tuple[int, np.ndarray]:
        """Grow the candidate list until it exceeds the budget; return (k, cumulative costs)."""
        while True:
            costs.header_sum(len(order))
            total = np.cumsum(costs.of(order)) + costs.headers[1 : len(order) + 1] + c_head + c_close
            if total[-1] > budget or len(order) == len(ds.docs):
                k = int(np.searchsorted(total, budget, side="right"))
                return k, total
            chunk = [i for _, i in zip(range(max(64, len(order))), others)]
            if not chunk:
                k = int(np.searchsorted(total, budget, side="right"))
                return k, total
            order.extend(chunk)

    def recipe(budget: int) -> Draft:
        k, total = plan_prefix(budget)
        if k < len(item.gold):
            raise SpecError(
                f"{task}: a prompt budget of {budget} tokens cannot hold the question's "
                f"{len(item.gold)} paragraph(s); use a longer length"
            )
        chosen = [order[j] for j in np.random.default_rng(order_seed).permutation(k)]
        pieces = Pieces()
        pieces.add(HEAD, c_head, mark=True)
        for pos, d in enumerate(chosen, start=1):
            cost = int(costs.of([d])[0]) + costs.header_sum(pos) - costs.header_sum(pos - 1)
            pieces.add(DOCUMENT.format(i=pos, document=ds.docs[d]), cost, mark=d in item.gold)
        pieces.mark_here()
        planned = int(total[k - 1])
        assert pieces.tokens + c_close == planned, "qa plan and assembly disagree"
        return Draft(
            input=pieces.text() + tail,
            gen_prefix=GEN_PREFIX,
            delimiter=DELIMITER,
            planned=planned,
            marks=tuple(pieces.marks),
            outputs=item.outputs,
            depths=tuple(chosen.index(g) / k for g in item.gold),
        )

    return recipe


def recipes(
    task: str, *, counter: TokenCounter, ds: QADataset, length: int, n_samples: int, seed: int
) -> list[Recipe]:
    """One recipe per sample: sample ``i`` asks the ``i``-th answerable question."""
    if n_samples > len(ds.items):
        raise SpecError(f"{task}: {n_samples} samples asked, {ds.path} has {len(ds.items)} answerable questions")
    costs = counter.cached(("qa_costs", task, str(ds.path)), lambda: _DocCosts(counter, ds))
    return [
        _recipe(task, counter, ds, costs, ds.items[i], random.Random(f"{seed}:{task}:{length}:{i}"))
        for i in range(n_samples)
    ]
