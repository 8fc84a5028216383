"""WikiText-2 document-level perplexity: hub by default, ``wiki.test.raw`` offline.

Word and byte counts follow lm-eval's ``wikitext`` task (counted on the
original document before detokenisation) so the numbers are comparable.
"""

from __future__ import annotations

import re
from typing import Any

import datasets

from evalsuite.families.wikitext import read_wikitext_documents
from evalsuite.paths import data_dir_from, resolve_data_dir


def load_wikitext(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    local = data_dir_from(data_dir)
    if local is None:  # the real path for online users
        return datasets.load_dataset("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1")
    path = resolve_data_dir(local, "wikitext", "wikitext-2-raw", "wiki.test.raw")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(read_wikitext_documents(path))})


def wikitext_detokenizer(doc: dict[str, str]) -> str:
    """lm-eval's WikiText detokeniser, unchanged, so prompts match the stock task byte for byte."""
    string = doc["page"]
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def process_results(doc: dict[str, str], results: list[float]) -> dict[str, tuple[float, int]]:
    (loglikelihood,) = results
    words = len(re.split(r"\s+", doc["page"]))
    n_bytes = len(doc["page"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, words),
        "byte_perplexity": (loglikelihood, n_bytes),
        "bits_per_byte": (loglikelihood, n_bytes),
    }
