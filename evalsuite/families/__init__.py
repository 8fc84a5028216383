"""Benchmark data in its original release formats, read from a local folder.

The real path for users is the Hugging Face hub (the task YAML's default);
these readers serve the offline path: a folder laid out like ``../shared/data``
(``mmlu/{dev,val,test}/<subject>_<split>.csv``, ``hellaswag/hellaswag_val.jsonl``,
``wikitext/wikitext-2-raw/wiki.test.raw``), named by ``EVALSUITE_DATA`` or an option.
"""

from evalsuite.data.locate import data_dir_from, resolve_data_dir
from evalsuite.data.readers import read_hellaswag, read_mmlu, read_wikitext_documents

__all__ = [
    "data_dir_from",
    "resolve_data_dir",
    "read_hellaswag",
    "read_mmlu",
    "read_wikitext_documents",
]
