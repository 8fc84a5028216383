"""Miniature benchmark samples, written by the project in the original release formats.

Used when no data folder is given and the hub is unreachable, so that
``make eval`` always runs end to end. They exercise every code path; their
scores mean nothing. The real data lives in a folder named by ``EVALSUITE_DATA``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from evalsuite import strict_json
from evalsuite.paths import cache_root

VERSION = "1"
_NOUNS = ["river", "engine", "garden", "letter", "market", "planet", "window", "teacher", "forest", "signal",
          "harbor", "violin", "castle", "rocket", "island", "museum", "lantern", "bridge", "meadow", "kettle"]
_VERBS = ["opens", "crosses", "paints", "follows", "carries", "measures", "repairs", "watches", "builds", "finds"]


def _subjects() -> list[str]:
    from evalsuite.data.subjects import MMLU_SUBJECTS

    return list(MMLU_SUBJECTS)


def _sentence(rng: random.Random) -> str:
    return f"The {rng.choice(_NOUNS)} {rng.choice(_VERBS)} the {rng.choice(_NOUNS)} near the {rng.choice(_NOUNS)}."


def write_miniature(root: Path, *, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for split, n in (("dev", 5), ("val", 2), ("test", 4)):
        folder = root / "mmlu" / split
        folder.mkdir(parents=True, exist_ok=True)
        for subject in _subjects():
            with (folder / f"{subject}_{split}.csv").open("w", newline="") as fh:
                w = csv.writer(fh)
                for _ in range(n):
                    a, b = rng.randint(2, 40), rng.randint(2, 40)
                    right = a + b
                    wrong = rng.sample([x for x in range(4, 90) if x != right], 3)
                    choices = wrong + [right]
                    rng.shuffle(choices)
                    w.writerow([f"What is {a} plus {b}?", *map(str, choices), "ABCD"[choices.index(right)]])
    hs = root / "hellaswag"
    hs.mkdir(parents=True, exist_ok=True)
    with (hs / "hellaswag_val.jsonl").open("w") as fh:
        for i in range(40):
            ctx_a = _sentence(rng)
            endings = [_sentence(rng) for _ in range(4)]
            row = {"ind": i, "activity_label": rng.choice(["Cooking", "Sailing", "Painting"]), "ctx_a": ctx_a,
                   "ctx_b": "", "ctx": ctx_a, "endings": endings, "label": str(rng.randrange(4)), "split": "val"}
            fh.write(strict_json.dumps(row, where="hellaswag_val.jsonl") + "\n")
    wt = root / "wikitext" / "wikitext-2-raw"
    wt.mkdir(parents=True, exist_ok=True)
    lines = [" "]
    for d in range(6):
        lines += [f" = Article {d} = ", " "]
        for _ in range(3):
            lines += [" " + " ".join(_sentence(rng) for _ in range(6)) + " ", " "]
    (wt / "wiki.test.raw").write_text("\n".join(lines) + "\n")
    pg = root / "pg_essays"
    pg.mkdir(parents=True, exist_ok=True)
    essay = " ".join(_sentence(rng) for _ in range(4000))
    (pg / "PaulGrahamEssays.json").write_text(strict_json.dumps({"text": essay}, where="PaulGrahamEssays.json"))
    (root / ".complete").write_text(VERSION)
    return root


def miniature_data_dir() -> Path:
    root = cache_root() / f"mini-data-v{VERSION}"
    if not (root / ".complete").exists():
        write_miniature(root)
    return root
