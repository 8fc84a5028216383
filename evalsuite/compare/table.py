"""Compare every candidate model of one or more runs with its baseline, metric by metric.

Baselines come from the suite spec recorded in each run's manifest: a model's
``compare_to`` when set; otherwise, for a model whose role is not ``baseline``
or ``reference``, the suite's single ``baseline`` model (or, failing that, its
single ``reference`` model). ``baselines={"cand": "base"}`` overrides both. A
model with no unambiguous baseline is listed in ``notes``, not guessed.

The p-values of all rows (every candidate, every metric) form one family and
are adjusted together (Holm by default, or Benjamini-Hochberg).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from evalsuite import stats
from evalsuite.compare.format import stars
from evalsuite.compare.family import family_tasks, merge_units
from evalsuite.compare.join import pair_units
from evalsuite.compare.metrics import UNIT_TASKS, MetricArrays, paired_metrics
from evalsuite.compare.tests import RNGLike, paired_test, point_values, power_at, row_rng, seed_of
from evalsuite.errors import RecordError, SpecError
from evalsuite.records import RunRecord, UnitRecord, load_run

Correction = Literal["holm", "bh"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}
_BASELINE_ROLES = ("baseline", "reference")


@dataclass(frozen=True)
class ComparisonRow:
    """One (candidate, metric) comparison. Values are fractions (accuracy, RULER) or PPL;
    ``delta`` and its interval are in the test's units (fraction, or log-PPL in nats)."""

    candidate: str
    baseline: str
    metric: str
    label: str
    family: str
    higher_is_better: bool
    n: int
    reference_value: float
    candidate_value: float
    delta: float
    ci_low: float
    ci_high: float
    confidence_level: float
    pvalue: float
    mde: float
    method: str
    n_strata: int = 1
    count_unit: str | None = None  # "token"/"word" for perplexity
    pvalue_adjusted: float = math.nan
    significant: bool = False
    design_effect: float = 1.0  # variance inflation from clustered items (1.0: items resampled one by one)
    paper_delta: float | None = None  # the paper's delta in this row's units (p(gold): translated)
    paper_power: float = math.nan  # this test's power for paper_delta at this n and this pair's spread
    companion_of: str | None = None  # a p(gold) row: the accuracy it accompanies
    result: stats.PairedResult | stats.InteractionResult | None = field(default=None, repr=False, compare=False)

    @property
    def stars(self) -> str:
        return stars(self.pvalue_adjusted)

    @property
    def better(self) -> bool:
        """True when the delta points the good way (lower log-PPL, higher score)."""
        return self.delta > 0 if self.higher_is_better else self.delta < 0


@dataclass(frozen=True)
class ComparisonTable:
    """All comparisons of a suite, with the family-wide multiplicity correction applied."""

    rows: tuple[ComparisonRow, ...]
    correction: Correction
    alpha: float
    confidence_level: float
    n_resamples: int
    pairs: tuple[tuple[str, str], ...]  # (candidate, baseline) in table order
    notes: tuple[str, ...] = ()

    def row(self, candidate: str, metric: str) -> ComparisonRow:
        for r in self.rows:
            if r.candidate == candidate and r.metric == metric:
                return r
        raise KeyError(f"no comparison of {candidate!r} on {metric!r}")

    def to_frame(self) -> pd.DataFrame:
        """One row per comparison; PPL columns filled for log_ppl (the values are PPLs there)."""
        records = []
        for r in self.rows:
            d = {k: v for k, v in asdict(r).items() if k != "result"}
            d["stars"] = r.stars
            d["correction"] = self.correction
            records.append(d)
        columns = [f.name for f in ComparisonRow.__dataclass_fields__.values() if f.name != "result"]
        return pd.DataFrame.from_records(records, columns=[*columns, "stars", "correction"])


@dataclass(frozen=True)
class _Model:
    name: str
    run: RunRecord
    role: str
    compare_to: str | None


def as_runs(runs: RunRecord | str | Path | Sequence[RunRecord | str | Path]) -> list[RunRecord]:
    """Load paths (run or suite folders) and pass records through."""
    if isinstance(runs, (RunRecord, str, Path)):
        runs = [runs]
    out = [r if isinstance(r, RunRecord) else load_run(r) for r in runs]
    if not out:
        raise RecordError("no runs given")
    return out


def collect_models(runs: Sequence[RunRecord]) -> dict[str, _Model]:
    """Every model of the runs with its role; a name in two runs is refused (which one would it be?)."""
    models: dict[str, _Model] = {}
    for run in runs:
        spec = {m.get("name"): m for m in run.manifest.suite_spec.get("models", []) if isinstance(m, dict)}
        asked = [key.split("/", 1)[0] for key in run.manifest.units]  # a model the run never ran is not in it
        for name in dict.fromkeys([*asked, *run.models]):
            if name in models:
                raise RecordError(f"model {name!r} appears in both {models[name].run.path} and {run.path}; "
                                  "publish or compare runs whose model names differ")
            info = spec.get(name, {})
            models[name] = _Model(name, run, str(info.get("role") or "candidate"), info.get("compare_to"))
    return models


def resolve_baselines(models: Mapping[str, _Model], overrides: Mapping[str, str] | None = None,
                      ) -> tuple[list[tuple[str, str]], list[str]]:
    """(candidate, baseline) pairs in model order, and notes on models left without one."""
    overrides = dict(overrides or {})
    for cand, base in overrides.items():
        for name in (cand, base):
            if name not in models:
                raise SpecError(f"--baseline {cand}={base}: no model {name!r} in the runs "
                                f"(models: {', '.join(models)})")
    pool = [n for n, m in models.items() if m.role == "baseline"] or [
        n for n, m in models.items() if m.role == "reference"]
    pairs, notes = [], []
    for name, model in models.items():
        if name in overrides:
            base = overrides[name]
        elif model.compare_to:
            base = model.compare_to
            if base not in models:
                notes.append(f"{name}: its compare_to {base!r} is not among the runs given; not compared")
                continue
        elif model.role in _BASELINE_ROLES:
            continue
        elif len(pool) == 1:
            base = pool[0]
        else:
            notes.append(f"{name}: no baseline to compare with ({'several: ' + ', '.join(pool) if pool else 'none'}"
                         " in the suite); set compare_to or pass --baseline")
            continue
        if base != name:
            pairs.append((name, base))
    return pairs, notes


def _status(model: _Model, task: str) -> str:
    """Why the model's unit of ``task`` has no result (it is listed or recorded, but not complete)."""
    unit = model.run.units.get((model.name, task))
    entry = model.run.manifest.units.get(f"{model.name}/{task}") or {}
    status = unit.status if unit is not None else entry.get("status", "missing")
    error = (unit.error if unit is not None else entry.get("error")) or ""
    if error.startswith(status.replace("_", " ")):  # "not run: data missing" says it already
        return error
    return f"{status}{': ' + error if error else ''}"


def _units(model: _Model, family: str) -> tuple[list[UnitRecord], str | None, list[str]]:
    """The model's complete units of a metric family (one, or several single RULER tasks); when none is
    complete, why (None when none was ever asked for); and the family's unit tasks of the model."""
    tasks = family_tasks(model.run, model.name, family)
    complete = [u for t in tasks if (u := model.run.units.get((model.name, t))) is not None
                and u.status == "complete"]
    if complete or not tasks:
        return complete, None, tasks
    if len(tasks) == 1:
        return [], _status(model, tasks[0]), tasks
    return [], f"not complete ({'; '.join(f'{t}: {_status(model, t)}' for t in tasks)})", tasks


def compare_runs(
    runs: RunRecord | str | Path | Sequence[RunRecord | str | Path],
    *,
    baselines: Mapping[str, str] | None = None,
    correction: Correction = "holm",
    alpha: float = 0.05,
    confidence_level: float = 0.95,
    n_resamples: int = 10_000,
    rng: RNGLike = None,
    strict: bool = True,
) -> ComparisonTable:
    """Paired comparison of each candidate with its baseline on every shared metric.

    ``strict=False`` turns a refusal to pair two units (different prompts, data
    or items) into a note instead of an error, so a leaderboard can still show
    the other metrics and say why one is missing.
    """
    if correction not in _METHODS:
        raise SpecError(f"correction must be 'holm' or 'bh', got {correction!r}")
    if not 0.0 < alpha < 1.0:
        raise SpecError(f"alpha must be in (0, 1), e.g. 0.05; got {alpha!r}")
    models = collect_models(as_runs(runs))
    pairs, notes = resolve_baselines(models, baselines)
    seed = seed_of(rng)
    rows: list[ComparisonRow] = []
    for cand, base in pairs:
        for family in UNIT_TASKS:
            (ref_units, ref_why, ref_tasks), (cand_units, cand_why, cand_tasks) = (
                _units(models[base], family), _units(models[cand], family))
            task = "/".join(dict.fromkeys([*ref_tasks, *cand_tasks])) or family  # what the notes name
            if not ref_units or not cand_units:
                if ref_why or cand_why:
                    side = f"{base} is {ref_why}" if ref_why else f"{cand} is {cand_why}"
                    notes.append(f"{task}: {cand} vs {base} not compared ({side})")
                continue
            try:
                metrics = paired_metrics(pair_units(merge_units(ref_units), merge_units(cand_units)))
            except RecordError as exc:
                if strict:
                    raise
                notes.append(f"{task}: {cand} vs {base} not compared: {exc}")
                continue
            rows += [_row(data, cand, base, n_resamples=n_resamples, confidence_level=confidence_level,
                          seed=seed) for data in metrics]
            trend = _trend_row(metrics, cand, base, n_resamples=n_resamples, confidence_level=confidence_level,
                               seed=seed)
            rows += [trend] if trend is not None else []
    rows = _adjusted(rows, correction, alpha)
    return ComparisonTable(rows=tuple(rows), correction=correction, alpha=alpha, confidence_level=confidence_level,
                           n_resamples=n_resamples, pairs=tuple(pairs), notes=tuple(notes))


def _row(data: MetricArrays, cand: str, base: str, *, n_resamples: int, confidence_level: float,
         seed: int) -> ComparisonRow:
    res = paired_test(data, n_resamples=n_resamples, confidence_level=confidence_level,
                      rng=row_rng(seed, cand, base, data.spec.key))
    ref_value, cand_value = point_values(data)
    power = power_at(data, res, data.paper_delta)
    return ComparisonRow(
        candidate=cand, baseline=base, metric=data.spec.key, label=data.spec.label, family=data.spec.family,
        higher_is_better=data.spec.higher_is_better, n=res.n, reference_value=ref_value,
        candidate_value=cand_value, delta=res.statistic, ci_low=res.confidence_interval.low,
        ci_high=res.confidence_interval.high, confidence_level=confidence_level, pvalue=res.pvalue, mde=res.mde,
        method=res.method, n_strata=res.n_strata, count_unit=data.count_unit,
        design_effect=getattr(res, "design_effect", 1.0), paper_delta=data.paper_delta,
        paper_power=power.power if power is not None else math.nan, companion_of=data.spec.companion_of,
        result=res)


TREND = "ruler_trend"


def _trend_row(metrics: list[MetricArrays], cand: str, base: str, *, n_resamples: int, confidence_level: float,
               seed: int) -> ComparisonRow | None:
    """RULER with three or more lengths: the length x model interaction (slope of the delta per doubling)."""
    ruler = [m for m in metrics if m.spec.family == "ruler"]
    if len({m.spec.key for m in ruler}) < 3:
        return None
    lengths = [int(m.spec.key.removeprefix("ruler_")) for m in ruler]
    res = stats.length_interaction([m.reference for m in ruler], [m.candidate for m in ruler], lengths,
                                   strata=[m.strata for m in ruler], n_resamples=n_resamples,
                                   confidence_level=confidence_level, rng=row_rng(seed, cand, base, TREND))
    return ComparisonRow(
        candidate=cand, baseline=base, metric=TREND, label="RULER Δ per doubling of length", family="ruler",
        higher_is_better=True, n=res.n, reference_value=math.nan, candidate_value=math.nan, delta=res.statistic,
        ci_low=res.confidence_interval.low, ci_high=res.confidence_interval.high,
        confidence_level=confidence_level, pvalue=res.pvalue, mde=math.nan, method=res.method, result=res)


def _adjusted(rows: list[ComparisonRow], correction: Correction, alpha: float) -> list[ComparisonRow]:
    if not rows:
        return rows
    adj = stats.adjust_pvalues([r.pvalue for r in rows], method=_METHODS[correction], alpha=alpha)
    return [replace(r, pvalue_adjusted=float(p), significant=bool(rej))
            for r, p, rej in zip(rows, adj.pvalues_adjusted, adj.reject, strict=True)]
