"""Calibration of predicted probabilities and decision curve analysis.

* :func:`reliability_curve`: observed event fraction against mean predicted probability in bins
  of equal width (``uniform``) or equal counts (``quantile``), with Wilson intervals; the binning
  is that of scikit-learn's ``calibration_curve``.
* :func:`brier_score`: mean squared difference between probability and outcome (Brier GW. Mon
  Weather Rev 1950;78:1-3), and its scaled version 1 - Brier / [p(1 - p)].
* :func:`logistic_calibration`: calibration slope (logistic regression of the outcome on the
  logit of the prediction; Cox DR. Biometrika 1958;45:562-565) and calibration intercept
  (calibration-in-the-large: intercept with the logit as an offset, i.e. slope fixed at 1;
  Van Calster B et al. J Clin Epidemiol 2016;74:167-176; Steyerberg EW, Clinical Prediction
  Models, 2nd ed., 2019, ch. 15).
* :func:`expected_observed_ratio`: E/O = sum of predicted probabilities / number of events,
  with the interval of Debray TPA et al. (BMJ 2017;356:i6460): SE(ln O/E) = sqrt(1/O - 1/N).
* :func:`decision_curve`: net benefit NB(pt) = TP/N - FP/N * pt / (1 - pt) of the model, of
  treating everyone and of treating no one, over a grid of threshold probabilities pt
  (Vickers AJ, Elkin EB. Med Decis Making 2006;26:565-574). A case is called positive when its
  probability is >= pt.
* :func:`calibration_analysis` / :func:`decision_curve_analysis`: the same from the package's
  long ratings table (``score`` = predicted probability of one reader, normally a model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit, logit

from analysis._jsonable import show_value as _show
from analysis._jsonable import to_jsonable as _json

from ._jsonable import JsonResult
from ._params import check_alpha
from ._types import ArrayLike
from .data import describe_row, validate_ratings
from .errors import AnalysisInputError

__all__ = [
    "CalibrationResult",
    "DecisionCurve",
    "LogisticCalibration",
    "ReliabilityCurve",
    "brier_score",
    "calibration_analysis",
    "calibration_summary",
    "decision_curve",
    "decision_curve_analysis",
    "expected_observed_ratio",
    "logistic_calibration",
    "reliability_curve",
]

#: Probabilities are clipped to [CLIP, 1 - CLIP] before taking logits.
CLIP = 1e-8


def _check_inputs(
    truth: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    name: str = "predicted",
) -> tuple[np.ndarray, np.ndarray]:
    """Validate 0/1 outcomes and probabilities in [0, 1]; errors name the position and value."""
    y = np.asarray(truth)
    p = np.asarray(predicted, dtype=float)
    if y.ndim != 1 or p.ndim != 1:
        raise AnalysisInputError(
            f"truth and {name} must be one-dimensional; got shapes {y.shape} and {p.shape}"
        )
    if len(y) != len(p):
        raise AnalysisInputError(f"truth has {len(y)} values but {name} has {len(p)}")
    if len(y) == 0:
        raise AnalysisInputError("no cases")
    try:
        y_float = y.astype(float)
    except (TypeError, ValueError):
        raise AnalysisInputError(
            f"truth must be 0 or 1; got values like {y[:3].tolist()}"
        ) from None
    bad = ~np.isin(y_float, (0.0, 1.0))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise AnalysisInputError(
            f"truth must be 0 or 1: {_show(y[position])} at position {position} "
            f"({int(bad.sum())} such values)"
        )
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise AnalysisInputError(
            f"{name} must be probabilities in [0, 1]: {_show(p[position])} at position {position} "
            f"({int(bad.sum())} such values)"
        )
    return y_float.astype(int), p


def _wilson(successes: int, total: int, alpha: float) -> list[float | None]:
    """Wilson score interval for a binomial proportion (Wilson EB. JASA 1927;22:209-212)."""
    if total == 0:
        return [None, None]
    z = stats.norm.ppf(1 - alpha / 2)
    phat = successes / total
    denom = 1 + z**2 / total
    centre = (phat + z**2 / (2 * total)) / denom
    half = z * math.sqrt(phat * (1 - phat) / total + z**2 / (4 * total**2)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


# --------------------------------------------------------------------------------------------
# reliability curve
# --------------------------------------------------------------------------------------------


@dataclass
class ReliabilityCurve(JsonResult):
    """Binned calibration (reliability) curve.

    Attributes
    ----------
    strategy : str
        ``quantile`` (bins with about equal counts) or ``uniform`` (equal-width bins on [0, 1]).
    edges : list of float
        Bin edges (quantile edges that coincide are merged).
    bins : list of dict
        Non-empty bins in increasing order: ``lower``, ``upper`` (bin edges; a bin holds
        lower < p <= upper, the first also p = lower), ``count``, ``events``,
        ``mean_predicted``, ``observed`` (event fraction), ``ci95`` (Wilson interval of the
        observed fraction at level 1 - alpha).
    """

    strategy: str
    edges: list[float]
    bins: list[dict[str, Any]]

    JSON = (
        "strategy",
        "edges",
        "bins",
    )


def reliability_curve(
    truth: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    alpha: float = 0.05,
) -> ReliabilityCurve:
    """Observed event fraction against mean predicted probability per bin.

    Binning follows scikit-learn's ``calibration_curve``: edges are ``linspace(0, 1, n_bins+1)``
    (``uniform``) or the quantiles of the predictions (``quantile``), a prediction goes to the
    bin ``searchsorted(edges[1:-1], p)`` (left side), and empty bins are dropped.

    Parameters
    ----------
    truth : array of 0/1
    predicted : array of probabilities in [0, 1]
    n_bins : int
        Number of bins (>= 1).
    strategy : {"quantile", "uniform"}
    alpha : float
        1 - level of the Wilson intervals.

    Returns
    -------
    ReliabilityCurve
    """
    y, p = _check_inputs(truth, predicted)
    alpha = check_alpha(alpha)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise AnalysisInputError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
        edges = np.unique(edges)
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise AnalysisInputError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    ids = np.searchsorted(edges[1:-1], p)
    bins = []
    for b in range(len(edges) - 1):
        mask = ids == b
        count = int(mask.sum())
        if count == 0:
            continue
        events = int(y[mask].sum())
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "events": events,
                "mean_predicted": float(p[mask].mean()),
                "observed": events / count,
                "ci95": _wilson(events, count, alpha),
            }
        )
    return ReliabilityCurve(strategy=strategy, edges=[float(e) for e in edges], bins=bins)


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------


def brier_score(
    truth: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray
) -> float:
    """Brier score, mean of (p - y)^2 (Brier, Mon Weather Rev 1950;78:1-3).

    Parameters
    ----------
    truth : array of 0/1
    predicted : array of probabilities in [0, 1]

    Returns
    -------
    float
        0 is perfect, lower is better; 0.25 is the score of always predicting 0.5. Equals
        ``sklearn.metrics.brier_score_loss(truth, predicted)``.
    """
    y, p = _check_inputs(truth, predicted)
    return float(np.mean((p - y) ** 2))


@dataclass
class LogisticCalibration(JsonResult):
    """Logistic recalibration: logit P(y = 1) = a + b logit(p).

    Attributes
    ----------
    slope, slope_se, slope_ci95
        b with its Wald SE and interval (ideal 1; < 1: predictions too extreme).
    slope_model_intercept
        a in the two-parameter model (with the slope free).
    intercept, intercept_se, intercept_ci95
        Calibration-in-the-large: a with b fixed at 1 (logit(p) as offset); ideal 0, > 0: the
        model under-predicts on average.
    n_clipped : int
        Predictions clipped to [1e-8, 1 - 1e-8] before taking the logit.
    warnings : list of str
    """

    slope: float | None
    slope_se: float | None
    slope_ci95: list[float | None]
    slope_model_intercept: float | None
    intercept: float | None
    intercept_se: float | None
    intercept_ci95: list[float | None]
    n_clipped: int
    warnings: list[str] = field(default_factory=list)

    JSON = (
        "slope",
        "slope_se",
        "slope_ci95",
        "slope_model_intercept",
        "intercept",
        "intercept_se",
        "intercept_ci95",
        "n_clipped",
        "warnings",
    )


def _fit_logistic(x: np.ndarray, y: np.ndarray, *, max_iter: int = 100, tol: float = 1e-12):
    """Newton-Raphson for logit P(y) = X beta. Returns (beta, covariance) or None (no MLE)."""
    beta = np.zeros(x.shape[1])
    beta[0] = logit(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    previous = -np.inf
    for _ in range(max_iter):
        eta = x @ beta
        mu = expit(eta)
        w = mu * (1 - mu)
        info = x.T @ (x * w[:, None])
        score = x.T @ (y - mu)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        loglik = float(np.sum(y * (x @ beta) - np.logaddexp(0, x @ beta)))
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e6:
            return None
        if abs(loglik - previous) < tol * (abs(loglik) + tol) and np.max(np.abs(step)) < 1e-9:
            break
        previous = loglik
    else:
        return None
    mu = expit(x @ beta)
    info = x.T @ (x * (mu * (1 - mu))[:, None])
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    return beta, cov


def logistic_calibration(
    truth: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
) -> LogisticCalibration:
    """Calibration slope and intercept by logistic recalibration (Cox 1958; Van Calster 2016).

    Fits by maximum likelihood (Newton-Raphson) ``logit P(y=1) = a + b * logit(p)`` for the
    slope b, and ``logit P(y=1) = a + logit(p)`` (offset, slope fixed at 1) for the
    calibration-in-the-large intercept a; Wald intervals from the observed information. Same
    estimates as a binomial GLM with logit link (statsmodels ``GLM(..., offset=logit(p))``).
    Predictions of exactly 0 or 1 are clipped to [1e-8, 1 - 1e-8] (counted in ``n_clipped``).
    With one outcome class only, or complete separation, the estimates are None and a warning
    says why.

    Parameters
    ----------
    truth : array of 0/1
    predicted : array of probabilities in [0, 1]
    alpha : float

    Returns
    -------
    LogisticCalibration
    """
    y, p = _check_inputs(truth, predicted)
    alpha = check_alpha(alpha)
    notes: list[str] = []
    clipped = np.clip(p, CLIP, 1 - CLIP)
    n_clipped = int(np.sum(clipped != p))
    if n_clipped:
        notes.append(f"{n_clipped} predictions of exactly 0 or 1 clipped to [{CLIP}, 1 - {CLIP}]")
    lp = logit(clipped)
    z = stats.norm.ppf(1 - alpha / 2)
    events = int(y.sum())
    if events == 0 or events == len(y):
        notes.append(
            f"all {len(y)} outcomes are {y[0]}: calibration slope and intercept are undefined"
        )
        return LogisticCalibration(
            None, None, [None, None], None, None, None, [None, None], n_clipped, notes
        )

    # intercept with offset: solve sum(y - expit(a + lp)) = 0 (monotone in a)
    def score(a: float) -> float:
        return float(np.sum(y - expit(a + lp)))

    lo, hi = -1.0, 1.0
    while score(lo) < 0:
        lo *= 2
    while score(hi) > 0:
        hi *= 2
    intercept = float(optimize.brentq(score, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps))
    mu = expit(intercept + lp)
    intercept_se = float(1 / math.sqrt(np.sum(mu * (1 - mu))))
    intercept_ci = [intercept - z * intercept_se, intercept + z * intercept_se]

    if np.ptp(lp) == 0:
        notes.append("all predictions are equal: the calibration slope is undefined")
        fit = None
    else:
        fit = _fit_logistic(np.column_stack([np.ones_like(lp), lp]), y.astype(float))
        if fit is None:
            notes.append(
                "the logistic recalibration model did not converge (complete separation of "
                "outcomes by the predictions): calibration slope undefined"
            )
    if fit is None:
        slope = slope_se = slope_intercept = None
        slope_ci: list[float | None] = [None, None]
    else:
        beta, cov = fit
        slope = float(beta[1])
        slope_se = float(math.sqrt(cov[1, 1]))
        slope_intercept = float(beta[0])
        slope_ci = [slope - z * slope_se, slope + z * slope_se]
    return LogisticCalibration(
        slope=slope,
        slope_se=slope_se,
        slope_ci95=slope_ci,
        slope_model_intercept=slope_intercept,
        intercept=intercept,
        intercept_se=intercept_se,
        intercept_ci95=intercept_ci,
        n_clipped=n_clipped,
        warnings=notes,
    )


def expected_observed_ratio(
    truth: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Expected / observed events ratio with a (1 - alpha) interval.

    E = sum of predicted probabilities, O = number of events, N = cases. E/O > 1: the model
    over-predicts. Interval: exp(ln(O/E) +- z SE) with SE(ln O/E) = sqrt(1/O - 1/N) (Debray et
    al. BMJ 2017), inverted for E/O. O = 0 gives None.

    Returns
    -------
    dict
        ``expected``, ``observed``, ``n``, ``ratio`` (E/O), ``ci95``.
    """
    y, p = _check_inputs(truth, predicted)
    alpha = check_alpha(alpha)
    expected = float(p.sum())
    observed = int(y.sum())
    n = len(y)
    if observed == 0:
        return {"expected": expected, "observed": 0, "n": n, "ratio": None, "ci95": [None, None]}
    ratio = expected / observed
    if expected == 0:
        return {"expected": 0.0, "observed": observed, "n": n, "ratio": 0.0, "ci95": [None, None]}
    se = math.sqrt(max(1 / observed - 1 / n, 0.0))
    z = stats.norm.ppf(1 - alpha / 2)
    log_oe = math.log(observed / expected)
    ci = [math.exp(-(log_oe + z * se)), math.exp(-(log_oe - z * se))]
    return {"expected": expected, "observed": observed, "n": n, "ratio": ratio, "ci95": ci}


@dataclass
class CalibrationResult:
    """All calibration measures of one set of predictions (see :func:`calibration_summary`)."""

    n: int
    events: int
    brier: float
    brier_scaled: float | None
    logistic: LogisticCalibration
    expected_observed: dict[str, Any]
    reliability: ReliabilityCurve
    alpha: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        logistic = self.logistic.to_dict()
        logistic.pop("warnings")
        return _json(
            {
                "n": self.n,
                "events": self.events,
                "alpha": self.alpha,
                "brier": self.brier,
                "brier_scaled": self.brier_scaled,
                "calibration_slope": {
                    "estimate": self.logistic.slope,
                    "se": self.logistic.slope_se,
                    "ci95": self.logistic.slope_ci95,
                    "intercept": self.logistic.slope_model_intercept,
                },
                "calibration_intercept": {
                    "estimate": self.logistic.intercept,
                    "se": self.logistic.intercept_se,
                    "ci95": self.logistic.intercept_ci95,
                },
                "expected_observed": self.expected_observed,
                "reliability": self.reliability.to_dict(),
                "warnings": self.warnings,
            }
        )


def calibration_summary(
    truth: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    alpha: float = 0.05,
) -> CalibrationResult:
    """Brier score, calibration slope / intercept, E/O ratio and reliability curve together.

    ``brier_scaled`` = 1 - Brier / [o (1 - o)] with o the event fraction (Steyerberg 2010,
    Epidemiology 21:128-138): 1 is perfect, 0 is no better than predicting o for everyone;
    None when all outcomes are equal. See :func:`brier_score`, :func:`logistic_calibration`,
    :func:`expected_observed_ratio`, :func:`reliability_curve`.

    Parameters
    ----------
    truth : array of 0/1
    predicted : array of probabilities in [0, 1]
    n_bins, strategy
        Reliability-curve binning.
    alpha : float
        1 - level of all intervals.

    Returns
    -------
    CalibrationResult
        ``.to_dict()``: ``n``, ``events``, ``alpha``, ``brier``, ``brier_scaled``,
        ``calibration_slope`` (estimate, se, ci95, intercept of the slope model),
        ``calibration_intercept`` (estimate, se, ci95), ``expected_observed``, ``reliability``,
        ``warnings``.
    """
    y, p = _check_inputs(truth, predicted)
    alpha = check_alpha(alpha)
    brier = brier_score(y, p)
    prevalence = float(y.mean())
    reference = prevalence * (1 - prevalence)
    logistic = logistic_calibration(y, p, alpha=alpha)
    return CalibrationResult(
        n=len(y),
        events=int(y.sum()),
        brier=brier,
        brier_scaled=1 - brier / reference if reference > 0 else None,
        logistic=logistic,
        expected_observed=expected_observed_ratio(y, p, alpha=alpha),
        reliability=reliability_curve(y, p, n_bins=n_bins, strategy=strategy, alpha=alpha),
        alpha=alpha,
        warnings=list(logistic.warnings),
    )


# --------------------------------------------------------------------------------------------
# decision curves
# --------------------------------------------------------------------------------------------


@dataclass
class DecisionCurve(JsonResult):
    """Net benefit over threshold probabilities (Vickers & Elkin 2006).

    Attributes
    ----------
    thresholds : ndarray
        Threshold probabilities pt in (0, 1).
    prevalence : float
    treat_all : ndarray
        prevalence - (1 - prevalence) pt / (1 - pt).
    treat_none : ndarray
        Zeros.
    models : dict
        Net benefit of each model: TP/N - FP/N pt/(1 - pt), positive when p >= pt.
    """

    thresholds: np.ndarray
    prevalence: float
    n: int
    treat_all: np.ndarray
    treat_none: np.ndarray
    models: dict[str, np.ndarray]

    JSON = (
        "thresholds",
        "n",
        "prevalence",
        "treat_all",
        "treat_none",
        "models",
    )

    def to_frame(self) -> pd.DataFrame:
        """One row per threshold: ``threshold``, ``treat_all``, ``treat_none``, one column per model."""
        frame = pd.DataFrame(
            {
                "threshold": self.thresholds,
                "treat_all": self.treat_all,
                "treat_none": self.treat_none,
            }
        )
        for name, values in self.models.items():
            frame[name] = values
        return frame


def decision_curve(
    truth: Sequence[float] | np.ndarray,
    predictions: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
    *,
    thresholds: ArrayLike | None = None,
) -> DecisionCurve:
    """Decision curve analysis: net benefit of models, treat-all and treat-none.

    Net benefit at threshold probability pt (Vickers & Elkin, Med Decis Making 2006):
    ``NB = TP/N - FP/N * pt / (1 - pt)``, a case being called positive when its predicted
    probability is >= pt; treat-all ``NB = prevalence - (1 - prevalence) pt / (1 - pt)``;
    treat-none 0.

    Parameters
    ----------
    truth : array of 0/1
    predictions : array of probabilities, or mapping name -> array (several models)
    thresholds : array of floats in (0, 1), optional
        Default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    DecisionCurve
    """
    if isinstance(predictions, Mapping):
        named = {str(name): values for name, values in predictions.items()}
    else:
        named = {"model": predictions}
    if not named:
        raise AnalysisInputError("no predictions given")
    checked = {}
    y = None
    for name, values in named.items():
        y, p = _check_inputs(truth, values, name=f"predictions of {name!r}")
        checked[name] = p
    assert y is not None
    if thresholds is None:
        grid = np.round(np.arange(1, 100) / 100, 2)
    else:
        grid = np.asarray(thresholds, dtype=float).ravel()
        bad = ~np.isfinite(grid) | (grid <= 0) | (grid >= 1)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise AnalysisInputError(
                f"thresholds must lie strictly between 0 and 1: {_show(grid[position])} at position "
                f"{position}"
            )
    n = len(y)
    prevalence = float(y.mean())
    odds = grid / (1 - grid)
    models = {}
    positives = y == 1
    for name, p in checked.items():
        # counts of p >= pt via sorted predictions
        pos_sorted = np.sort(p[positives])
        neg_sorted = np.sort(p[~positives])
        tp = len(pos_sorted) - np.searchsorted(pos_sorted, grid, side="left")
        fp = len(neg_sorted) - np.searchsorted(neg_sorted, grid, side="left")
        models[name] = tp / n - fp / n * odds
    return DecisionCurve(
        thresholds=grid,
        prevalence=prevalence,
        n=n,
        treat_all=prevalence - (1 - prevalence) * odds,
        treat_none=np.zeros_like(grid),
        models=models,
    )


# --------------------------------------------------------------------------------------------
# DataFrame front
# --------------------------------------------------------------------------------------------


def _reader_rows(ratings: pd.DataFrame, reader: str, modality: str | None) -> pd.DataFrame:
    frame = validate_ratings(ratings)
    reader = str(reader)
    readers = [str(r) for r in pd.unique(frame["reader"])]
    if reader not in readers:
        raise AnalysisInputError(f"reader {reader!r} not found; available: {readers}")
    rows = frame[frame["reader"] == reader]
    if "modality" in rows.columns:
        modalities = [str(m) for m in pd.unique(rows["modality"])]
        if modality is None:
            if len(modalities) > 1:
                raise AnalysisInputError(
                    f"reader {reader!r} has ratings in several modalities {modalities}: choose one"
                )
        else:
            if str(modality) not in modalities:
                raise AnalysisInputError(
                    f"reader {reader!r} has no ratings in modality {modality!r}; it has {modalities}"
                )
            rows = rows[rows["modality"] == str(modality)]
    elif modality is not None:
        raise AnalysisInputError(
            f"modality {modality!r} requested but there is no 'modality' column"
        )
    bad = (rows["score"] < 0) | (rows["score"] > 1)
    if bad.any():
        index = bad[bad].index[0]
        raise AnalysisInputError(
            f"column 'score': {float(rows.at[index, 'score'])!r} at {describe_row(rows, index)} is not a "
            f"probability in [0, 1] ({int(bad.sum())} such rows); calibration needs probabilities"
        )
    return rows


def calibration_analysis(
    ratings: pd.DataFrame,
    *,
    reader: str,
    modality: str | None = None,
    n_bins: int = 10,
    strategy: str = "quantile",
    alpha: float = 0.05,
) -> CalibrationResult:
    """:func:`calibration_summary` of one reader's (normally a model's) probabilities.

    Parameters
    ----------
    ratings : DataFrame
        Long table; the ``score`` of ``reader`` must be probabilities in [0, 1].
    reader : str
        Whose scores to assess.
    modality : str, optional
        Needed when the reader has ratings in several modalities.
    n_bins, strategy, alpha
        See :func:`calibration_summary`.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    AnalysisInputError
        Unknown reader or modality, or a score outside [0, 1] (reader, case and value named).
    """
    rows = _reader_rows(ratings, reader, modality)
    return calibration_summary(
        rows["truth"].to_numpy(),
        rows["score"].to_numpy(),
        n_bins=n_bins,
        strategy=strategy,
        alpha=alpha,
    )


def decision_curve_analysis(
    ratings: pd.DataFrame,
    *,
    readers: Sequence[str],
    modality: str | None = None,
    thresholds: ArrayLike | None = None,
) -> DecisionCurve:
    """:func:`decision_curve` of the probabilities of one or more readers (models).

    Parameters
    ----------
    ratings : DataFrame
        Long table; the ``score`` of each listed reader must be probabilities in [0, 1].
    readers : sequence of str
        Models (or readers) to compare; all must have rated the same cases, so that the net
        benefits refer to one population.
    modality : str, optional
        Needed when a reader has ratings in several modalities.
    thresholds : array of floats in (0, 1), optional
        Default 0.01, ..., 0.99.

    Returns
    -------
    DecisionCurve
        ``models`` is keyed by reader name.
    """
    if isinstance(readers, str) or not readers:
        raise AnalysisInputError(f"readers must be a non-empty list of names, got {readers!r}")
    frames = {str(reader): _reader_rows(ratings, reader, modality) for reader in readers}
    first_name, first = next(iter(frames.items()))
    cases = first["case"].to_numpy()
    truth = first["truth"].to_numpy()
    predictions = {}
    for name, rows in frames.items():
        indexed = rows.set_index("case")
        if set(indexed.index) != set(cases):
            raise AnalysisInputError(
                f"reader {name!r} and reader {first_name!r} did not rate the same cases"
            )
        predictions[name] = indexed.loc[cases, "score"].to_numpy()
    return decision_curve(truth, predictions, thresholds=thresholds)
