"""Paired tests that resample whole clusters: items that share a source are not independent.

HellaSwag takes several items from one activity source; RULER samples can share a
haystack. Items of one cluster tend to move together between two models, so an
item-level test counts one piece of evidence several times and its p-values run
small. Here the resampling unit is the cluster:

* p-value: a paired sign-flip permutation test that swaps the two models' scores
  on a whole cluster at once (flip the sign of the cluster's summed difference).
  Under H0 "the two models are exchangeable on every cluster" it is exact at any
  number of clusters; with one item per cluster it is the item sign-flip test, and
  for 0/1 scores the Monte-Carlo version of exact McNemar.
* interval: a percentile bootstrap of the ratio ``sum(diffs) / items`` over
  resampled clusters, stratified when clusters sit inside strata (each stratum
  resampled to its own number of clusters).
* design effect: ``Var_cluster / Var_iid`` of the mean difference, both from the
  data (the cluster-robust "sandwich" variance over the naive item variance);
  about 1 when clustering does not matter, and ``n / design_effect`` is the
  effective number of independent items the MDE is computed for.

The companion of an accuracy (``p(gold)``, a probability per item) goes through
:func:`paired_score_test`; a clustered accuracy through :func:`clustered_mcnemar`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evalsuite.errors import RecordError
from evalsuite.stats import _inputs
from evalsuite.stats._resample import RNGLike, as_generator, bootstrap_sums, percentile_interval, signflip_pvalue
from evalsuite.stats.paired import minimum_detectable_effect
from evalsuite.stats.results import ConfidenceInterval, PairedResult, readonly


@dataclass(frozen=True, kw_only=True)
class ClusteredResult(PairedResult):
    """A paired comparison resampled by cluster. ``design_effect`` is the variance of the mean
    difference under clustering over its variance if the items were independent (1.0 without
    clusters); ``n_clusters`` the number of resampling units (``n`` without clusters)."""

    design_effect: float
    n_clusters: int


@dataclass(frozen=True)
class ClusterDesign:
    """Items grouped into clusters (nested in strata): what the resampling tests draw."""

    cluster_of_item: np.ndarray  # (n,) cluster index 0..C-1
    sizes: np.ndarray  # (C,) items per cluster
    stratum_of_cluster: np.ndarray | None  # (C,) stratum code, None when unstratified

    @property
    def n_clusters(self) -> int:
        return int(self.sizes.size)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-cluster sums of a per-item array, (C,)."""
        return np.bincount(self.cluster_of_item, weights=values, minlength=self.n_clusters)


def cluster_design(n: int, *, clusters: ArrayLike | None, strata: ArrayLike | None) -> ClusterDesign:
    """Cluster codes for ``n`` items (each item its own cluster when ``clusters`` is None); refuses a
    cluster whose items lie in two strata (a cluster must be resampled whole, inside one stratum)."""
    codes, _ = _inputs.strata_codes(strata, n)
    if clusters is None:
        return ClusterDesign(np.arange(n), np.ones(n), codes)
    labels = np.asarray(clusters)
    if labels.shape != (n,):
        raise RecordError(f"clusters must give one label per item ({n}), got shape {labels.shape}")
    _, cluster = np.unique(labels, return_inverse=True)
    cluster = cluster.astype(np.intp)
    sizes = np.bincount(cluster).astype(np.float64)
    if codes is None:
        return ClusterDesign(cluster, sizes, None)
    stratum = np.full(sizes.size, -1, dtype=np.intp)
    stratum[cluster] = codes
    if (stratum[cluster] != codes).any():
        i = int(np.flatnonzero(stratum[cluster] != codes)[0])
        raise RecordError(f"cluster {labels[i]!r} spans more than one stratum; clusters must nest in strata")
    return ClusterDesign(cluster, sizes, stratum)


def design_effect(diffs: np.ndarray, design: ClusterDesign) -> float:
    """Cluster-robust variance of ``mean(diffs)`` over the i.i.d. variance (both with the small-sample
    factors ``C/(C-1)`` and ``n/(n-1)``), within strata when there are strata. NaN when undefined."""
    n, c = diffs.size, design.n_clusters
    if n < 2 or c < 2:
        return math.nan
    strata = design.stratum_of_cluster
    item_strata = None if strata is None else strata[design.cluster_of_item]
    centre_item = _stratum_means(diffs, item_strata)  # (n,) each item's stratum mean
    resid = diffs - centre_item
    iid = float(resid @ resid) * n / (n - 1)
    if iid <= 0.0:
        return math.nan
    totals = design.sums(resid)  # (C,) summed residuals per cluster
    clustered = float(totals @ totals) * c / (c - 1)
    return clustered / iid


def _stratum_means(values: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    if codes is None:
        return np.full(values.size, values.mean())
    sums = np.bincount(codes, weights=values)
    counts = np.bincount(codes)
    return (sums / np.maximum(counts, 1))[codes]


def _clustered_distribution(diffs: np.ndarray, design: ClusterDesign, n_resamples: int,
                            rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distribution (B,) of the item-mean difference, clusters resampled (within strata)."""
    columns = np.column_stack([design.sums(diffs), design.sizes])  # (C, 2)
    sums = bootstrap_sums(columns, codes=design.stratum_of_cluster, n_resamples=n_resamples, rng=rng)
    return sums[:, 0] / sums[:, 1]


def _test(reference: np.ndarray, candidate: np.ndarray, *, strata: ArrayLike | None, clusters: ArrayLike | None,
          n_resamples: int, rng: RNGLike) -> tuple[np.ndarray, ClusterDesign, float, np.ndarray, float, float]:
    """(diffs, design, design effect, bootstrap distribution, p-value, sd of diffs)."""
    n = _inputs.same_length(reference=reference, candidate=candidate)
    design = cluster_design(n, clusters=clusters, strata=strata)
    generator = as_generator(rng)
    diffs = candidate - reference  # (n,)
    distribution = _clustered_distribution(diffs, design, n_resamples, generator)
    pvalue = signflip_pvalue(design.sums(diffs), n_resamples=n_resamples, rng=generator)
    deff = design_effect(diffs, design) if clusters is not None else 1.0
    sd = float(diffs.std(ddof=1)) if n > 1 else math.nan
    return diffs, design, deff, distribution, pvalue, sd


def _effective_n(n: int, deff: float) -> int:
    """Items worth of independent evidence: ``n / max(deff, 1)`` (a design effect below 1 is not credited)."""
    return max(2, int(round(n / max(deff, 1.0)))) if math.isfinite(deff) else n


def paired_score_test(
    reference: ArrayLike,
    candidate: ArrayLike,
    *,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    rng: RNGLike = None,
    metric: str = "score",
) -> ClusteredResult:
    """Paired test of a continuous per-item score (e.g. p(gold) in [0, 1]), clusters resampled whole.

    ``statistic`` is ``mean(candidate - reference)`` over items. p-value: the
    cluster sign-flip permutation test; interval: the cluster bootstrap,
    stratified with ``strata``; MDE: the t-based MDE of
    :func:`~evalsuite.stats.paired.minimum_detectable_effect` at the effective
    ``n / design_effect``.
    """
    _inputs.options(n_resamples=n_resamples, level=confidence_level)
    ref = _inputs.vector("reference", reference)
    cand = _inputs.vector("candidate", candidate)
    diffs, design, deff, dist, pvalue, sd = _test(ref, cand, strata=strata, clusters=clusters,
                                                  n_resamples=n_resamples, rng=rng)
    n = diffs.size
    return ClusteredResult(
        metric=metric,
        method="paired sign-flip permutation test; paired bootstrap percentile CI"
        + (" over clusters" if clusters is not None else "")
        + (" stratified" if design.stratum_of_cluster is not None else ""),
        n=n, statistic=float(diffs.mean()), pvalue=pvalue,
        confidence_interval=ConfidenceInterval(*percentile_interval(dist, confidence_level), confidence_level),
        standard_error=float(dist.std(ddof=1)) if n_resamples > 1 else math.nan,
        mde=minimum_detectable_effect(_effective_n(n, deff), sd=sd) if n > 1 else math.nan,
        reference_value=float(ref.mean()), candidate_value=float(cand.mean()), n_resamples=n_resamples,
        n_strata=int(design.stratum_of_cluster.max()) + 1 if design.stratum_of_cluster is not None else 1,
        bootstrap_distribution=readonly(dist), design_effect=deff, n_clusters=design.n_clusters,
    )


def clustered_mcnemar(
    reference: ArrayLike,
    candidate: ArrayLike,
    *,
    clusters: ArrayLike,
    strata: ArrayLike | None = None,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    rng: RNGLike = None,
    metric: str = "accuracy",
) -> ClusteredResult:
    """Paired test of two 0/1 scores whose items come in clusters: McNemar's question, asked of clusters.

    The discordant pairs of one cluster are not independent coin flips, so the
    exact binomial of McNemar is replaced by the cluster sign-flip permutation
    test of the summed differences (with singleton clusters it is McNemar's
    null distribution); interval from the cluster bootstrap; MDE from Connor's
    McNemar approximation at ``n / design_effect`` with the observed discordance.
    """
    _inputs.options(n_resamples=n_resamples, level=confidence_level)
    ref = _inputs.binary("reference", reference)
    cand = _inputs.binary("candidate", candidate)
    diffs, design, deff, dist, pvalue, _ = _test(ref.astype(np.float64), cand.astype(np.float64),
                                                 strata=strata, clusters=clusters, n_resamples=n_resamples,
                                                 rng=rng)
    n = diffs.size
    n10, n01 = int(np.count_nonzero(ref & ~cand)), int(np.count_nonzero(~ref & cand))
    return ClusteredResult(
        metric=metric,
        method="cluster sign-flip permutation test (clustered McNemar); cluster bootstrap percentile CI"
        + (" stratified" if design.stratum_of_cluster is not None else ""),
        n=n, statistic=(n01 - n10) / n, pvalue=pvalue,
        confidence_interval=ConfidenceInterval(*percentile_interval(dist, confidence_level), confidence_level),
        standard_error=float(dist.std(ddof=1)) if n_resamples > 1 else math.nan,
        mde=minimum_detectable_effect(_effective_n(n, deff), discordance=(n10 + n01) / n),
        reference_value=float(ref.mean()), candidate_value=float(cand.mean()), n_resamples=n_resamples,
        n_strata=int(design.stratum_of_cluster.max()) + 1 if design.stratum_of_cluster is not None else 1,
        n10=n10, n01=n01, bootstrap_distribution=readonly(dist), design_effect=deff,
        n_clusters=design.n_clusters,
    )
