"""Obuchowski-Rockette MRMC when cases (lymph nodes) are nested in clusters (patients).

Several nodes of one patient are not independent: their scores share the patient (the same
images, the same disease burden) and usually their truth too. A case-level covariance then
treats correlated nodes as independent evidence and is too small. Here the AUC covariance is
estimated over *clusters* instead, and fed unchanged to the Obuchowski-Rockette machinery of
:func:`analysis.mrmc.or_from_aucs` (Hillis' ddf):

* ``jackknife``: the jackknife over clusters — leave one patient (all its nodes) out,
  recompute every reader x modality AUC, ``(G-1)/G * sum_g (theta_(-g) - mean)(...)'``.
  Obuchowski & Rockette (Commun Stat Simul Comput 1995;24:285-308) allow any consistent AUC
  covariance estimator; the jackknife is the one Hillis (Stat Med 2007;26:596-619) and
  Hillis, Berbaum & Metz (Acad Radiol 2008;15:647-661) use, and the jackknife over the
  independent sampling units (clusters) is its clustered form (Efron 1982, ch. 3).
* ``DeLong``: Obuchowski's nonparametric clustered covariance (Obuchowski NA, Biometrics
  1997;53:567-578), :func:`analysis.delong.clustered_covariance`.

With one case per cluster both reduce exactly to the unclustered estimators of
:func:`analysis.mrmc.auc_covariance` (tested to 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from .._core import fast_delong
from .._params import check_alpha
from ..delong import clustered_covariance
from ..errors import AnalysisInputError
from ._common import _check_analysis, _check_covariance
from .data import mrmc_data
from .obuchowski_rockette import ORResult, or_from_aucs

__all__ = [
    "ClusteredORResult",
    "cluster_jackknife_aucs",
    "clustered_auc_covariance",
    "clustered_or_analysis",
]


def _codes(clusters: Any, size: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes 0..G-1 of the cluster labels and the labels (sorted as strings)."""
    labels = np.asarray(clusters, dtype=object)
    if labels.ndim != 1 or labels.size != size:
        raise AnalysisInputError(f"clusters has {labels.size} values but there are {size} cases")
    missing = pd.isna(labels)
    if missing.any():
        raise AnalysisInputError(
            f"cluster missing at case position {int(np.flatnonzero(missing)[0])}"
        )
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(name) for name in names]


def _within_cluster_pairs(
    codes: np.ndarray, positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (positive case, negative case) pairs in the same cluster: indices and cluster code."""
    pos = pd.DataFrame({"g": codes[positive], "i": np.flatnonzero(positive)})
    neg = pd.DataFrame({"g": codes[~positive], "j": np.flatnonzero(~positive)})
    pairs = pos.merge(neg, on="g", how="inner")
    return (
        pairs["i"].to_numpy(dtype=np.int64),
        pairs["j"].to_numpy(dtype=np.int64),
        pairs["g"].to_numpy(dtype=np.int64),
    )


def cluster_jackknife_aucs(
    scores: np.ndarray, truth: np.ndarray, clusters: Any
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Empirical AUCs and all leave-one-cluster-out AUCs of k score vectors.

    Exact identity, no recomputation per cluster: with M positive and N negative cases,
    psi(i, j) = 1 / 0.5 / 0 the Mann-Whitney kernel and, for cluster g with m_g positive and
    n_g negative cases, R_g = sum over g's positives of their kernel sums against all negatives
    (N times their DeLong placements V10), C_g = sum over g's negatives of their kernel sums
    against all positives (M times V01) and W_g = the kernel sum over g's own (positive,
    negative) pairs::

        AUC_(-g) = (M N AUC - R_g - C_g + W_g) / ((M - m_g)(N - n_g))

    (inclusion-exclusion of the pairs that involve cluster g). Cost O(k (n log n + sum_g
    m_g n_g)). Placements: DeLong, DeLong & Clarke-Pearson (Biometrics 1988;44:837-845).

    Parameters
    ----------
    scores : ndarray, shape (k, n_cases) or (n_cases,)
        Higher = more likely positive.
    truth : ndarray, shape (n_cases,)
        0/1.
    clusters : array-like, shape (n_cases,)
        Cluster (patient) label of each case.

    Returns
    -------
    auc : ndarray, shape (k,)
        AUC of each score vector on all cases.
    loo : ndarray, shape (k, G)
        ``loo[a, g]``: AUC of score vector a without the cases of cluster g.
    names : list of str
        Cluster labels in the column order of ``loo`` (sorted as strings).

    Raises
    ------
    AnalysisInputError
        Fewer than 2 positive or 2 negative cases, a missing cluster label, or a cluster whose
        removal leaves no positive or no negative case (named).
    """
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    truth_int = np.asarray(truth).astype(int)
    positive = truth_int == 1
    m = int(positive.sum())
    n = int((~positive).sum())
    if m < 2 or n < 2:
        raise AnalysisInputError(
            f"cluster jackknife needs at least 2 positive and 2 negative cases; got {m} and {n}"
        )
    codes, names = _codes(clusters, truth_int.size)
    g = len(names)
    m_g = np.bincount(codes[positive], minlength=g).astype(float)
    n_g = np.bincount(codes[~positive], minlength=g).astype(float)
    for label, mg, ng in zip(names, m_g, n_g, strict=True):
        if mg == m or ng == n:
            raise AnalysisInputError(
                f"cluster {label!r} holds all the {'positive' if mg == m else 'negative'} cases: "
                "leaving it out leaves no AUC to compute"
            )
    comps = fast_delong(matrix, truth_int)
    k = matrix.shape[0]
    row_sums = np.vstack(
        [np.bincount(codes[positive], weights=comps.v10[a] * n, minlength=g) for a in range(k)]
    )
    col_sums = np.vstack(
        [np.bincount(codes[~positive], weights=comps.v01[a] * m, minlength=g) for a in range(k)]
    )
    pos_idx, neg_idx, pair_g = _within_cluster_pairs(codes, positive)
    pos_scores = matrix[:, pos_idx]
    neg_scores = matrix[:, neg_idx]
    kernel = (pos_scores > neg_scores) + 0.5 * (pos_scores == neg_scores)
    within = np.vstack([np.bincount(pair_g, weights=kernel[a], minlength=g) for a in range(k)])
    total = comps.auc[:, None] * (m * n)
    loo = (total - row_sums - col_sums + within) / ((m - m_g) * (n - n_g))[None, :]
    return comps.auc, loo, names


def clustered_auc_covariance(
    scores: np.ndarray, truth: np.ndarray, clusters: Any, *, method: str = "jackknife"
) -> tuple[np.ndarray, np.ndarray, int]:
    """AUCs of k score vectors and their covariance with cases nested in clusters.

    Parameters
    ----------
    scores : ndarray, shape (k, n_cases)
    truth : ndarray, shape (n_cases,), 0/1
    clusters : array-like, shape (n_cases,)
        Cluster (patient) of each case.
    method : {"jackknife", "DeLong"}
        * ``jackknife``: jackknife over clusters, ``(G-1)/G sum_g (theta_(-g) - mean)
          (theta_(-g) - mean)'`` with the leave-one-cluster-out AUCs of
          :func:`cluster_jackknife_aucs` (Efron 1982; the clustered form of the case jackknife
          of Hillis 2007). One case per cluster: exactly ``auc_covariance(method="jackknife")``.
        * ``DeLong``: Obuchowski (Biometrics 1997;53:567-578) clustered estimator,
          :func:`analysis.delong.clustered_covariance`. One case per cluster: exactly DeLong.

    Returns
    -------
    auc : ndarray, shape (k,)
        Empirical AUCs.
    covariance : ndarray, shape (k, k)
        Their estimated covariance.
    n_clusters : int
        Number of clusters G.
    """
    method = _check_covariance(method)
    if method == "unbiased":
        raise AnalysisInputError(
            "covariance 'unbiased' has no clustered form here; use 'jackknife' (over clusters) "
            "or 'DeLong' (Obuchowski 1997)"
        )
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    if method == "DeLong":
        result = clustered_covariance(matrix, truth, clusters)
        return (
            np.asarray(result.auc, dtype=float),
            np.atleast_2d(np.asarray(result.covariance, dtype=float)),
            int(result.n_clusters or 0),
        )
    auc, loo, names = cluster_jackknife_aucs(matrix, truth, clusters)
    g = len(names)
    if g < 2:
        raise AnalysisInputError(f"the jackknife over clusters needs at least 2 clusters; got {g}")
    dev = loo - loo.mean(axis=1, keepdims=True)
    return auc, (g - 1) / g * (dev @ dev.T), g


@dataclass
class ClusteredORResult(ORResult):
    """:class:`ORResult` of :func:`clustered_or_analysis`, plus the clustering.

    Attributes
    ----------
    cluster_column : str
        Column of the ratings table holding the cluster (patient) of each case.
    n_clusters : int
        Number of clusters G.
    n_cases : int
        Number of cases (nodes).
    cluster_covariance : str
        ``jackknife over clusters`` or ``Obuchowski 1997 clustered DeLong``.
    """

    cluster_column: str = "cluster"
    n_clusters: int = 0
    n_cases: int = 0
    cluster_covariance: str = ""

    def to_dict(self) -> dict[str, Any]:
        """:meth:`ORResult.to_dict` plus ``clustering``: column, n_clusters, n_cases, covariance."""
        out = super().to_dict()
        out["clustering"] = {
            "column": self.cluster_column,
            "n_clusters": self.n_clusters,
            "n_cases": self.n_cases,
            "covariance": self.cluster_covariance,
        }
        return out


def clustered_or_analysis(
    ratings: pd.DataFrame,
    *,
    covariance: str = "jackknife",
    analysis: str = "RRRC",
    alpha: float = 0.05,
    cluster_column: str = "cluster",
) -> ClusteredORResult:
    """Obuchowski-Rockette comparison of modalities with the AUC covariance over clusters.

    Same model, tests and output as :func:`analysis.mrmc.or_analysis` (Obuchowski & Rockette
    1995; Hillis et al. 2005; Hillis 2007, 2008: F test with Hillis' ddf, modality differences,
    single-modality CIs), but the covariance of the reader x modality AUCs is estimated with
    clusters (patients) as the independent units, as Obuchowski (Biometrics 1997;53:567-578)
    does for clustered ROC data: see :func:`clustered_auc_covariance`.

    Parameters
    ----------
    ratings : DataFrame
        Long table (``case``, ``reader``, ``score``, ``truth``, ``modality``) with a cluster
        column; fully crossed; each case in exactly one cluster.
    covariance : {"jackknife", "DeLong"}
        Jackknife over clusters, or Obuchowski's clustered DeLong covariance.
    analysis : {"RRRC", "FRRC", "RRFC"}
        Which factors are random (RRFC does not use the covariance at all).
    alpha : float
        1 - confidence level.
    cluster_column : str
        Name of the cluster column (e.g. ``patient``).

    Returns
    -------
    ClusteredORResult
        Every :class:`ORResult` output (``.to_dict()``: ``f``, ``df1``, ``df2``, ``p_value``,
        ``differences``, ``modality_ci``, ``variance_components``, ...) plus ``clustering`` =
        ``{"column", "n_clusters", "n_cases", "covariance"}``.

    Raises
    ------
    AnalysisInputError
        Missing cluster column, a case in several clusters, the errors of :func:`mrmc_data`,
        and those of :func:`cluster_jackknife_aucs`.
    """
    covariance = _check_covariance(covariance)
    analysis = _check_analysis(analysis)
    alpha = check_alpha(alpha)
    frame = ratings
    if cluster_column != "cluster":
        if cluster_column not in frame.columns:
            raise AnalysisInputError(
                f"cluster column {cluster_column!r} is missing (columns: {list(frame.columns)})"
            )
        frame = frame.drop(columns=[c for c in frame.columns if c == "cluster"]).rename(
            columns={cluster_column: "cluster"}
        )
    if "cluster" not in {str(c).strip().lower() for c in frame.columns}:
        raise AnalysisInputError(
            f"clustered OR needs a cluster column {cluster_column!r} (e.g. the patient)"
        )
    data = mrmc_data(frame)
    lowered = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    case_cluster = lowered.assign(case=lowered["case"].astype(str)).groupby("case", sort=False)[
        "cluster"
    ]
    if (case_cluster.nunique() > 1).any():
        bad = case_cluster.nunique()
        raise AnalysisInputError(
            f"column {cluster_column!r}: case(s) {list(bad[bad > 1].index[:5])} belong to more "
            "than one cluster"
        )
    clusters = case_cluster.first().reindex(data.cases).to_numpy()
    t, r, n = data.scores.shape
    auc, cov, n_clusters = clustered_auc_covariance(
        data.scores.reshape(t * r, n), data.truth, clusters, method=covariance
    )
    result = or_from_aucs(
        auc.reshape(t, r),
        cov,
        modalities=data.modalities,
        readers=data.readers,
        analysis=analysis,
        alpha=alpha,
        covariance=covariance,
    )
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    values["n_positive"] = int((data.truth == 1).sum())
    values["n_negative"] = int((data.truth == 0).sum())
    return ClusteredORResult(
        **values,
        cluster_column=cluster_column,
        n_clusters=n_clusters,
        n_cases=n,
        cluster_covariance=(
            "jackknife over clusters"
            if covariance == "jackknife"
            else "Obuchowski 1997 clustered DeLong"
        ),
    )
