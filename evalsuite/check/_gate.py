"""The CI regression gate: is a candidate run significantly worse than a reference run?

For every model of the candidate (matched to the reference by name, or by
``model_map={"cand": "ref"}``) and every headline metric, a one-sided paired
test of H0 "worse by at most the margin" against H1 "worse by more than the
margin" (:mod:`evalsuite.stats.noninferiority`: Tango's score test for
accuracies, the shifted sign-flip test for RULER fractions and log-PPL). The
burden of proof is on "worse": a noisy metric passes. The p-values of all
tests are Holm-adjusted together (``correction="none"`` to disable), so a suite
of many metrics does not fail by chance alone.

Default margins (:data:`DEFAULT_MARGINS`), in each metric's natural units:

* accuracies and RULER scores (fractions): 0.01, i.e. one point;
* ``log_ppl``: 0.01 nats, i.e. a 1 % higher perplexity;
* p(gold) companions: 0.01, one point of mean probability on the gold choice;
* the HellaSwag margin companion (nats of the gold-vs-best-distractor
  log-likelihood margin): 0.4 — about the gold-score shift that costs one
  accuracy point on real per-item vectors (``results/stats/power.md``'s effect
  sizes: 0.37 nats moves SmolLM2's raw HellaSwag accuracy by 0.8 points).

``signal="companion"`` (``--signal companion``; ``pgold``, its first name, is
kept as an alias) gates each accuracy's continuous companion — the one the
leaderboard shows, :data:`evalsuite.compare._choices.COMPANION_FOR` — instead
of the accuracy (the shifted sign-flip test, with its own margin, e.g.
``--margin hellaswag_margin=0.2``); the default stays the accuracy.

The gate refuses what it cannot vouch for: a candidate run that is not
``complete``, or that lacks a (model, task) the reference has a complete result
for (a whole model, a task, a unit that failed or was not run), is "cannot
decide", never "pass" — unless the caller opts out with ``allow_missing=True``
(``--allow-missing``), and then every missing piece is listed in the summary.

Exit codes: 0 no metric worse by more than its margin; 1 at least one is; bad
input (a missing run, an incomplete candidate, records that do not pair, an
unknown metric in a margin) raises :class:`~evalsuite.errors.EvalsuiteError`,
which the CLI maps to 2.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evalsuite import stats
from evalsuite.check._versions import version_notes
from evalsuite.compare._choices import is_margin
from evalsuite.compare._family import family_records, merge_units, task_family
from evalsuite.compare._join import pair_units
from evalsuite.compare._metrics import (
    COMPANIONS,
    UNIT_TASKS,
    MetricArrays,
    known_metric_pattern,
    known_metrics_help,
    paired_metrics,
)
from evalsuite.compare._tests import point_values, row_rng, seed_of, worse_by_margin
from evalsuite.errors import RecordError, SpecError
from evalsuite.records import RunRecord, UnitRecord, load_run

DEFAULT_MARGINS: dict[str, float] = {
    "log_ppl": 0.01,  # nats: exp(0.01) = a 1 % higher perplexity
    "mmlu_acc*": 0.01,  # one accuracy point (also the per-category metrics, when asked for)
    "hellaswag_acc*": 0.01,
    "ruler_*": 0.01,  # one point of the per-length average over RULER tasks
    "*_pgold*": 0.01,  # one point of mean probability on the gold choice (with --signal companion)
    "hellaswag_margin*": 0.4,  # nats of the gold-vs-best-distractor margin (see the module docstring)
}
SIGNALS = ("accuracy", "companion", "pgold")  # pgold: the companion signal's first name, kept as an alias
_FRACTION_FAMILIES = ("mmlu", "hellaswag", "ruler")


@dataclass(frozen=True)
class CheckRow:
    """One gated metric of one model. Values: fractions, or PPL for log_ppl; ``delta``, ``margin``,
    ``degradation`` and ``lower_bound`` in the test's units (fraction or log-PPL nats)."""

    model: str
    reference_model: str
    metric: str
    label: str
    higher_is_better: bool
    n: int
    reference_value: float
    candidate_value: float
    delta: float
    margin: float
    degradation: float  # positive = candidate worse
    lower_bound: float  # one-sided (1 - alpha) lower bound of the degradation
    pvalue: float
    pvalue_adjusted: float
    worse: bool
    method: str


@dataclass(frozen=True)
class CheckResult:
    reference: str  # run folder paths
    candidate: str
    reference_run: str  # run ids
    candidate_run: str
    rows: tuple[CheckRow, ...]
    alpha: float
    correction: str
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # evidence the reference has and the candidate lacks (--allow-missing)
    signal: str = "accuracy"

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.worse)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0: nothing significantly worse by more than its margin; 1: something is."""
        return 0 if self.passed else 1

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rows],
                            columns=list(CheckRow.__dataclass_fields__))

    def to_markdown(self) -> str:
        from evalsuite.check._summary import summary_markdown

        return summary_markdown(self)


def parse_margins(values: Mapping[str, float | str] | None) -> dict[str, float]:
    """Validate ``{metric or glob: margin}`` (numbers or their text); SpecError naming an unknown
    metric or a bad value."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        if not known_metric_pattern(key):
            raise SpecError(f"--margin {key}={value}: unknown metric {key!r} (known: {known_metrics_help()}; "
                            "globs like ruler_* work)")
        try:
            margin = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"--margin {key}={value}: the margin must be a number, e.g. {key}=0.01") from None
        if not math.isfinite(margin) or margin < 0:
            raise SpecError(f"--margin {key}={value}: the margin must be a finite number >= 0")
        family = key.split("_", 1)[0]
        if family in _FRACTION_FAMILIES and margin >= 1 and not is_margin(key):  # a log-likelihood margin: nats
            raise SpecError(f"--margin {key}={value}: {key} is a fraction, so its margin is too "
                            "(0.01 = one point)")
        out[key] = margin
    return out


def _margin_for(key: str, given: Mapping[str, float]) -> float | None:
    """The user's exact key, then the user's first matching glob, then the defaults; None: not gated."""
    if key in given:
        return given[key]
    for pattern, margin in given.items():
        if fnmatch.fnmatchcase(key, pattern):
            return margin
    for pattern, margin in DEFAULT_MARGINS.items():
        if fnmatch.fnmatchcase(key, pattern):
            return margin
    return None


def _gated(data: MetricArrays, given: Mapping[str, float], forced: frozenset[str] = frozenset()) -> float | None:
    """The margin when this metric is gated: headline metrics (and ``forced`` ones) always, others when a
    margin names them."""
    named = data.spec.key in given or any(fnmatch.fnmatchcase(data.spec.key, p) for p in given)
    return _margin_for(data.spec.key, given) if data.spec.headline or named or data.spec.key in forced else None


def _signal_metrics(metrics: list[MetricArrays], signal: str, model: str,
                    notes: list[str]) -> tuple[list[MetricArrays], frozenset[str]]:
    """With ``signal="companion"`` each gated accuracy gives way to its companion (gated in its place,
    with its own margin); an accuracy whose records cannot give one stays, with a note. Returns the metrics
    and the companion keys to gate."""
    if signal == "accuracy":
        return metrics, frozenset()
    keys = {m.spec.key for m in metrics}
    out, forced = [], set()
    for m in metrics:
        companion = COMPANIONS.get(m.spec.key, (None, False))[0]
        if companion is not None and companion in keys:
            forced.add(companion)
            continue
        if companion is not None:
            notes.append(f"{m.spec.key} for {model}: no {companion} companion (the records lack per-choice "
                         "log-likelihoods or choice lengths); gated on the accuracy")
        out.append(m)
    return out, frozenset(forced)


def match_models(reference: RunRecord, candidate: RunRecord, model_map: Mapping[str, str] | None,
                 notes: list[str]) -> list[tuple[str, str]]:
    """(candidate model, reference model) pairs: by name, ``model_map`` overriding."""
    model_map = dict(model_map or {})
    for cand, ref in model_map.items():
        if cand not in candidate.models:
            raise SpecError(f"--model {cand}={ref}: no model {cand!r} in the candidate run "
                            f"(models: {', '.join(candidate.models)})")
        if ref not in reference.models:
            raise SpecError(f"--model {cand}={ref}: no model {ref!r} in the reference run "
                            f"(models: {', '.join(reference.models)})")
    pairs = []
    for cand in candidate.models:
        ref = model_map.get(cand, cand)
        if ref in reference.models:
            pairs.append((cand, ref))
        else:
            notes.append(f"candidate model {cand!r} has no reference model of that name: not checked")
    if not pairs:
        raise RecordError(f"no candidate model matches a reference model (candidate: {', '.join(candidate.models)}; "
                          f"reference: {', '.join(reference.models)}); map them with --model CAND=REF")
    return pairs


def missing_evidence(reference: RunRecord, candidate: RunRecord, pairs: list[tuple[str, str]]) -> list[str]:
    """What the candidate lacks to be checked as fully as the reference allows: its run's completeness,
    every reference model it does not have, every family (or other task) the reference completed for a
    model and the candidate did not. RULER's shapes (group, single tasks) count as one family."""
    out = []
    if candidate.manifest.status != "complete":
        out.append(f"the candidate run's status is {candidate.manifest.status!r}, not 'complete'")
    cand_of = {ref: cand for cand, ref in pairs}

    def done(run: RunRecord, model: str) -> set[str]:
        return {task_family(t) or t for (m, t), u in run.units.items() if m == model and u.status == "complete"}

    for ref in reference.models:
        wanted = done(reference, ref)
        if ref not in cand_of:
            if wanted:
                out.append(f"model {ref!r} ({', '.join(sorted(wanted))})")
            continue
        cand = cand_of[ref]
        label = cand if cand == ref else f"{cand} (reference {ref})"
        errors = {task_family(t) or t: u.error for (m, t), u in candidate.units.items()
                  if m == cand and u.status == "error" and u.error}
        out += [f"{label}/{task}" + (f" (error: {errors[task]})" if task in errors else "")
                for task in sorted(wanted - done(candidate, cand))]
    return out


def _units(reference: RunRecord, candidate: RunRecord, cand: str, ref: str, family: str,
           notes: list[str], allow_missing: bool) -> tuple[UnitRecord, UnitRecord] | None:
    """Both models' complete units of a metric family (several single RULER tasks seen as one), None (with a
    note) when the reference has none or a side's units are all not run for missing data, else refuse."""
    r_all = family_records(reference, ref, family)
    c_all = family_records(candidate, cand, family)
    if not r_all:
        if c_all:
            names = "/".join(u.task for u in c_all)
            notes.append(f"{names}: {cand!r} has no reference result to compare with; not checked")
        return None
    for side, units, model in (("reference", r_all, ref), ("candidate", c_all, cand)):
        for unit in units:
            if unit.status == "not_run":  # data missing: nothing to gate on
                notes.append(f"{unit.task}: not run for {model} in the {side} run ({unit.error}); not checked")
    r_run = [u for u in r_all if u.status != "not_run"]
    c_run = [u for u in c_all if u.status != "not_run"]
    if not r_run or (c_all and not c_run):
        return None
    if allow_missing and (not c_all or any(u.status != "complete" for u in c_run)):
        return None  # listed in the summary as missing
    if not c_all:
        raise RecordError(f"{'/'.join(u.task for u in r_run)}: the candidate run has no complete result for "
                          f"{cand!r} (no record); the gate cannot vouch for it")
    for side, units, model in (("reference", r_run, ref), ("candidate", c_run, cand)):
        for unit in units:
            if unit.status != "complete":
                raise RecordError(f"{unit.task}: the {side} run has no complete result for {model!r} "
                                  f"({unit.status}: {unit.error}); the gate cannot vouch for it")
    return merge_units(r_run), merge_units(c_run)


def check(reference: Path | str, candidate: Path | str, *, margins: Mapping[str, float | str] | None = None,
          alpha: float = 0.05, model_map: Mapping[str, str] | None = None, correction: str = "holm",
          n_resamples: int = 10_000, rng: np.random.Generator | int | None = 0,
          allow_missing: bool = False, signal: str = "accuracy") -> CheckResult:
    """Gate ``candidate`` against ``reference`` (run or suite folders); see the module docstring."""
    if not 0.0 < alpha < 1.0:
        raise SpecError(f"--alpha {alpha}: must be in (0, 1), e.g. 0.05")
    if correction not in ("holm", "none"):
        raise SpecError(f"--correction {correction!r}: must be 'holm' or 'none'")
    if signal not in SIGNALS:
        raise SpecError(f"--signal {signal!r}: must be one of {', '.join(SIGNALS)}")
    given = parse_margins(margins)
    ref_run, cand_run = load_run(reference), load_run(candidate)
    notes: list[str] = []
    if ref_run.manifest.status != "complete":
        notes.append(f"the reference run's status is {ref_run.manifest.status!r}: only what it has is checked")
    pairs = match_models(ref_run, cand_run, model_map, notes)
    missing = missing_evidence(ref_run, cand_run, pairs)
    if missing and not allow_missing:
        shown = "; ".join(missing[:6]) + (f"; and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise RecordError(f"the candidate run lacks evidence the reference has, so the gate cannot vouch for it: "
                          f"{shown}. Rerun what is missing, or pass --allow-missing to check only what is there")
    seed = seed_of(rng)
    tests: list[tuple[str, str, MetricArrays, float, stats.NonInferiorityResult]] = []
    for cand, ref in pairs:
        for family in UNIT_TASKS:
            units = _units(ref_run, cand_run, cand, ref, family, notes, allow_missing)
            if units is None:
                continue
            metrics, forced = _signal_metrics(paired_metrics(pair_units(*units)), signal, cand, notes)
            for data in metrics:
                margin = _gated(data, given, forced)
                if margin is None:
                    continue
                result = worse_by_margin(data, margin=margin, alpha=alpha, n_resamples=n_resamples,
                                         rng=row_rng(seed, "check", cand, ref, data.spec.key))
                tests.append((cand, ref, data, margin, result))
    if not tests:
        raise RecordError("nothing to check: the runs share no complete unit with a gated metric")
    pvalues = np.array([t[4].pvalue for t in tests])
    adjusted = stats.adjust_pvalues(pvalues, method="holm", alpha=alpha).pvalues_adjusted \
        if correction == "holm" else pvalues
    rows = []
    for (cand, ref, data, margin, res), p_adj in zip(tests, adjusted, strict=True):
        ref_value, cand_value = point_values(data)
        rows.append(CheckRow(model=cand, reference_model=ref, metric=data.spec.key, label=data.spec.label,
                             higher_is_better=data.spec.higher_is_better, n=res.n, reference_value=ref_value,
                             candidate_value=cand_value, delta=res.delta, margin=margin,
                             degradation=res.degradation, lower_bound=res.lower_bound, pvalue=res.pvalue,
                             pvalue_adjusted=float(p_adj), worse=bool(p_adj < alpha), method=res.method))
    unused = [k for k in given if not any(r.metric == k or fnmatch.fnmatchcase(r.metric, k) for r in rows)]
    notes += [f"--margin {k}: no such metric in these runs" for k in unused]
    notes += version_notes(ref_run, cand_run)
    return CheckResult(reference=ref_run.path, candidate=cand_run.path, reference_run=ref_run.manifest.run_id,
                       candidate_run=cand_run.manifest.run_id, rows=tuple(rows), alpha=alpha,
                       correction=correction, notes=tuple(notes), missing=tuple(missing), signal=signal)
