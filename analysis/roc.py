"""Empirical ROC curves, AUC and its confidence interval (DeLong, Obuchowski clustered, logit).

Conventions (those of pROC with ``direction = "<"``, see ``expected.json`` -> conventions):

* higher score = more likely positive; a case is called positive when ``score >= threshold``;
* AUC is the Mann-Whitney statistic P(X_pos > X_neg) + 0.5 P(X_pos == X_neg), which equals the
  trapezoidal area under the empirical ROC curve;
* the DeLong variance is S10/m + S01/n (DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas
  under two or more correlated receiver operating characteristic curves: a nonparametric approach.
  Biometrics 1988;44:837-845);
* the Wald interval AUC +/- z_{1-alpha/2} SE is clipped to [0, 1] (pROC ``ci.auc(method="delong")``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._core import binary_truth, fast_delong
from ._jsonable import JsonResult, confidence_level, constant
from ._params import check_alpha, normal_quantile
from ._types import ArrayLike, LabelsLike
from .data import validate_ratings
from .delong import clustered_covariance, delong_covariance
from .errors import AnalysisInputError

__all__ = [
    "AucEstimate",
    "ReaderAuc",
    "RocCurve",
    "auc_confidence_interval",
    "check_binary_truth",
    "logit_interval",
    "roc_analysis",
    "roc_analysis_of_valid",
    "roc_auc",
    "roc_curve",
    "wald_interval",
]


def check_binary_truth(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    who: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one score vector and its truth; return them as float / int arrays.

    Raises :class:`AnalysisInputError` (prefixed with ``who``, e.g. ``"reader 'R1': "``) when the
    lengths differ, a score is missing or infinite, truth is not 0/1, or a class is absent.
    """
    prefix = f"{who}: " if who else ""
    score_array = np.asarray(scores, dtype=float)
    truth_array = np.asarray(truth)
    if score_array.ndim != 1 or truth_array.ndim != 1:
        raise AnalysisInputError(
            f"{prefix}scores and truth must be 1-D, got shapes {score_array.shape} and "
            f"{truth_array.shape}"
        )
    if score_array.shape != truth_array.shape:
        raise AnalysisInputError(
            f"{prefix}{score_array.size} scores but {truth_array.size} truth values"
        )
    bad_score = ~np.isfinite(score_array)
    if bad_score.any():
        position = int(np.flatnonzero(bad_score)[0])
        raise AnalysisInputError(
            f"{prefix}score {float(score_array[position])!r} at position {position} is not a finite number"
        )
    truth_int = binary_truth(truth_array, prefix=prefix)
    n_positive = int(truth_int.sum())
    n_negative = int(truth_int.size - n_positive)
    if n_positive == 0:
        raise AnalysisInputError(
            f"{prefix}no positive cases (truth == 1) among {truth_int.size} cases: AUC is undefined"
        )
    if n_negative == 0:
        raise AnalysisInputError(
            f"{prefix}no negative cases (truth == 0) among {truth_int.size} cases: AUC is undefined"
        )
    return score_array, truth_int


@dataclass(frozen=True)
class RocCurve(JsonResult):
    """Empirical ROC curve at every distinct score (no intermediate point dropped).

    Attributes
    ----------
    thresholds : ndarray
        Decreasing: ``inf`` (nobody positive), then every distinct score, highest first. Point
        ``i`` calls a case positive when ``score >= thresholds[i]`` (same as
        ``sklearn.metrics.roc_curve(drop_intermediate=False)``).
    fpr, tpr : ndarray
        False- and true-positive fractions at each threshold (non-decreasing).
    false_positives, true_positives : ndarray of int
        Counts behind ``fpr`` and ``tpr``.
    n_positive, n_negative : int
        Number of positive (truth 1) and negative (truth 0) cases.
    """

    thresholds: np.ndarray
    fpr: np.ndarray
    tpr: np.ndarray
    false_positives: np.ndarray
    true_positives: np.ndarray
    n_positive: int
    n_negative: int

    @property
    def sensitivity(self) -> np.ndarray:
        """Same as ``tpr``."""
        return self.tpr

    @property
    def specificity(self) -> np.ndarray:
        """1 - ``fpr``."""
        return 1.0 - self.fpr

    @property
    def midpoint_thresholds(self) -> np.ndarray:
        """pROC's thresholds for the same points: midpoints between consecutive distinct scores.

        ``inf`` stays ``inf``; the lowest score (everybody positive) becomes ``-inf``.
        """
        observed = self.thresholds
        midpoints = np.empty_like(observed)
        midpoints[0] = np.inf
        midpoints[1:-1] = (observed[1:-1] + observed[2:]) / 2.0
        if observed.size > 1:
            midpoints[-1] = -np.inf
        return midpoints

    @property
    def auc(self) -> float:
        """Trapezoidal area under the curve (equals the Mann-Whitney AUC)."""
        return float(np.trapezoid(self.tpr, self.fpr))

    JSON = (
        "thresholds",  # the first is +inf (nobody positive): null in JSON
        ("threshold_rule", constant("score >= threshold")),
        "fpr",
        "tpr",
        "n_positive",
        "n_negative",
    )


def roc_curve(scores: ArrayLike, truth: ArrayLike) -> RocCurve:
    """Empirical ROC curve with one point per distinct score (plus the point at ``inf``).

    Parameters
    ----------
    scores : array-like, shape (n,)
        Higher = more likely positive.
    truth : array-like, shape (n,)
        0/1 reference standard.

    Returns
    -------
    RocCurve
    """
    score_array, truth_int = check_binary_truth(scores, truth)
    order = np.argsort(-score_array, kind="mergesort")
    sorted_scores = score_array[order]
    sorted_truth = truth_int[order]
    # Last index of each run of equal scores: the curve moves once per distinct score.
    run_ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    true_positives = np.r_[0, np.cumsum(sorted_truth)[run_ends]]
    false_positives = np.r_[0, (run_ends + 1) - true_positives[1:]]
    n_positive = int(truth_int.sum())
    n_negative = int(truth_int.size - n_positive)
    return RocCurve(
        thresholds=np.r_[np.inf, sorted_scores[run_ends]],
        fpr=false_positives / n_negative,
        tpr=true_positives / n_positive,
        false_positives=false_positives.astype(int),
        true_positives=true_positives.astype(int),
        n_positive=n_positive,
        n_negative=n_negative,
    )


def roc_auc(scores: ArrayLike, truth: ArrayLike) -> float:
    """Empirical (Mann-Whitney) AUC, ties counted one half.

    Equals ``sklearn.metrics.roc_auc_score`` and pROC's ``auc()`` with direction ``"<"``.
    """
    score_array, truth_int = check_binary_truth(scores, truth)
    return float(fast_delong(score_array, truth_int).auc[0])


def wald_interval(
    estimate: float, se: float, *, alpha: float = 0.05, clip: bool = True
) -> tuple[float, float]:
    """Wald interval ``estimate +/- z_{1-alpha/2} se``, clipped to [0, 1] when ``clip`` (pROC)."""
    alpha = check_alpha(alpha)
    if not np.isfinite(se):
        return (float("nan"), float("nan"))
    half_width = normal_quantile(alpha) * se
    lower, upper = estimate - half_width, estimate + half_width
    if clip:
        lower, upper = max(0.0, lower), min(1.0, upper)
    return (float(lower), float(upper))


def logit_interval(auc: float, se: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Logit-transformed Wald interval for an AUC.

    ``logit(AUC) +/- z_{1-alpha/2} SE / (AUC (1 - AUC))``, transformed back (delta method; Pepe MS.
    The Statistical Evaluation of Medical Tests for Classification and Prediction. Oxford University
    Press 2003, section 5.2.3). Stays inside (0, 1) and is asymmetric near 1, where the Wald interval
    overshoots. Undefined (NaN) when AUC is 0 or 1.
    """
    alpha = check_alpha(alpha)
    if not (0.0 < auc < 1.0) or not np.isfinite(se):
        return (float("nan"), float("nan"))
    logit = np.log(auc / (1.0 - auc))
    half_width = normal_quantile(alpha) * se / (auc * (1.0 - auc))
    lower, upper = logit - half_width, logit + half_width
    return (float(1.0 / (1.0 + np.exp(-lower))), float(1.0 / (1.0 + np.exp(-upper))))


@dataclass(frozen=True)
class AucEstimate(JsonResult):
    """AUC with its variance and confidence intervals.

    Attributes
    ----------
    auc : float
        Empirical AUC.
    variance, se : float
        DeLong variance (``method="delong"``) or Obuchowski's clustered variance
        (``method="obuchowski"``) and its square root.
    ci : tuple of float
        Wald interval at level 1 - alpha, clipped to [0, 1].
    logit_ci : tuple of float
        Logit-transformed interval (NaN at AUC 0 or 1).
    alpha : float
        1 - confidence level.
    n_positive, n_negative : int
        Case counts.
    n_clusters : int or None
        Number of clusters (clustered method only).
    method : str
        ``"delong"`` or ``"obuchowski"``.
    """

    auc: float
    variance: float
    se: float
    ci: tuple[float, float]
    logit_ci: tuple[float, float]
    alpha: float
    n_positive: int
    n_negative: int
    n_clusters: int | None
    method: str

    JSON = (
        "auc",
        "se",
        "variance",
        ("ci95", "ci"),
        ("logit_ci95", "logit_ci"),
        ("confidence_level", confidence_level),
        "n_positive",
        "n_negative",
        "n_clusters",
        ("variance_method", "method"),
    )


def auc_confidence_interval(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    alpha: float = 0.05,
    clusters: LabelsLike | None = None,
) -> AucEstimate:
    """AUC, its variance and Wald (pROC) and logit confidence intervals.

    Parameters
    ----------
    scores, truth : array-like, shape (n,)
        Scores (higher = more likely positive) and 0/1 truth.
    alpha : float
        1 - confidence level (0.05 gives 95% intervals).
    clusters : array-like, shape (n,), optional
        Cluster (patient) of each case. When given, the variance is Obuchowski's clustered
        estimator (Obuchowski NA. Nonparametric analysis of clustered ROC curve data. Biometrics
        1997;53:567-578), which allows correlated cases within a patient; otherwise DeLong's.

    Returns
    -------
    AucEstimate
    """
    score_array, truth_int = check_binary_truth(scores, truth)
    alpha = check_alpha(alpha)
    if clusters is None:
        covariance = delong_covariance(score_array, truth_int)
    else:
        covariance = clustered_covariance(score_array, truth_int, clusters)
    auc = float(covariance.auc[0])
    variance = float(covariance.covariance[0, 0])
    se = float(np.sqrt(variance)) if variance >= 0 else float("nan")
    return AucEstimate(
        auc=auc,
        variance=variance,
        se=se,
        ci=wald_interval(auc, se, alpha=alpha),
        logit_ci=logit_interval(auc, se, alpha=alpha),
        alpha=alpha,
        n_positive=covariance.n_positive,
        n_negative=covariance.n_negative,
        n_clusters=covariance.n_clusters,
        method=covariance.method,
    )


@dataclass(frozen=True)
class ReaderAuc:
    """AUC of one reader (or model) in one modality, from the long table."""

    reader: str
    modality: str | None
    estimate: AucEstimate
    curve: RocCurve | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self, *, logit_ci: bool = False) -> dict[str, Any]:
        """Row of the ``roc`` command: reader, modality, counts, auc, se, variance, ci95.

        With ``logit_ci`` the ``ci95`` field holds the logit-transformed interval and
        ``ci_method`` says so; ``curve`` (thresholds, fpr, tpr) is added when it was computed;
        ``warnings`` lists what the caller should know (e.g. readers rated different cases).
        """
        estimate = self.estimate
        extra = {"curve": self.curve.to_dict()} if self.curve is not None else {}
        return {
            "reader": self.reader,
            "modality": self.modality,
            "n_positive": estimate.n_positive,
            "n_negative": estimate.n_negative,
            "auc": estimate.auc,
            "se": estimate.se,
            "variance": estimate.variance,
            "ci95": list(estimate.logit_ci if logit_ci else estimate.ci),
            "ci_method": "logit" if logit_ci else "wald_clipped",
            "wald_ci95": list(estimate.ci),
            "logit_ci95": list(estimate.logit_ci),
            "variance_method": estimate.method,
            "n_clusters": estimate.n_clusters,
            "warnings": list(self.warnings),
            **extra,
        }


def roc_analysis(
    ratings: pd.DataFrame,
    *,
    alpha: float = 0.05,
    cluster: bool = False,
    readers: list[str] | None = None,
    curves: bool = False,
    allow_different_cases: bool = False,
) -> list[ReaderAuc]:
    """AUC with CI for every reader (and modality) of a long ratings table.

    Parameters
    ----------
    ratings : DataFrame
        Long table (``case``, ``reader``, ``score``, ``truth``; optional ``modality``,
        ``cluster``).
    alpha : float
        1 - confidence level.
    cluster : bool
        Require a ``cluster`` column and use Obuchowski's clustered variance (Obuchowski 1997)
        instead of DeLong's (DeLong et al. 1988).
    readers : list of str, optional
        Readers to analyse (default: all).
    curves : bool
        Attach each reader's :class:`RocCurve` (every distinct threshold) for plotting.
    allow_different_cases : bool
        Readers of one modality must have rated the same cases, so that their AUCs describe the
        same case mix; otherwise :class:`AnalysisInputError` names the readers and their case
        counts. With ``True`` each reader is analysed on the cases it rated and every result
        carries a warning saying so.

    Returns
    -------
    list of ReaderAuc
        In order of first appearance of modality, then reader: AUC, SE, variance, Wald and logit
        intervals, counts, variance method, warnings.
    """
    frame = validate_ratings(ratings, require_cluster=cluster)
    return roc_analysis_of_valid(
        frame,
        alpha=alpha,
        cluster=cluster,
        readers=readers,
        curves=curves,
        allow_different_cases=allow_different_cases,
    )


def roc_analysis_of_valid(
    frame: pd.DataFrame,
    *,
    alpha: float = 0.05,
    cluster: bool = False,
    readers: list[str] | None = None,
    curves: bool = False,
    allow_different_cases: bool = False,
) -> list[ReaderAuc]:
    """:func:`roc_analysis` of a table :func:`validate_ratings` has already returned (with
    ``require_cluster=cluster``), or a subset of its rows; it does not validate again.

    For callers that validated the whole table once and analyse many parts of it (the study
    report: every cohort, task and modality).
    """
    has_modality = "modality" in frame.columns
    if readers is not None:
        missing = [reader for reader in readers if reader not in set(frame["reader"])]
        if missing:
            raise AnalysisInputError(f"reader(s) {missing} not found in the ratings")
        frame = frame[frame["reader"].isin(readers)]
    warnings = _different_case_sets(frame, has_modality, allow=allow_different_cases)
    results: list[ReaderAuc] = []
    group_keys = ["modality", "reader"] if has_modality else ["reader"]
    for key, group in frame.groupby(group_keys, sort=False):
        key_tuple = key if isinstance(key, tuple) else (key,)
        modality = str(key_tuple[0]) if has_modality else None
        reader = str(key_tuple[-1])
        who = f"reader {reader!r}" + (f" (modality {modality!r})" if modality else "")
        scores, truth = check_binary_truth(
            group["score"].to_numpy(), group["truth"].to_numpy(), who=who
        )
        clusters = group["cluster"].to_numpy() if cluster else None
        try:
            estimate = auc_confidence_interval(scores, truth, alpha=alpha, clusters=clusters)
        except AnalysisInputError as exc:
            raise AnalysisInputError(f"{who}: {exc}") from None
        results.append(
            ReaderAuc(
                reader=reader,
                modality=modality,
                estimate=estimate,
                curve=roc_curve(scores, truth) if curves else None,
                warnings=tuple(warnings),
            )
        )
    return results


def _different_case_sets(frame: pd.DataFrame, has_modality: bool, *, allow: bool) -> list[str]:
    """Refuse (or, with ``allow``, describe) readers of one modality who rated different cases."""
    groups = frame.groupby("modality", sort=False) if has_modality else [(None, frame)]
    problems = []
    for modality, rows in groups:
        case_sets = {
            str(reader): frozenset(cases)
            for reader, cases in rows.groupby("reader", sort=False)["case"]
        }
        all_cases = frozenset().union(*case_sets.values())
        if all(cases == all_cases for cases in case_sets.values()):
            continue
        counts = ", ".join(f"{reader!r} {len(cases)}" for reader, cases in case_sets.items())
        where = f" in modality {modality!r}" if has_modality else ""
        problems.append(
            f"readers rated different cases{where} ({len(all_cases)} cases in all; cases rated: "
            f"{counts})"
        )
    if problems and not allow:
        raise AnalysisInputError(
            "; ".join(problems) + ": AUCs on different cases are not comparable; pass "
            "allow_different_cases=True (command line: --allow-different-cases) to analyse each "
            "reader on its own cases"
        )
    return [problem + "; each reader is analysed on the cases it rated" for problem in problems]
