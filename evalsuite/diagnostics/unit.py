"""The diagnostics as a suite unit: WikiText-2 test documents in, the result JSON and scalar metrics out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from evalsuite.diagnostics.probe import DEFAULT_WINDOW, default_window, diagnose
from evalsuite.diagnostics.result import DiagnosticsResult
from evalsuite.records import MetricRecord

TASK = "diagnostics"
WIKITEXT_TEST = ("wikitext", "wikitext-2-raw", "wiki.test.raw")


def diagnostic_texts(data_dir: Path | None) -> tuple[list[str], Path]:
    """The WikiText-2 raw test articles under ``data_dir`` (None: the project's miniature samples) and their file."""
    from evalsuite.data import read_wikitext_documents, resolve_data_dir
    from evalsuite.data.miniature import miniature_data_dir

    path = resolve_data_dir(data_dir if data_dir is not None else miniature_data_dir(), *WIKITEXT_TEST)
    return [doc["page"] for doc in read_wikitext_documents(path)], path


def summary_metrics(result: DiagnosticsResult) -> list[MetricRecord]:
    """The scalar summaries; the gate metrics only for a gated model (a baseline has no gate to score)."""
    values: dict[str, float] = {"first_token_share_mean": result.first_token_share_mean,
                                "max_abs_hidden_mean": result.max_abs_hidden_mean,
                                "max_abs_hidden_max": result.max_abs_hidden_max}
    if result.gates is not None:
        values.update(gate_mean=result.gates.mean, gate_frac_below_0_1=result.gates.frac_below_0_1)
    return [MetricRecord(task=TASK, name=name, value=float(value), higher_is_better=None, n=result.n_tokens)
            for name, value in values.items()]


def run_diagnostics_unit(model: nn.Module, tokenizer: Any, *, data_dir: Path | None, limit: int | None,
                         max_length: int | None) -> tuple[dict[str, Any], list[MetricRecord]]:
    """Diagnose ``model`` on WikiText-2 test windows of ``min(1024, max_length)`` tokens, at most ``limit`` windows.

    Returns the result's JSON (plus ``text_file``, the file read) for the unit
    record's ``extra``, and the scalar :class:`MetricRecord` summaries.
    """
    texts, path = diagnostic_texts(data_dir)
    window = min(DEFAULT_WINDOW, max_length) if max_length else default_window(model)
    result = diagnose(model, tokenizer, texts, window=window, max_windows=limit)
    return {**result.to_json(), "text_file": str(path)}, summary_metrics(result)
