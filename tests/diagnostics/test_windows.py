"""Texts become windows that start the way the tokenizer starts a sequence, capped by ``max_windows``."""

from __future__ import annotations

import pytest

from evalsuite.diagnostics.windows import iter_windows, special_prefix
from evalsuite.errors import DataError


class CharTokenizer:
    """One id per character; prepends ``bos`` with special tokens, like Llama-2's tokenizer."""

    def __init__(self, bos: int | None):
        self.bos = bos

    def __call__(self, text: str, add_special_tokens: bool = True, verbose: bool = True) -> dict[str, list[int]]:
        ids = [ord(c) for c in text]
        return {"input_ids": ([self.bos] if add_special_tokens and self.bos is not None else []) + ids}


def test_each_window_starts_with_the_tokenizers_bos():
    windows = list(iter_windows(CharTokenizer(bos=1), ["abcdefghij", "xyz"], window=5))
    assert windows == [[1, *map(ord, "abcd")], [1, *map(ord, "efgh")], [1, *map(ord, "ij")], [1, *map(ord, "xyz")]]


def test_without_bos_windows_are_plain_pieces_and_one_token_tails_are_dropped():
    windows = list(iter_windows(CharTokenizer(bos=None), ["abcdefghijk", "", "q"], window=5))
    assert windows == [list(map(ord, "abcde")), list(map(ord, "fghij"))]  # "k" and "q" alone have no query


def test_max_windows_caps_the_windows():
    windows = list(iter_windows(CharTokenizer(bos=None), ["abcdefghij"] * 5, window=4, max_windows=4))
    assert len(windows) == 4 and windows[2:] == [list(map(ord, "ij")), list(map(ord, "abcd"))]  # text 1, then text 2
    assert list(iter_windows(CharTokenizer(bos=None), ["abc"], window=4, max_windows=0)) == []


def test_a_window_with_no_room_for_text_is_refused():
    with pytest.raises(DataError, match="window=1"):
        list(iter_windows(CharTokenizer(bos=1), ["abc"], window=1))


def test_special_prefix_of_real_tokenizers(load_gated):
    _, byte_tokenizer = load_gated("none")
    assert special_prefix(byte_tokenizer) == []  # no BOS: position 0 is the text's first token
    assert special_prefix(CharTokenizer(bos=7)) == [7]
