"""WikiText-2 document-level perplexity (``es_wikitext``, ``tasks/wikitext_es/``).

Its reader returns rows with the field names of the hub dataset the stock
lm-eval task uses (``EleutherAI/wikitext_document_level``), so one task
definition serves the hub and a local copy of the raw release and prompts are
byte-identical. Its headline is the token perplexity evalsuite adds to
lm-eval's word/byte perplexities; its comparable metric is ``log_ppl``.
"""

from __future__ import annotations

import re
from pathlib import Path

from evalsuite.errors import DataError
from evalsuite.families.family import Family, MetricSpec

FAMILY = Family(name="es_wikitext", key="wikitext", task_dir="wikitext_es",
                data_files=("wikitext/wikitext-2-raw/wiki.test.raw",), headline="token_perplexity")
# Compared as the log of the perplexity ratio (paired bootstrap of the ratio of sums, sign-flip p-value).
METRICS = (MetricSpec("log_ppl", "WikiText log-PPL", FAMILY.name, "log_ppl", False, FAMILY.key, True, 0),)

# A level-1 heading of WikiText: " = Title = " (and not " = = Section = = ").
_HEADING = re.compile(r"^ = [^=].* = $")


def read_wikitext_documents(path: Path) -> list[dict[str, str]]:
    """Split a raw WikiText release file into articles, as wikitext_document_level does.

    An article starts at each level-1 heading line and runs to the next; the
    lines are re-joined with newlines so the document text keeps the release's
    spacing, which the word/byte perplexity counts depend on.
    """
    if not path.exists():
        raise DataError(f"WikiText file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    docs: list[dict[str, str]] = []
    lines: list[str] = []
    for line in text.split("\n"):
        if _HEADING.match(line) and lines:
            page = "\n".join(lines)
            if page.strip():
                docs.append({"page": page})
            lines = []
        lines.append(line)
    page = "\n".join(lines)
    if page.strip():
        docs.append({"page": page})
    if not docs:
        raise DataError(f"{path}: no documents")
    return docs
