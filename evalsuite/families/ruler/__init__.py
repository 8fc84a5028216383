"""Offline, token-exact RULER (Hsieh et al. 2024) for evalsuite.

The 13 tasks of RULER, generated from local files for one tokenizer so that
every prompt plus its generation budget fits a context length exactly; scored
with RULER's ``string_match_all`` / ``string_match_part``; served to lm-eval by
``tasks/ruler_es``. Modules: ``generate`` (entry points), ``niah``, ``vt``,
``words`` (cwe, fwe), ``qa``, ``haystack``, ``tokens`` (counting and
verification), ``wordlist``, ``string_match`` (the scores), ``fetch`` (the QA files), ``lmeval``
(lm-eval glue), ``cli`` (``evalsuite ruler generate``); the family's own knowledge (names, data files,
headline) is ``family``. Its generation benchmark is a lab tool (``ruler/bench.py``, outside the product).
"""

from __future__ import annotations

from evalsuite.families.ruler.generate import (
    SPECS,
    TASKS,
    NotRun,
    QAPaths,
    RulerDataPaths,
    RulerSample,
    TaskSpec,
    generate,
    load_tokenizer,
    main_generate,
)
from evalsuite.families.ruler.string_match import string_match_all, string_match_part

__all__ = [
    "SPECS",
    "TASKS",
    "NotRun",
    "QAPaths",
    "RulerDataPaths",
    "RulerSample",
    "TaskSpec",
    "generate",
    "load_tokenizer",
    "main_generate",
    "string_match_all",
    "string_match_part",
]
