"""DeLong covariance of correlated AUCs, paired tests, reader means, clustered data.

* DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
  receiver operating characteristic curves: a nonparametric approach. Biometrics 1988;44:837-845.
* Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated
  receiver operating characteristic curves. IEEE Signal Process Lett 2014;21:1389-1393
  (``analysis._core.fast_delong``, O(k n log n)).
* Obuchowski NA. Nonparametric analysis of clustered ROC curve data. Biometrics 1997;53:567-578
  (several nodes per patient: :func:`clustered_covariance`).
* Cluster (patient-level) bootstrap with percentile intervals: :func:`cluster_bootstrap_auc`,
  :func:`cluster_bootstrap_difference` (Efron B, Tibshirani RJ. An Introduction to the Bootstrap.
  Chapman & Hall 1993, ch. 13; resampling whole patients keeps their nodes' correlation).

All functions take scores where a higher value means "more likely positive" and 0/1 truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from ._core import binary_truth, fast_delong
from ._jsonable import JsonResult, confidence_level, constant
from ._params import check_alpha, normal_quantile
from ._types import ArrayLike, LabelsLike
from .data import reader_rows_by_case, rows_of_reader, validate_ratings
from .errors import AnalysisInputError

__all__ = [
    "AucCovariance",
    "BootstrapInterval",
    "ContrastTest",
    "MeanAuc",
    "PairedAucTest",
    "UnpairedAucTest",
    "auc_contrast",
    "cluster_bootstrap_auc",
    "cluster_bootstrap_difference",
    "clustered_covariance",
    "compare_readers",
    "delong_covariance",
    "delong_naive",
    "model_vs_reader_mean",
    "paired_auc_test",
    "reader_mean_auc",
    "unpaired_auc_test",
]


@dataclass(frozen=True)
class AucCovariance:
    """AUCs of k scores on the same cases and the covariance matrix of those AUCs.

    Attributes
    ----------
    auc : ndarray, shape (k,)
        Empirical (Mann-Whitney) AUCs.
    covariance : ndarray, shape (k, k)
        Estimated covariance of the AUCs (DeLong, or Obuchowski's clustered estimator).
    n_positive, n_negative : int
        Number of positive and negative cases.
    n_clusters : int or None
        Number of clusters (``None`` for the unclustered DeLong estimator).
    method : str
        ``"delong"`` or ``"obuchowski"``.
    """

    auc: np.ndarray
    covariance: np.ndarray
    n_positive: int
    n_negative: int
    n_clusters: int | None
    method: str


def _as_score_matrix(scores: ArrayLike, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores as a finite (k, n) float matrix and truth as 0/1 ints with both classes present."""
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    truth_array = np.asarray(truth)
    if matrix.ndim != 2:
        raise AnalysisInputError(f"scores must be 1-D or 2-D, got shape {matrix.shape}")
    if truth_array.ndim != 1 or matrix.shape[1] != truth_array.size:
        raise AnalysisInputError(
            f"scores have {matrix.shape[1]} cases per row but truth has {truth_array.size} values"
        )
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise AnalysisInputError(
            f"score {float(matrix[row, column])!r} (row {row}, case position {column}) is not finite"
        )
    truth_int = binary_truth(truth_array)
    n_positive = int(truth_int.sum())
    if n_positive == 0 or n_positive == truth_int.size:
        missing = "positive (truth == 1)" if n_positive == 0 else "negative (truth == 0)"
        raise AnalysisInputError(f"no {missing} cases among {truth_int.size}: AUC is undefined")
    return matrix, truth_int


def delong_covariance(scores: ArrayLike, truth: Any) -> AucCovariance:
    """DeLong covariance of k AUCs on the same cases (fast algorithm of Sun & Xu 2014).

    ``covariance = S10 / m + S01 / n`` where S10, S01 are the sample covariance matrices (n - 1
    denominators) of the positive and negative cases' placement values (DeLong 1988, eq. 5).

    Parameters
    ----------
    scores : array-like, shape (k, n) or (n,)
    truth : array-like, shape (n,)
    """
    matrix, truth_int = _as_score_matrix(scores, truth)
    components = fast_delong(matrix, truth_int)
    n_positive = int(truth_int.sum())
    return AucCovariance(
        auc=components.auc,
        covariance=components.covariance,
        n_positive=n_positive,
        n_negative=int(truth_int.size - n_positive),
        n_clusters=None,
        method="delong",
    )


def delong_naive(scores: ArrayLike, truth: Any) -> AucCovariance:
    """Reference DeLong covariance straight from the definition, O(k m n).

    psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise for every (positive x, negative y) pair;
    V10(x) = mean over negatives, V01(y) = mean over positives (DeLong 1988). Slow on purpose:
    it is the obvious second implementation that tests and the benchmark compare the fast one with.
    """
    matrix, truth_int = _as_score_matrix(scores, truth)
    positive = truth_int == 1
    k = matrix.shape[0]
    m = int(positive.sum())
    n = int(positive.size - m)
    v10 = np.empty((k, m))
    v01 = np.zeros((k, n))
    chunk = max(1, 2_000_000 // max(n, 1))  # bounds the m x n comparison matrix in memory
    for row in range(k):
        pos_scores = matrix[row, positive]
        neg_scores = matrix[row, ~positive]
        for start in range(0, m, chunk):
            block = pos_scores[start : start + chunk, None]
            psi = (block > neg_scores[None, :]) + 0.5 * (block == neg_scores[None, :])
            v10[row, start : start + chunk] = psi.mean(axis=1)
            v01[row] += psi.sum(axis=0)
        v01[row] /= m
    auc = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((k, k))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((k, k))
    return AucCovariance(
        auc=auc,
        covariance=s10 / m + s01 / n,
        n_positive=m,
        n_negative=n,
        n_clusters=None,
        method="delong",
    )


def _cluster_codes(clusters: Any, size: int) -> tuple[np.ndarray, int]:
    cluster_array = np.asarray(clusters, dtype=object)
    if cluster_array.ndim != 1 or cluster_array.size != size:
        raise AnalysisInputError(
            f"clusters has {cluster_array.size} values but there are {size} cases"
        )
    missing = pd.isna(cluster_array)
    if missing.any():
        raise AnalysisInputError(
            f"cluster missing at case position {int(np.flatnonzero(missing)[0])}"
        )
    _, codes = np.unique(cluster_array.astype(str), return_inverse=True)
    return codes, int(codes.max()) + 1


def clustered_covariance(scores: ArrayLike, truth: Any, clusters: Any) -> AucCovariance:
    """Obuchowski's (1997) covariance of k AUCs when cases are nested in clusters (patients).

    With X_i = sum of the placements V10 of cluster i's m_i positive cases, Y_i = sum of the V01
    of its n_i negative cases, M = sum m_i, N = sum n_i, I clusters, of which I10 have positive and
    I01 have negative cases (Obuchowski 1997, section 2):

    * S10 = I10 / ((I10 - 1) M) * sum_i (X_i - m_i A)(X_i - m_i A)'
    * S01 = I01 / ((I01 - 1) N) * sum_i (Y_i - n_i A)(Y_i - n_i A)'
    * S11 = I / (I - 1) * sum_i (X_i - m_i A)(Y_i - n_i A)'
    * Cov = S10 / M + S01 / N + (S11 + S11') / (M N)

    With one case per cluster this is exactly the DeLong covariance. Same formulas as iMRMC's
    ``doAUCcluster`` (DIDSR), vectorised over k readers.

    Parameters
    ----------
    scores : array-like, shape (k, n) or (n,)
    truth : array-like, shape (n,)
    clusters : array-like, shape (n,)
        Cluster label (e.g. patient id) of each case.
    """
    matrix, truth_int = _as_score_matrix(scores, truth)
    codes, n_clusters = _cluster_codes(clusters, truth_int.size)
    positive = truth_int == 1
    components = fast_delong(matrix, truth_int)
    auc = components.auc
    k = matrix.shape[0]
    positive_codes = codes[positive]
    negative_codes = codes[~positive]
    m_per_cluster = np.bincount(positive_codes, minlength=n_clusters).astype(float)
    n_per_cluster = np.bincount(negative_codes, minlength=n_clusters).astype(float)
    total_m = m_per_cluster.sum()
    total_n = n_per_cluster.sum()
    clusters_with_positive = int((m_per_cluster > 0).sum())
    clusters_with_negative = int((n_per_cluster > 0).sum())
    if clusters_with_positive < 2 or clusters_with_negative < 2:
        raise AnalysisInputError(
            "clustered variance needs at least 2 clusters with positive cases and 2 with negative "
            f"cases, got {clusters_with_positive} and {clusters_with_negative}"
        )
    x_sums = np.vstack(
        [
            np.bincount(positive_codes, weights=components.v10[r], minlength=n_clusters)
            for r in range(k)
        ]
    )
    y_sums = np.vstack(
        [
            np.bincount(negative_codes, weights=components.v01[r], minlength=n_clusters)
            for r in range(k)
        ]
    )
    x_dev = x_sums - m_per_cluster[None, :] * auc[:, None]
    y_dev = y_sums - n_per_cluster[None, :] * auc[:, None]
    s10 = clusters_with_positive / ((clusters_with_positive - 1) * total_m) * (x_dev @ x_dev.T)
    s01 = clusters_with_negative / ((clusters_with_negative - 1) * total_n) * (y_dev @ y_dev.T)
    s11 = n_clusters / (n_clusters - 1) * (x_dev @ y_dev.T)
    covariance = s10 / total_m + s01 / total_n + (s11 + s11.T) / (total_m * total_n)
    return AucCovariance(
        auc=auc,
        covariance=covariance,
        n_positive=int(total_m),
        n_negative=int(total_n),
        n_clusters=n_clusters,
        method="obuchowski",
    )


def _covariance(matrix: np.ndarray, truth_int: np.ndarray, clusters: Any | None) -> AucCovariance:
    if clusters is None:
        return delong_covariance(matrix, truth_int)
    return clustered_covariance(matrix, truth_int, clusters)


def _z_and_p(estimate: float, se: float) -> tuple[float, float]:
    """Wald z and two-sided normal p; an exactly-zero difference with zero SE gives z 0, p 1."""
    if not np.isfinite(se) or se < 0:
        return float("nan"), float("nan")
    if se == 0.0:
        return (0.0, 1.0) if estimate == 0.0 else (float("nan"), float("nan"))
    z = estimate / se
    # norm.sf keeps precision for tiny p-values (1 - cdf would round to 0 beyond z ~ 8).
    return float(z), float(2.0 * norm.sf(abs(z)))


def _interval(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    if not np.isfinite(se) or se < 0:
        return (float("nan"), float("nan"))
    half_width = normal_quantile(alpha) * se
    return (float(estimate - half_width), float(estimate + half_width))


@dataclass(frozen=True)
class PairedAucTest(JsonResult):
    """Paired comparison of two AUCs on the same cases (DeLong 1988 z test).

    Attributes
    ----------
    a, b : str
        Names of the two readers / models.
    auc_a, auc_b : float
        Their AUCs.
    difference : float
        ``auc_a - auc_b``.
    variance_a, variance_b, covariance_ab : float
        Entries of the 2x2 AUC covariance matrix.
    variance, se : float
        Var(auc_a - auc_b) = V_a + V_b - 2 C_ab and its square root.
    z : float
        ``difference / se``.
    p_value : float
        Two-sided normal p-value 2 (1 - Phi(|z|)).
    ci : tuple of float
        ``difference +/- z_{1-alpha/2} se`` (not clipped).
    alpha : float
    n_positive, n_negative : int
    n_clusters : int or None
    method : str
        ``"delong"`` or ``"obuchowski"`` (clustered).
    """

    a: str
    b: str
    auc_a: float
    auc_b: float
    difference: float
    variance_a: float
    variance_b: float
    covariance_ab: float
    variance: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    n_positive: int
    n_negative: int
    n_clusters: int | None
    method: str

    JSON = (
        "a",
        "b",
        "auc_a",
        "auc_b",
        "difference",
        "se",
        "z",
        "p_value",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        "variance_a",
        "variance_b",
        ("covariance", "covariance_ab"),
        "n_positive",
        "n_negative",
        "n_clusters",
        ("variance_method", "method"),
        ("test", constant("two-sided z test, normal reference")),
    )


def paired_auc_test(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    truth: ArrayLike,
    *,
    alpha: float = 0.05,
    clusters: Any | None = None,
    names: tuple[str, str] = ("a", "b"),
) -> PairedAucTest:
    """Paired DeLong test of AUC_a - AUC_b on the same cases (pROC ``roc.test(paired=TRUE)``).

    Z = (AUC_a - AUC_b) / sqrt(V_a + V_b - 2 C_ab); two-sided p = 2 Phi(-|Z|); CI of the
    difference = d +/- z_{1-alpha/2} SE. With ``clusters`` the covariance is Obuchowski's (1997)
    clustered estimator.

    Swapping ``a`` and ``b`` negates difference, z and the interval and keeps SE and p.
    """
    alpha = check_alpha(alpha)
    first = np.asarray(scores_a, dtype=float)
    second = np.asarray(scores_b, dtype=float)
    if first.ndim != 1 or first.shape != second.shape:
        raise AnalysisInputError(
            f"paired test needs two score vectors of the same length, got shapes {first.shape} "
            f"and {second.shape}"
        )
    matrix, truth_int = _as_score_matrix(np.vstack([first, second]), truth)
    covariance = _covariance(matrix, truth_int, clusters)
    matrix_c = covariance.covariance
    difference = float(covariance.auc[0] - covariance.auc[1])
    variance = float(matrix_c[0, 0] + matrix_c[1, 1] - 2.0 * matrix_c[0, 1])
    # Rounding can leave a tiny negative variance when both curves are identical.
    variance = max(variance, 0.0) if variance > -1e-15 else variance
    se = float(np.sqrt(variance)) if variance >= 0 else float("nan")
    z, p_value = _z_and_p(difference, se)
    return PairedAucTest(
        a=str(names[0]),
        b=str(names[1]),
        auc_a=float(covariance.auc[0]),
        auc_b=float(covariance.auc[1]),
        difference=difference,
        variance_a=float(matrix_c[0, 0]),
        variance_b=float(matrix_c[1, 1]),
        covariance_ab=float(matrix_c[0, 1]),
        variance=variance,
        se=se,
        z=z,
        p_value=p_value,
        ci=_interval(difference, se, alpha),
        alpha=alpha,
        n_positive=covariance.n_positive,
        n_negative=covariance.n_negative,
        n_clusters=covariance.n_clusters,
        method=covariance.method,
    )


@dataclass(frozen=True)
class UnpairedAucTest(JsonResult):
    """Comparison of two AUCs on different cases (e.g. one model in two cohorts).

    Attributes
    ----------
    a, b : str
    auc_a, auc_b, difference : float
    variance_a, variance_b : float
        DeLong variances of each AUC (independent samples: no covariance).
    se : float
        sqrt(V_a + V_b).
    statistic : float
        D = difference / se.
    df : float
        Welch-Satterthwaite degrees of freedom (V_a + V_b)^2 / (V_a^2/(N_a-1) + V_b^2/(N_b-1)),
        N = all cases of a sample, as pROC ``roc.test(method = "delong", paired = FALSE)``.
    p_value : float
        Two-sided p from Student's t with ``df`` degrees of freedom.
    ci : tuple of float
        difference +/- t_{df, 1-alpha/2} se.
    alpha : float
    n_a, n_b : int
        Cases in each sample.
    """

    a: str
    b: str
    auc_a: float
    auc_b: float
    difference: float
    variance_a: float
    variance_b: float
    se: float
    statistic: float
    df: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    n_a: int
    n_b: int

    JSON = (
        "a",
        "b",
        "auc_a",
        "auc_b",
        "difference",
        "se",
        "statistic",
        "df",
        "p_value",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        "n_a",
        "n_b",
        ("test", constant("unpaired DeLong, Welch-type t (pROC paired = FALSE)")),
    )


def unpaired_auc_test(
    scores_a: ArrayLike,
    truth_a: ArrayLike,
    scores_b: ArrayLike,
    truth_b: ArrayLike,
    *,
    alpha: float = 0.05,
    names: tuple[str, str] = ("a", "b"),
) -> UnpairedAucTest:
    """Unpaired DeLong test of two AUCs from independent samples (pROC ``paired = FALSE``).

    D = (AUC_a - AUC_b) / sqrt(V_a + V_b) with DeLong variances, referred to Student's t with
    Welch-Satterthwaite degrees of freedom (Robin X et al. pROC. BMC Bioinformatics 2011;12:77).
    """
    alpha = check_alpha(alpha)
    first = delong_covariance(scores_a, truth_a)
    second = delong_covariance(scores_b, truth_b)
    variance_a = float(first.covariance[0, 0])
    variance_b = float(second.covariance[0, 0])
    n_a = first.n_positive + first.n_negative
    n_b = second.n_positive + second.n_negative
    difference = float(first.auc[0] - second.auc[0])
    total = variance_a + variance_b
    se = float(np.sqrt(total))
    with np.errstate(invalid="ignore", divide="ignore"):
        df = float(total**2 / (variance_a**2 / (n_a - 1) + variance_b**2 / (n_b - 1)))
        statistic = difference / se if se > 0 else float("nan")
    if np.isfinite(statistic) and np.isfinite(df):
        p_value = float(2.0 * student_t.sf(abs(statistic), df))
        half_width = float(student_t.ppf(1.0 - alpha / 2.0, df)) * se
        ci = (difference - half_width, difference + half_width)
    else:
        p_value, ci = float("nan"), (float("nan"), float("nan"))
    return UnpairedAucTest(
        a=str(names[0]),
        b=str(names[1]),
        auc_a=float(first.auc[0]),
        auc_b=float(second.auc[0]),
        difference=difference,
        variance_a=variance_a,
        variance_b=variance_b,
        se=se,
        statistic=float(statistic),
        df=df,
        p_value=p_value,
        ci=(float(ci[0]), float(ci[1])),
        alpha=alpha,
        n_a=n_a,
        n_b=n_b,
    )


def _reader_series(
    frame: pd.DataFrame, reader: str, modality: str | None, *, cluster: bool
) -> pd.DataFrame:
    label = f"reader {reader!r}"
    columns = ["score", "truth"] + (["cluster"] if cluster else [])
    if modality is None and "modality" not in frame.columns:
        selected = reader_rows_by_case(frame, str(reader), columns)
    else:
        selected = rows_of_reader(frame, str(reader))
        if modality is not None:
            if "modality" not in frame.columns:
                raise AnalysisInputError(
                    f"modality {modality!r} requested but there is no 'modality' column"
                )
            selected = selected[selected["modality"] == str(modality)]
            label += f" (modality {modality!r})"
        elif selected["modality"].nunique() > 1:
            raise AnalysisInputError(
                f"{label} has ratings in several modalities "
                f"{sorted(selected['modality'].unique())}: choose one"
            )
        selected = selected.set_index("case")[columns]
    if selected.empty:
        available = sorted(frame["reader"].unique())
        raise AnalysisInputError(f"{label}: no ratings found; readers: {available}")
    return selected


def _aligned(first: pd.DataFrame, second: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """``second``'s rows in ``first``'s case order; both must hold the same cases."""
    only_a = first.index.difference(second.index)
    only_b = second.index.difference(first.index)
    if len(only_a) or len(only_b):
        parts = []
        if len(only_a):
            parts.append(f"{len(only_a)} case(s) rated by {a!r} only, e.g. {list(only_a[:5])}")
        if len(only_b):
            parts.append(f"{len(only_b)} case(s) rated by {b!r} only, e.g. {list(only_b[:5])}")
        raise AnalysisInputError("paired test needs the same cases: " + "; ".join(parts))
    return second.loc[first.index]


def compare_readers(
    ratings: pd.DataFrame,
    *,
    a: str,
    b: str,
    modality: str | None = None,
    modality_a: str | None = None,
    modality_b: str | None = None,
    alpha: float = 0.05,
    cluster: bool = False,
) -> PairedAucTest:
    """Paired DeLong test between two readers/models of a long ratings table.

    ``modality`` applies to both; ``modality_a`` / ``modality_b`` compare one reader across
    modalities (e.g. ``a=b="R1", modality_a="unaided", modality_b="aided"``). Both must have rated
    exactly the same cases; otherwise :class:`AnalysisInputError` names the unmatched cases.
    """
    frame = validate_ratings(ratings, require_cluster=cluster)
    first = _reader_series(frame, a, modality_a or modality, cluster=cluster)
    second = _reader_series(frame, b, modality_b or modality, cluster=cluster)
    if not first.index.equals(second.index):
        second = _aligned(first, second, a, b)
    name_a = a if (modality_a or modality_b) is None else f"{a} [{modality_a or modality}]"
    name_b = b if (modality_a or modality_b) is None else f"{b} [{modality_b or modality}]"
    try:
        return paired_auc_test(
            first["score"].to_numpy(),
            second["score"].to_numpy(),
            first["truth"].to_numpy(),
            alpha=alpha,
            clusters=first["cluster"].to_numpy() if cluster else None,
            names=(name_a, name_b),
        )
    except AnalysisInputError as exc:
        # e.g. a single-class truth: both rated the same cases, so the message names both.
        raise AnalysisInputError(f"readers {name_a!r} and {name_b!r}: {exc}") from None


@dataclass(frozen=True)
class ContrastTest(JsonResult):
    """Test of a linear combination sum_r w_r AUC_r of correlated AUCs.

    Attributes
    ----------
    names : list of str
        Reader / model names in the order of ``weights``.
    weights : list of float
        Contrast coefficients.
    aucs : list of float
        The AUCs combined.
    estimate : float
        sum_r w_r AUC_r.
    variance, se : float
        w' C w (C = DeLong or clustered covariance) and its square root.
    z, p_value : float
        estimate / se and its two-sided normal p-value (H0: the combination is 0).
    ci : tuple of float
        Wald interval at level 1 - alpha.
    alpha : float
    method : str
    """

    names: list[str]
    weights: list[float]
    aucs: list[float]
    estimate: float
    variance: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    method: str

    JSON = (
        "names",
        "weights",
        "aucs",
        "estimate",
        "se",
        "z",
        "p_value",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        ("variance_method", "method"),
    )


def auc_contrast(
    scores: np.ndarray,
    truth: ArrayLike,
    weights: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    alpha: float = 0.05,
    clusters: Any | None = None,
) -> ContrastTest:
    """Wald test of ``sum_r w_r AUC_r`` with variance ``w' C w`` (DeLong 1988, section 3).

    Parameters
    ----------
    scores : array, shape (k, n)
        k readers/models on the same n cases.
    weights : sequence of k floats
        e.g. (1, -1) for a difference, (1, -1/k, ..., -1/k) for a model vs the reader mean.
    """
    alpha = check_alpha(alpha)
    matrix, truth_int = _as_score_matrix(scores, truth)
    weight_vector = np.asarray(weights, dtype=float)
    if weight_vector.shape != (matrix.shape[0],):
        raise AnalysisInputError(f"{weight_vector.size} weights for {matrix.shape[0]} score rows")
    labels = (
        [str(name) for name in names]
        if names is not None
        else [f"score_{index}" for index in range(matrix.shape[0])]
    )
    if len(labels) != matrix.shape[0]:
        raise AnalysisInputError(f"{len(labels)} names for {matrix.shape[0]} score rows")
    covariance = _covariance(matrix, truth_int, clusters)
    estimate = float(weight_vector @ covariance.auc)
    variance = float(weight_vector @ covariance.covariance @ weight_vector)
    variance = max(variance, 0.0) if variance > -1e-15 else variance
    se = float(np.sqrt(variance)) if variance >= 0 else float("nan")
    z, p_value = _z_and_p(estimate, se)
    return ContrastTest(
        names=labels,
        weights=weight_vector.tolist(),
        aucs=covariance.auc.tolist(),
        estimate=estimate,
        variance=variance,
        se=se,
        z=z,
        p_value=p_value,
        ci=_interval(estimate, se, alpha),
        alpha=alpha,
        method=covariance.method,
    )


@dataclass(frozen=True)
class MeanAuc(JsonResult):
    """Mean AUC of k readers on the same cases, readers treated as fixed.

    Attributes
    ----------
    readers : list of str
    aucs : list of float
        Each reader's AUC.
    mean : float
        Their average.
    variance, se : float
        1' C 1 / k^2 from the k x k DeLong (or clustered) covariance C, and its square root. Only
        case variability is counted; for readers as a random sample use the MRMC analysis.
    ci : tuple of float
        Wald interval, clipped to [0, 1].
    alpha : float
    method : str
    """

    readers: list[str]
    aucs: list[float]
    mean: float
    variance: float
    se: float
    ci: tuple[float, float]
    alpha: float
    method: str

    JSON = (
        "readers",
        "aucs",
        ("mean_auc", "mean"),
        "se",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        ("variance_method", "method"),
        ("readers_treated_as", constant("fixed (case variability only)")),
    )


def reader_mean_auc(
    scores: np.ndarray,
    truth: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    alpha: float = 0.05,
    clusters: Any | None = None,
) -> MeanAuc:
    """Reader-averaged AUC with variance 1'C1/k^2 from the DeLong covariance matrix C."""
    matrix, _ = _as_score_matrix(scores, truth)
    k = matrix.shape[0]
    contrast = auc_contrast(
        matrix, truth, np.full(k, 1.0 / k), names=names, alpha=alpha, clusters=clusters
    )
    lower, upper = contrast.ci
    return MeanAuc(
        readers=contrast.names,
        aucs=contrast.aucs,
        mean=contrast.estimate,
        variance=contrast.variance,
        se=contrast.se,
        ci=(max(0.0, lower), min(1.0, upper)) if np.isfinite(lower) else contrast.ci,
        alpha=alpha,
        method=contrast.method,
    )


def model_vs_reader_mean(
    model_scores: ArrayLike,
    reader_scores: np.ndarray,
    truth: ArrayLike,
    *,
    model_name: str = "model",
    reader_names: Sequence[str] | None = None,
    alpha: float = 0.05,
    clusters: Any | None = None,
) -> ContrastTest:
    """AUC of a model minus the mean AUC of k readers on the same cases (fixed readers).

    Contrast weights (1, -1/k, ..., -1/k) on the joint (k + 1) x (k + 1) DeLong covariance, the
    "reader mean" P value of seed 001's Tables 4-6.
    """
    model_row = np.asarray(model_scores, dtype=float)[None, :]
    readers = np.atleast_2d(np.asarray(reader_scores, dtype=float))
    k = readers.shape[0]
    names = [model_name] + (
        [str(name) for name in reader_names]
        if reader_names is not None
        else [f"reader_{index}" for index in range(k)]
    )
    return auc_contrast(
        np.vstack([model_row, readers]),
        truth,
        np.r_[1.0, np.full(k, -1.0 / k)],
        names=names,
        alpha=alpha,
        clusters=clusters,
    )


@dataclass(frozen=True)
class BootstrapInterval(JsonResult):
    """Cluster-bootstrap percentile interval.

    Attributes
    ----------
    statistic : str
        ``"auc"`` or ``"auc_difference"``.
    estimate : float
        The statistic on the original data.
    ci : tuple of float
        (alpha/2, 1 - alpha/2) quantiles of the bootstrap distribution (percentile method).
    se : float
        Standard deviation of the bootstrap replicates.
    n_boot : int
        Replicates drawn.
    n_valid : int
        Replicates with both classes present (others are skipped, as pROC does).
    n_clusters : int
    seed : int
    alpha : float
    """

    statistic: str
    estimate: float
    ci: tuple[float, float]
    se: float
    n_boot: int
    n_valid: int
    n_clusters: int
    seed: int
    alpha: float

    JSON = (
        "statistic",
        "estimate",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        "se",
        "n_boot",
        "n_valid",
        "n_clusters",
        "seed",
        ("method", constant("cluster bootstrap, percentile interval")),
    )


def _weighted_aucs(row: np.ndarray, truth_int: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of one score vector under each row of case weights (a bootstrap replicate each).

    A case drawn w times counts w times; the Mann-Whitney sum is computed per group of tied
    scores from cumulative negative weights, so a replicate costs O(n) after one sort.
    """
    order = np.argsort(row, kind="quicksort")
    sorted_scores = row[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    sorted_positive = truth_int[order].astype(float)
    sorted_weights = weights[:, order]
    positive_weight = np.add.reduceat(sorted_weights * sorted_positive, starts, axis=1)
    negative_weight = np.add.reduceat(sorted_weights * (1.0 - sorted_positive), starts, axis=1)
    negative_below = np.cumsum(negative_weight, axis=1) - negative_weight
    numerator = (positive_weight * (negative_below + 0.5 * negative_weight)).sum(axis=1)
    denominator = positive_weight.sum(axis=1) * negative_weight.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _bootstrap_statistics(
    matrix: np.ndarray,
    truth_int: np.ndarray,
    clusters: LabelsLike,
    *,
    n_boot: int,
    seed: int,
) -> tuple[np.ndarray, int]:
    """Bootstrap AUCs, shape (n_boot, k): whole clusters are drawn with replacement."""
    if n_boot < 1:
        raise AnalysisInputError(f"n_boot must be at least 1, got {n_boot!r}")
    codes, n_clusters = _cluster_codes(clusters, truth_int.size)
    if n_clusters < 2:
        raise AnalysisInputError(f"cluster bootstrap needs at least 2 clusters, got {n_clusters}")
    rng = np.random.default_rng(seed)
    k, n = matrix.shape
    results = np.empty((n_boot, k))
    # Batches bound the (batch x n) weight matrix to a few million entries.
    batch = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    for start in range(0, n_boot, batch):
        size = min(batch, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(size, n_clusters))
        cluster_counts = np.zeros((size, n_clusters))
        np.add.at(cluster_counts, (np.arange(size)[:, None], draws), 1.0)
        case_weights = cluster_counts[:, codes]
        for row in range(k):
            results[start : start + size, row] = _weighted_aucs(
                matrix[row], truth_int, case_weights
            )
    return results, n_clusters


def _percentile_interval(
    values: np.ndarray, alpha: float
) -> tuple[tuple[float, float], float, int]:
    valid = values[np.isfinite(values)]
    if valid.size == 0:
        raise AnalysisInputError("no bootstrap replicate had both positive and negative cases")
    lower, upper = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    se = float(valid.std(ddof=1)) if valid.size > 1 else float("nan")
    return (float(lower), float(upper)), se, int(valid.size)


def cluster_bootstrap_auc(
    scores: ArrayLike,
    truth: ArrayLike,
    clusters: LabelsLike,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapInterval:
    """Patient-level bootstrap percentile interval for one AUC.

    Clusters (patients) are drawn with replacement, ``n_clusters`` per replicate, keeping all their
    cases; replicates without both classes are skipped (``n_valid`` says how many remained). The
    same ``seed`` gives the same interval.
    """
    alpha = check_alpha(alpha)
    matrix, truth_int = _as_score_matrix(scores, truth)
    if matrix.shape[0] != 1:
        raise AnalysisInputError(f"one score vector expected, got {matrix.shape[0]}")
    replicates, n_clusters = _bootstrap_statistics(
        matrix, truth_int, clusters, n_boot=n_boot, seed=seed
    )
    ci, se, n_valid = _percentile_interval(replicates[:, 0], alpha)
    return BootstrapInterval(
        statistic="auc",
        estimate=float(fast_delong(matrix, truth_int).auc[0]),
        ci=ci,
        se=se,
        n_boot=n_boot,
        n_valid=n_valid,
        n_clusters=n_clusters,
        seed=seed,
        alpha=alpha,
    )


def cluster_bootstrap_difference(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    truth: ArrayLike,
    clusters: LabelsLike,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapInterval:
    """Patient-level bootstrap percentile interval for AUC_a - AUC_b (same cases, same draws)."""
    alpha = check_alpha(alpha)
    matrix, truth_int = _as_score_matrix(
        np.vstack([np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)]), truth
    )
    replicates, n_clusters = _bootstrap_statistics(
        matrix, truth_int, clusters, n_boot=n_boot, seed=seed
    )
    ci, se, n_valid = _percentile_interval(replicates[:, 0] - replicates[:, 1], alpha)
    auc = fast_delong(matrix, truth_int).auc
    return BootstrapInterval(
        statistic="auc_difference",
        estimate=float(auc[0] - auc[1]),
        ci=ci,
        se=se,
        n_boot=n_boot,
        n_valid=n_valid,
        n_clusters=n_clusters,
        seed=seed,
        alpha=alpha,
    )
