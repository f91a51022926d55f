"""Operating points: Youden, fixed false-positive rates, fixed thresholds, McNemar tests.

Rule everywhere: a case is called positive when ``score >= threshold``; thresholds are observed
scores (as ``sklearn.metrics.roc_curve``). pROC reports the midpoint between consecutive distinct
scores instead; it is given too (``threshold_midpoint``) and classifies identically.

Sensitivity at a target false-positive rate (FPR) has three common definitions (reference values
for all three are in ``expected.json``):

A. *step* (primary here, conservative): the observed threshold with the highest sensitivity among
   those whose FPR <= target (ties: lowest FPR). The operating point can be used as is.
B. *pROC interpolation*: linear interpolation along the empirical ROC polyline ordered by threshold
   (pROC ``coords(x = 1 - fpr, input = "specificity")``; equal to ``numpy.interp(target, fpr, tpr)``
   on the full curve).
C. *MRMCaov envelope*: the highest TPR at each FPR, then linear interpolation
   (MRMCaov ``empirical_sens``).

B and C describe points between observed thresholds (no real cut-off achieves them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2

from ._jsonable import JsonResult, Merge, constant
from ._params import check_alpha, normal_quantile
from ._types import ArrayLike
from .data import validate_ratings
from .errors import AnalysisInputError
from .roc import RocCurve, check_binary_truth, roc_curve

__all__ = [
    "DEFAULT_TARGET_FPRS",
    "FprOperatingPoint",
    "McNemarResult",
    "OperatingPoint",
    "Proportion",
    "ReaderThresholds",
    "ThresholdTransfer",
    "YoudenPoint",
    "closest_to_top_left",
    "mcnemar_sensitivity_specificity",
    "mcnemar_test",
    "operating_point",
    "threshold_analysis",
    "threshold_at_fpr",
    "thresholds_at_fprs",
    "transfer_threshold",
    "wilson_interval",
    "youden_threshold",
]

#: False-positive rates of seed 001 (Tables 3-6).
DEFAULT_TARGET_FPRS: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20, 0.30)


def wilson_interval(successes: int, total: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
    1927;22:209-212 (``statsmodels.stats.proportion.proportion_confint(method="wilson")``). Stays in
    [0, 1] and behaves at 0/n and n/n, unlike the Wald interval. (NaN, NaN) when ``total`` is 0.
    """
    alpha = check_alpha(alpha)
    if total < 0 or successes < 0 or successes > total:
        raise AnalysisInputError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return (float("nan"), float("nan"))
    z = normal_quantile(alpha)
    proportion = successes / total
    denominator = 1.0 + z * z / total
    centre = (proportion + z * z / (2.0 * total)) / denominator
    half_width = (
        z / denominator * np.sqrt(proportion * (1 - proportion) / total + z * z / (4.0 * total**2))
    )
    return (float(max(0.0, centre - half_width)), float(min(1.0, centre + half_width)))


@dataclass(frozen=True)
class Proportion(JsonResult):
    """A proportion with its counts and Wilson interval.

    Attributes
    ----------
    numerator, denominator : int
    estimate : float
        numerator / denominator (NaN when the denominator is 0).
    ci : tuple of float
        Wilson interval at level 1 - alpha.
    """

    numerator: int
    denominator: int
    estimate: float
    ci: tuple[float, float]

    @classmethod
    def of(cls, numerator: int, denominator: int, *, alpha: float = 0.05) -> Proportion:
        """Build from counts."""
        estimate = numerator / denominator if denominator else float("nan")
        return cls(
            numerator=int(numerator),
            denominator=int(denominator),
            estimate=float(estimate),
            ci=wilson_interval(int(numerator), int(denominator), alpha=alpha),
        )

    JSON = (
        "estimate",
        "numerator",
        "denominator",
        ("ci95", "ci"),
    )


@dataclass(frozen=True)
class OperatingPoint(JsonResult):
    """Confusion counts and derived rates at one threshold (``score >= threshold`` is positive).

    Attributes
    ----------
    threshold : float
        Observed-score threshold (``inf``: nobody called positive).
    threshold_midpoint : float
        pROC's equivalent threshold: midpoint between the lowest score called positive and the
        highest score called negative (``inf`` / ``-inf`` at the ends).
    tp, fp, tn, fn : int
        Confusion counts.
    sensitivity, specificity, accuracy, ppv, npv : Proportion
        tp/(tp+fn), tn/(tn+fp), (tp+tn)/N, tp/(tp+fp), tn/(tn+fn) with Wilson intervals.
    """

    threshold: float
    threshold_midpoint: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: Proportion
    specificity: Proportion
    accuracy: Proportion
    ppv: Proportion
    npv: Proportion

    @property
    def fpr(self) -> float:
        """False-positive rate fp / (fp + tn)."""
        return 1.0 - self.specificity.estimate

    # JSON has no infinity: an infinite threshold / threshold_midpoint is written null and
    # threshold_infinite / threshold_midpoint_infinite say which one it is, "+inf" (nobody is
    # called positive) or "-inf" (everybody is; midpoint only); null for a finite threshold.
    JSON = (
        "threshold",
        ("threshold_infinite", lambda self: _infinity_marker(self.threshold)),
        "threshold_midpoint",
        ("threshold_midpoint_infinite", lambda self: _infinity_marker(self.threshold_midpoint)),
        ("rule", constant("score >= threshold")),
        "tp",
        "fp",
        "tn",
        "fn",
        "fpr",
        "sensitivity",
        "specificity",
        "accuracy",
        "ppv",
        "npv",
    )


def _infinity_marker(value: float) -> str | None:
    """``"+inf"`` / ``"-inf"`` for an infinite threshold, None for a finite one (strict JSON)."""
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return None


def _point_from_counts(
    threshold: float,
    midpoint: float,
    tp: int,
    fp: int,
    n_positive: int,
    n_negative: int,
    alpha: float,
) -> OperatingPoint:
    fn = n_positive - tp
    tn = n_negative - fp
    return OperatingPoint(
        threshold=float(threshold),
        threshold_midpoint=float(midpoint),
        tp=int(tp),
        fp=int(fp),
        tn=int(tn),
        fn=int(fn),
        sensitivity=Proportion.of(tp, n_positive, alpha=alpha),
        specificity=Proportion.of(tn, n_negative, alpha=alpha),
        accuracy=Proportion.of(tp + tn, n_positive + n_negative, alpha=alpha),
        ppv=Proportion.of(tp, tp + fp, alpha=alpha),
        npv=Proportion.of(tn, tn + fn, alpha=alpha),
    )


def _curve_point(curve: RocCurve, index: int, alpha: float) -> OperatingPoint:
    return _point_from_counts(
        curve.thresholds[index],
        curve.midpoint_thresholds[index],
        int(curve.true_positives[index]),
        int(curve.false_positives[index]),
        curve.n_positive,
        curve.n_negative,
        alpha,
    )


def operating_point(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    threshold: float,
    alpha: float = 0.05,
) -> OperatingPoint:
    """Sensitivity, specificity, accuracy, PPV, NPV (with counts and Wilson CIs) at a threshold.

    The threshold need not be an observed score: it can come from another cohort (seed 003 fixed
    cut-offs on the training set and applied them to the test sets; see :func:`transfer_threshold`).
    """
    alpha = check_alpha(alpha)
    score_array, truth_int = check_binary_truth(scores, truth)
    threshold = float(threshold)
    if np.isnan(threshold):
        raise AnalysisInputError("threshold is NaN")
    called_positive = score_array >= threshold
    tp = int((called_positive & (truth_int == 1)).sum())
    fp = int((called_positive & (truth_int == 0)).sum())
    above = score_array[called_positive]
    below = score_array[~called_positive]
    if above.size == 0:
        midpoint = np.inf
    elif below.size == 0:
        midpoint = -np.inf
    else:
        midpoint = (above.min() + below.max()) / 2.0
    n_positive = int(truth_int.sum())
    return _point_from_counts(
        threshold, midpoint, tp, fp, n_positive, int(truth_int.size - n_positive), alpha
    )


@dataclass(frozen=True)
class YoudenPoint(JsonResult):
    """Operating point maximising Youden's J = sensitivity + specificity - 1.

    Youden WJ. Index for rating diagnostic tests. Cancer 1950;3:32-35.

    Attributes
    ----------
    j : float
        Maximal J.
    sensitivity_plus_specificity : float
        J + 1, the number pROC's ``coords(best.method = "youden")`` reports as "youden".
    point : OperatingPoint
        The optimal point; if several thresholds tie, the highest threshold (most specific).
    n_optimal_points : int
        How many thresholds reach the maximum.
    optimal_thresholds : list of float
        All of them (observed-score thresholds, highest first).
    criterion : str
        ``"youden"`` or ``"closest_topleft"``.
    """

    j: float
    sensitivity_plus_specificity: float
    point: OperatingPoint
    n_optimal_points: int
    optimal_thresholds: list[float]
    criterion: str = "youden"

    JSON = (
        "criterion",
        "j",
        "sensitivity_plus_specificity",
        "n_optimal_points",
        "optimal_thresholds",
        Merge("point"),
    )


def youden_threshold(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    alpha: float = 0.05,
) -> YoudenPoint:
    """Threshold maximising J = sensitivity + specificity - 1 over every observed threshold.

    Ties are found exactly (J m n = tp n - fp m in integers); the primary point is the highest
    tied threshold, and all tied thresholds are listed. Matches pROC
    ``coords(roc, "best", best.method = "youden")`` when the optimum is unique.
    """
    alpha = check_alpha(alpha)
    curve = roc_curve(scores, truth)
    m, n = curve.n_positive, curve.n_negative
    scaled_j = (
        curve.true_positives.astype(np.int64) * n - curve.false_positives.astype(np.int64) * m
    )
    best = scaled_j.max()
    optimal = np.flatnonzero(scaled_j == best)
    point = _curve_point(curve, int(optimal[0]), alpha)
    j = point.sensitivity.estimate + point.specificity.estimate - 1.0
    return YoudenPoint(
        j=float(j),
        sensitivity_plus_specificity=float(j + 1.0),
        point=point,
        n_optimal_points=int(optimal.size),
        optimal_thresholds=[float(curve.thresholds[i]) for i in optimal],
    )


def closest_to_top_left(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    alpha: float = 0.05,
) -> YoudenPoint:
    """Threshold minimising (1 - sensitivity)^2 + (1 - specificity)^2 (pROC ``closest.topleft``).

    Returned as a :class:`YoudenPoint` with ``criterion = "closest_topleft"`` (``j`` is the J of the
    chosen point). Ties found exactly, highest threshold first.
    """
    alpha = check_alpha(alpha)
    curve = roc_curve(scores, truth)
    m, n = curve.n_positive, curve.n_negative
    false_negatives = m - curve.true_positives.astype(np.int64)
    false_positives = curve.false_positives.astype(np.int64)
    # (fn/m)^2 + (fp/n)^2 scaled by (m n)^2 is an integer: exact ties (Python ints avoid overflow).
    distance = [
        int(fn) ** 2 * n**2 + int(fp) ** 2 * m**2
        for fn, fp in zip(false_negatives, false_positives, strict=True)
    ]
    best = min(distance)
    optimal = [index for index, value in enumerate(distance) if value == best]
    point = _curve_point(curve, optimal[0], alpha)
    j = point.sensitivity.estimate + point.specificity.estimate - 1.0
    return YoudenPoint(
        j=float(j),
        sensitivity_plus_specificity=float(j + 1.0),
        point=point,
        n_optimal_points=len(optimal),
        optimal_thresholds=[float(curve.thresholds[i]) for i in optimal],
        criterion="closest_topleft",
    )


@dataclass(frozen=True)
class FprOperatingPoint(JsonResult):
    """Operating point for a target false-positive rate.

    Attributes
    ----------
    target_fpr : float
    point : OperatingPoint
        Definition A (step, conservative): highest sensitivity with FPR <= target at an observed
        threshold (ties: lowest FPR). ``point.fpr`` is the achieved FPR.
    sensitivity_interpolated : float
        Definition B: pROC's interpolated sensitivity at exactly the target FPR.
    sensitivity_envelope_interpolated : float
        Definition C: MRMCaov ``empirical_sens`` (upper envelope, then interpolation).
    """

    target_fpr: float
    point: OperatingPoint
    sensitivity_interpolated: float
    sensitivity_envelope_interpolated: float

    JSON = (
        "target_fpr",
        (
            "definition",
            constant("step: highest sensitivity with FPR <= target, observed threshold"),
        ),
        Merge("point"),
        ("sensitivity_interpolated_pROC", "sensitivity_interpolated"),
        ("sensitivity_interpolated_envelope", "sensitivity_envelope_interpolated"),
    )


def _fpr_point(curve: RocCurve, target_fpr: float, alpha: float) -> FprOperatingPoint:
    if not (0.0 <= target_fpr <= 1.0):
        raise AnalysisInputError(f"target FPR must be between 0 and 1, got {target_fpr!r}")
    # Largest false-positive count allowed; the tiny slack absorbs float error in target * n
    # (0.3 * 10 = 3.0000000000000004 must still allow 3 false positives).
    allowed = int(np.floor(target_fpr * curve.n_negative + 1e-9))
    eligible = np.flatnonzero(curve.false_positives <= allowed)
    best_tp = curve.true_positives[eligible].max()
    # The curve is ordered by decreasing threshold, so the first eligible index with the best
    # sensitivity has the fewest false positives.
    index = int(eligible[np.flatnonzero(curve.true_positives[eligible] == best_tp)[0]])
    interpolated = float(np.interp(target_fpr, curve.fpr, curve.tpr))
    # Upper envelope: the highest sensitivity at each distinct FPR (grouped after a sort).
    order = np.argsort(curve.fpr, kind="stable")
    sorted_fpr = curve.fpr[order]
    starts = np.flatnonzero(np.r_[True, sorted_fpr[1:] != sorted_fpr[:-1]])
    unique_fpr = sorted_fpr[starts]
    upper_tpr = np.maximum.reduceat(curve.tpr[order], starts)
    envelope = float(np.interp(target_fpr, unique_fpr, upper_tpr))
    return FprOperatingPoint(
        target_fpr=float(target_fpr),
        point=_curve_point(curve, index, alpha),
        sensitivity_interpolated=interpolated,
        sensitivity_envelope_interpolated=envelope,
    )


def threshold_at_fpr(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    target_fpr: float,
    alpha: float = 0.05,
) -> FprOperatingPoint:
    """Operating point at a target false-positive rate (definitions A, B, C; A is primary)."""
    alpha = check_alpha(alpha)
    return _fpr_point(roc_curve(scores, truth), float(target_fpr), alpha)


def thresholds_at_fprs(
    scores: ArrayLike,
    truth: ArrayLike,
    *,
    target_fprs: Sequence[float] = DEFAULT_TARGET_FPRS,
    alpha: float = 0.05,
) -> list[FprOperatingPoint]:
    """:func:`threshold_at_fpr` for several targets (default 5, 10, 15, 20, 30%)."""
    alpha = check_alpha(alpha)
    curve = roc_curve(scores, truth)
    return [_fpr_point(curve, float(target), alpha) for target in target_fprs]


@dataclass(frozen=True)
class ThresholdTransfer(JsonResult):
    """A threshold chosen on one cohort and applied unchanged to another (seed 003's practice).

    Attributes
    ----------
    rule : str
        How the threshold was chosen (``"youden"`` or ``"fpr<=0.1"``...).
    threshold : float
        The observed-score threshold from the derivation cohort.
    derivation, validation : OperatingPoint
        Performance on each cohort with the same threshold.
    """

    rule: str
    threshold: float
    derivation: OperatingPoint
    validation: OperatingPoint

    JSON = (
        "rule",
        "threshold",
        "derivation",
        "validation",
    )


def transfer_threshold(
    derivation_scores: ArrayLike,
    derivation_truth: ArrayLike,
    validation_scores: ArrayLike,
    validation_truth: ArrayLike,
    *,
    target_fpr: float | None = None,
    alpha: float = 0.05,
) -> ThresholdTransfer:
    """Fix a threshold on a derivation cohort (Youden, or a target FPR) and apply it to another.

    The validation point is computed with exactly the derivation threshold (``score >= t``); its
    FPR can differ from the target.
    """
    if target_fpr is None:
        chosen = youden_threshold(derivation_scores, derivation_truth, alpha=alpha).point
        rule = "youden"
    else:
        chosen = threshold_at_fpr(
            derivation_scores, derivation_truth, target_fpr=target_fpr, alpha=alpha
        ).point
        rule = f"fpr<={target_fpr:g}"
    validation = operating_point(
        validation_scores, validation_truth, threshold=chosen.threshold, alpha=alpha
    )
    return ThresholdTransfer(
        rule=rule, threshold=chosen.threshold, derivation=chosen, validation=validation
    )


@dataclass(frozen=True)
class McNemarResult(JsonResult):
    """McNemar's test for paired proportions (e.g. two readers' sensitivities on the same cases).

    McNemar Q. Note on the sampling error of the difference between correlated proportions or
    percentages. Psychometrika 1947;12:153-157.

    Attributes
    ----------
    n_pairs : int
        Cases compared.
    both_correct, only_a_correct, only_b_correct, both_wrong : int
        The 2x2 table; only the discordant cells (``only_a_correct``, ``only_b_correct``) enter.
    proportion_a, proportion_b : float
        Fraction correct for each (the two sensitivities or specificities).
    statistic : float
        Chi-square with continuity correction (|b - c| - 1)^2 / (b + c), as R ``mcnemar.test`` and
        ``statsmodels.stats.contingency_tables.mcnemar(exact=False)``; 0 when b + c = 0.
    p_value_chi2 : float
        Its p-value (1 degree of freedom).
    p_value_exact : float
        Exact two-sided binomial p-value min(1, 2 P(Bin(b + c, 1/2) <= min(b, c))).
    p_value : float
        The one named by ``method``.
    method : str
        ``"exact binomial"`` or ``"chi-square with continuity correction"``.
    """

    n_pairs: int
    both_correct: int
    only_a_correct: int
    only_b_correct: int
    both_wrong: int
    proportion_a: float
    proportion_b: float
    statistic: float
    p_value_chi2: float
    p_value_exact: float
    p_value: float
    method: str

    JSON = (
        "n_pairs",
        "both_correct",
        "only_a_correct",
        "only_b_correct",
        "both_wrong",
        "proportion_a",
        "proportion_b",
        ("difference", lambda self: self.proportion_a - self.proportion_b),
        ("statistic_chi2_cc", "statistic"),
        ("p_value_chi2_cc", "p_value_chi2"),
        "p_value_exact",
        "p_value",
        "method",
    )


def mcnemar_test(
    correct_a: ArrayLike,
    correct_b: ArrayLike,
    *,
    method: str = "exact",
) -> McNemarResult:
    """McNemar's test on paired binary outcomes (both p-values computed; ``method`` picks one).

    Parameters
    ----------
    correct_a, correct_b : array-like of bool, shape (n,)
        Whether each of the two raters was correct on each case (or any paired binary outcome).
    method : {"exact", "chi2"}
        Which p-value is reported as ``p_value``: the exact binomial (default; valid for few
        discordant pairs) or the chi-square with continuity correction.
    """
    if method not in ("exact", "chi2"):
        raise AnalysisInputError(f"method must be 'exact' or 'chi2', got {method!r}")
    first = np.asarray(correct_a)
    second = np.asarray(correct_b)
    if first.shape != second.shape or first.ndim != 1:
        raise AnalysisInputError(
            f"paired outcomes must have the same length, got {first.shape} and {second.shape}"
        )
    for name, values in (("correct_a", first), ("correct_b", second)):
        if not np.isin(values.astype(float), (0.0, 1.0)).all():
            raise AnalysisInputError(f"{name} must be boolean (0/1)")
    first = first.astype(bool)
    second = second.astype(bool)
    only_a = int((first & ~second).sum())
    only_b = int((~first & second).sum())
    discordant = only_a + only_b
    if discordant == 0:
        statistic, p_chi2, p_exact = 0.0, 1.0, 1.0
    else:
        statistic = (abs(only_a - only_b) - 1.0) ** 2 / discordant
        p_chi2 = float(chi2.sf(statistic, 1))
        p_exact = float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), discordant, 0.5)))
    n_pairs = int(first.size)
    return McNemarResult(
        n_pairs=n_pairs,
        both_correct=int((first & second).sum()),
        only_a_correct=only_a,
        only_b_correct=only_b,
        both_wrong=int((~first & ~second).sum()),
        proportion_a=float(first.mean()) if n_pairs else float("nan"),
        proportion_b=float(second.mean()) if n_pairs else float("nan"),
        statistic=float(statistic),
        p_value_chi2=float(p_chi2),
        p_value_exact=float(p_exact),
        p_value=float(p_exact if method == "exact" else p_chi2),
        method="exact binomial" if method == "exact" else "chi-square with continuity correction",
    )


def mcnemar_sensitivity_specificity(
    called_positive_a: ArrayLike,
    called_positive_b: ArrayLike,
    truth: ArrayLike,
    *,
    method: str = "exact",
) -> dict[str, McNemarResult]:
    """Compare two readers' sensitivities (on positive cases) and specificities (on negatives).

    Returns ``{"sensitivity": McNemarResult, "specificity": McNemarResult}``; a reader is correct
    on a positive case when it calls it positive, on a negative case when it calls it negative.
    """
    first = np.asarray(called_positive_a).astype(bool)
    second = np.asarray(called_positive_b).astype(bool)
    truth_array = np.asarray(truth)
    if not (first.shape == second.shape == truth_array.shape):
        raise AnalysisInputError(
            f"calls and truth differ in length: {first.shape}, {second.shape}, {truth_array.shape}"
        )
    positive = truth_array == 1
    return {
        "sensitivity": mcnemar_test(first[positive], second[positive], method=method),
        "specificity": mcnemar_test(~first[~positive], ~second[~positive], method=method),
    }


@dataclass(frozen=True)
class ReaderThresholds(JsonResult):
    """Youden and fixed-FPR operating points of one reader (or model) in one modality."""

    reader: str
    modality: str | None
    n_positive: int
    n_negative: int
    youden: YoudenPoint
    fpr_points: list[FprOperatingPoint]

    JSON = (
        "reader",
        "modality",
        "n_positive",
        "n_negative",
        "youden",
        ("fixed_fpr", "fpr_points"),
    )


def threshold_analysis(
    ratings: pd.DataFrame,
    *,
    target_fprs: Sequence[float] = DEFAULT_TARGET_FPRS,
    alpha: float = 0.05,
    readers: Sequence[str] | None = None,
) -> list[ReaderThresholds]:
    """Youden and target-FPR operating points for every reader (and modality) of a long table."""
    frame = validate_ratings(ratings)
    has_modality = "modality" in frame.columns
    keys = ["modality", "reader"] if has_modality else ["reader"]
    results = []
    for key, group in frame.groupby(keys, sort=False):
        key_tuple = key if isinstance(key, tuple) else (key,)
        reader = str(key_tuple[-1])
        if readers is not None and reader not in readers:
            continue
        modality = str(key_tuple[0]) if has_modality else None
        who = f"reader {reader!r}" + (f" (modality {modality!r})" if modality else "")
        scores, truth = check_binary_truth(
            group["score"].to_numpy(), group["truth"].to_numpy(), who=who
        )
        results.append(
            ReaderThresholds(
                reader=reader,
                modality=modality,
                n_positive=int(truth.sum()),
                n_negative=int(truth.size - truth.sum()),
                youden=youden_threshold(scores, truth, alpha=alpha),
                fpr_points=thresholds_at_fprs(scores, truth, target_fprs=target_fprs, alpha=alpha),
            )
        )
    if readers is not None:
        missing = sorted(set(readers) - {result.reader for result in results})
        if missing:
            raise AnalysisInputError(f"reader(s) {missing} not found in the ratings")
    return results
