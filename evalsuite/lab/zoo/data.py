"""The pretraining corpus as packed token sequences, and held-out documents as evaluation windows.

Corpus parts are xz-compressed JSONL, one book a line (``{"author", "title",
"text"}``). Books are tokenized whole with the fast tokenizer's ``encode_batch``
(the Rust side spreads the batch over all cores), joined in file order with
the tokenizer's end-of-text id after every book, and cut into chunks of
``seq_len + 1`` tokens with stride ``seq_len`` (each chunk's last token is the
next chunk's first input, so every token after the first is a target exactly
once per epoch). The order of chunks is a permutation drawn from
``(seed, epoch)``; the three variants of a trio read the identical sequence of
batches.

Held-out books are cut into the same kind of windows inside each book, plus
a shorter last window, so a book's negative log-likelihood sums over all of
its tokens but the first. (WikiText-2 is scored by the harness, es_wikitext.)
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evalsuite import strict_json
from evalsuite.errors import DataError
from evalsuite.engine.encode import parallel_tokenizers
from evalsuite.models.loader import sha256_file

ENDOFTEXT = "<|endoftext|>"


def read_books(path: Path, *, limit: int | None = None) -> list[dict[str, str]]:
    """The books of one corpus part, in file order (``limit``: the first ``limit`` books only)."""
    books: list[dict[str, str]] = []
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if limit is not None and len(books) >= limit:
                break
            try:
                row = strict_json.loads(line, source=f"{path}:{line_no}", error=DataError)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row.get("text"), str):
                raise DataError(f"{path}:{line_no}: a book needs a 'text' string")
            books.append({"author": row.get("author", ""), "title": row.get("title", ""), "text": row["text"]})
    if not books:
        raise DataError(f"{path}: no books")
    return books


class TextTokenizer:
    """The fast tokenizer of a ``tokenizer.json``, used directly (no special tokens added)."""

    def __init__(self, tokenizer_json: Path):
        from tokenizers import Tokenizer

        self.path = Path(tokenizer_json)
        self.backend = Tokenizer.from_file(str(self.path))
        eot = self.backend.token_to_id(ENDOFTEXT)
        if eot is None:
            raise DataError(f"{self.path}: no {ENDOFTEXT} token")
        self.eot_id = int(eot)
        self.vocab_size = self.backend.get_vocab_size()
        self.sha256 = sha256_file(self.path)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text (int32), encoded in parallel on every core."""
        with parallel_tokenizers():  # the CLI turns it off for lm-eval's forks; we want it here
            encodings = self.backend.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int32) for e in encodings]


def token_stream(paths: Sequence[Path], tokenizer: TextTokenizer, *, books_per_part: int | None = None) -> tuple[np.ndarray, int]:
    """All books of ``paths`` (in order) as one int32 stream with the end-of-text id after each; and the book count."""
    pieces: list[np.ndarray] = []
    n_books = 0
    eot = np.asarray([tokenizer.eot_id], dtype=np.int32)
    for path in paths:
        books = read_books(path, limit=books_per_part)
        for ids in tokenizer.encode([b["text"] for b in books]):
            pieces += [ids, eot]
        n_books += len(books)
    return np.concatenate(pieces), n_books


class PackedCorpus:
    """A token stream cut into ``seq_len + 1`` chunks; batches in a seeded order, on the stream's device."""

    def __init__(self, stream: torch.Tensor, *, seq_len: int, seed: int):
        if stream.dim() != 1:
            raise ValueError(f"stream must be 1-D, got shape {tuple(stream.shape)}")
        self.stream, self.seq_len, self.seed = stream, seq_len, seed
        self.n_chunks = (stream.numel() - 1) // seq_len
        if self.n_chunks < 1:
            raise DataError(f"a stream of {stream.numel()} tokens holds no chunk of {seq_len + 1}")
        self._offsets = torch.arange(seq_len + 1, device=stream.device)  # (L+1,)
        self._orders: dict[int, torch.Tensor] = {}

    def order(self, epoch: int) -> torch.Tensor:
        """The chunk order of ``epoch``: a permutation drawn from numpy's generator seeded with (seed, epoch)."""
        if epoch not in self._orders:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_chunks)
            self._orders = {epoch: torch.as_tensor(perm, device=self.stream.device)}  # keep one epoch
        return self._orders[epoch]

    def batches_per_epoch(self, batch_size: int) -> int:
        n = self.n_chunks // batch_size
        if n < 1:
            raise DataError(f"{self.n_chunks} chunks make no batch of {batch_size}")
        return n

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets ``(B, L)`` (int64) of global step ``step``; the last partial batch of an epoch is skipped."""
        per_epoch = self.batches_per_epoch(batch_size)
        epoch, k = divmod(step, per_epoch)
        chunk_ids = self.order(epoch)[k * batch_size:(k + 1) * batch_size]  # (B,)
        index = chunk_ids[:, None] * self.seq_len + self._offsets  # (B, L+1)
        chunk = self.stream[index].long()
        return chunk[:, :-1], chunk[:, 1:]

    def epochs_for(self, steps: int, batch_size: int) -> float:
        return steps / self.batches_per_epoch(batch_size)


@dataclass(frozen=True)
class EvalDoc:
    """One evaluation document: its name and token ids (int32)."""

    name: str
    ids: np.ndarray


def doc_windows(ids: np.ndarray, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(inputs, targets)`` windows of at most ``seq_len`` targets that together predict ``ids[1:]`` once."""
    for start in range(0, len(ids) - 1, seq_len):
        piece = ids[start:start + seq_len + 1]
        if len(piece) >= 2:
            yield piece[:-1], piece[1:]


def books_as_docs(path: Path, tokenizer: TextTokenizer, *, limit: int | None = None,
                  max_tokens: int | None = None) -> list[EvalDoc]:
    """Held-out books as documents (``limit`` books, each cut to ``max_tokens``: for smoke runs only)."""
    books = read_books(path, limit=limit)
    return [EvalDoc(f"{b['author']}: {b['title']}"[:120], ids[:max_tokens])
            for b, ids in zip(books, tokenizer.encode([b["text"] for b in books]))]
