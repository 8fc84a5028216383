"""Task documents decoded from Arrow once per dataset instead of once per pass.

lm-eval walks a task's documents several times per run: ``list(fewshot_docs)``
when the task is built (even at 0 shots), ``doc_iterator`` when it builds the
requests, and ``doc_iterator`` again when it scores them. ``datasets.Dataset``
iteration slices the Arrow table one row at a time and runs the feature decoder
on each row (~50 us a row for HellaSwag's 12 columns): 3 x 10,042 rows were
~1.5 s of the ~3 s lm-eval spends outside the LM on 0-shot HellaSwag.

:class:`RowCachedDataset` is the same ``datasets.Dataset`` (table, features,
split, fingerprint) whose iteration in the default (python) format returns rows
decoded once in one batched pass. Each pass yields fresh copies (dicts and lists
rebuilt), so a consumer that mutates a document cannot change the next pass,
just as with a plain ``Dataset``. Any other format, or any derived dataset
(``map``, ``select``...: plain ``Dataset`` s), takes datasets' own path.
"""

from __future__ import annotations

from typing import Any, Iterator

import datasets


_CONTAINERS = (list, dict)


def _fresh(value: Any) -> Any:
    """A copy of a decoded value's containers (python-format values are str/int/float/bool/None/list/dict)."""
    if type(value) is list:
        return [_fresh(v) if type(v) in _CONTAINERS else v for v in value]
    if type(value) is dict:
        return {k: _fresh(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    return value


def _scalar(feature: Any) -> bool:
    """A column whose python values are immutable (str, numbers, bool, bytes, None): no copy needed."""
    return isinstance(feature, (datasets.Value, datasets.ClassLabel))


class RowCachedDataset(datasets.Dataset):
    """A ``datasets.Dataset`` whose python-format iteration decodes the table once (see the module doc)."""

    _row_cache: list[dict[str, Any]] | None = None

    @classmethod
    def wrap(cls, dataset: datasets.Dataset) -> datasets.Dataset:
        """The same data as a RowCachedDataset; a dataset with a format set is returned unchanged."""
        if isinstance(dataset, cls) or not isinstance(dataset, datasets.Dataset) or not cls._plain(dataset):
            return dataset
        return cls(dataset.data, info=dataset.info, split=dataset.split, indices_table=dataset._indices,
                   fingerprint=dataset._fingerprint)

    @staticmethod
    def _plain(dataset: datasets.Dataset) -> bool:
        return (dataset._format_type is None and dataset._format_columns is None
                and not dataset._output_all_columns and not dataset._format_kwargs)

    def _rows(self) -> list[dict[str, Any]]:
        if self._row_cache is None:
            columns = self[:]  # datasets' batch formatter: the row formatter's values, decoded in one pass
            names = list(columns)
            self._row_cache = [dict(zip(names, values)) for values in zip(*columns.values())]
        return self._row_cache

    def __iter__(self) -> Iterator[Any]:
        if not self._plain(self) or not self.column_names or self.num_rows == 0:
            yield from super().__iter__()
            return
        rows = self._rows()
        nested = [name for name, feature in self.features.items() if not _scalar(feature)]
        for row in rows:
            out = row.copy()
            for name in nested:
                out[name] = _fresh(out[name])
            yield out
