"""Readers for MMLU CSV folders, HellaSwag JSONL and WikiText raw files.

Each returns rows with the field names of the hub datasets the stock lm-eval
tasks use (``cais/mmlu``, ``Rowan/hellaswag``,
``EleutherAI/wikitext_document_level``), so one task definition serves both
sources and prompts are byte-identical. A malformed row is an error naming the
file and line: a silently skipped item would shift every paired comparison.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from evalsuite import strict_json
from evalsuite.data.locate import resolve_data_dir
from evalsuite.errors import DataError

_LETTERS = "ABCD"


def read_mmlu(data_dir: Path, subject: str, split: str) -> list[dict[str, Any]]:
    """One subject's split (dev/val/test) as cais/mmlu rows: question, subject, choices, answer (0-3)."""
    folder = {"validation": "val"}.get(split, split)
    path = resolve_data_dir(data_dir, "mmlu", folder, f"{subject}_{folder}.csv")
    rows: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line_no, rec in enumerate(csv.reader(fh), start=1):
            if len(rec) != 6:
                raise DataError(f"{path}:{line_no}: expected 6 columns (question, A, B, C, D, answer), found {len(rec)}")
            answer = rec[5].strip()
            if answer not in _LETTERS:
                raise DataError(f"{path}:{line_no}: answer must be one of A/B/C/D, found {answer!r}")
            rows.append(
                {"question": rec[0], "subject": subject, "choices": rec[1:5], "answer": _LETTERS.index(answer)}
            )
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


_HELLASWAG_FIELDS = ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "label", "split")


def read_hellaswag(path: Path) -> list[dict[str, Any]]:
    """HellaSwag JSONL with Rowan/hellaswag field names; labels kept as strings like the original."""
    if not path.exists():
        raise DataError(f"HellaSwag file {path} does not exist")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = strict_json.loads(line, source=f"{path}:{line_no}", error=DataError)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, found {type(row).__name__}")
            missing = [f for f in ("activity_label", "ctx_a", "ctx_b", "endings", "label") if f not in row]
            if missing:
                raise DataError(f"{path}:{line_no}: missing field(s) {', '.join(missing)}")
            for name in ("activity_label", "ctx_a", "ctx_b"):
                if not isinstance(row[name], str):
                    raise DataError(f"{path}:{line_no}: {name!r} must be a string, found {row[name]!r}")
            endings = row["endings"]
            if not isinstance(endings, list) or len(endings) != 4 or not all(isinstance(e, str) for e in endings):
                raise DataError(f"{path}:{line_no}: 'endings' must be a list of 4 strings, found {endings!r}")
            if str(row["label"]) not in {"0", "1", "2", "3"}:
                raise DataError(f"{path}:{line_no}: label must be 0-3, found {row['label']!r}")
            row["label"] = str(row["label"])
            rows.append({k: row.get(k, "") for k in _HELLASWAG_FIELDS})
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


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
