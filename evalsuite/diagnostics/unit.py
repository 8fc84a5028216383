"""The diagnostics as a suite unit: WikiText-2 test documents in, the result JSON and scalar metrics out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from evalsuite.diagnostics.probe import diagnose
from evalsuite.diagnostics.result import DiagnosticsResult
from evalsuite.records import MetricRecord

TASK = "diagnostics"
WIKITEXT_TEST = ("wikitext", "wikitext-2-raw", "wiki.test.raw")


def diagnostic_texts(data_dir: Path | None) -> tuple[list[str], Path]:
    """The WikiText-2 raw test articles under ``data_dir`` (None: the project's miniature samples) and their file."""
    from evalsuite.families.wikitext import read_wikitext_documents
    from evalsuite.paths import resolve_data_dir
    from evalsuite.families.miniature import miniature_data_dir

    path = resolve_data_dir(data_dir if data_dir is not None else miniature_data_dir(), *WIKITEXT_TEST)
    return [doc["page"] for doc in read_wikitext_documents(path)], path


def summary_metrics(result: DiagnosticsResult) -> list[MetricRecord]:
    """The scalar summaries; the gate metrics only for a gated model (a baseline has no gate to score), the
    share metrics only for a model with softmax attention."""
    values: dict[str, float | None] = {"first_token_share_mean": result.first_token_share_mean,
                                       "max_abs_hidden_mean": result.max_abs_hidden_mean,
                                       "max_abs_hidden_max": result.max_abs_hidden_max}
    if result.gates is not None:
        values.update(gate_mean=result.gates.mean, gate_frac_below_0_1=result.gates.frac_below_0_1)
    values.update(first_token_share_vs_uniform=result.first_token_share_vs_uniform,
                  frac_heads_above_0_3=result.frac_heads_above_0_3)
    return [MetricRecord(task=TASK, name=name, value=float(value), higher_is_better=None, n=result.n_tokens)
            for name, value in values.items() if value is not None]


def run_diagnostics_unit(model: nn.Module, tokenizer: Any, *, data_dir: Path | None, limit: int | None,
                         max_length: int | None) -> tuple[dict[str, Any], list[MetricRecord]]:
    """Diagnose ``model`` on WikiText-2 test windows, at most ``limit`` of them.

    The window is the model's training context where its config states it, else
    1024 tokens, capped at ``max_length`` (:func:`~evalsuite.diagnostics.probe.choose_window`).

    Returns the result's JSON (plus ``text_file``, the file read) for the unit
    record's ``extra``, and the scalar :class:`MetricRecord` summaries.
    """
    texts, path = diagnostic_texts(data_dir)
    result = diagnose(model, tokenizer, texts, max_windows=limit, max_length=max_length)
    return {**result.to_json(), "text_file": str(path)}, summary_metrics(result)
