"""Options and small statistical helpers shared by the MRMC methods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..errors import AnalysisInputError

#: Accepted ``covariance`` options (case-insensitive) and their canonical names.
COVARIANCE_METHODS: dict[str, str] = {
    "jackknife": "jackknife",
    "delong": "DeLong",
    "unbiased": "unbiased",
}

#: Accepted ``analysis`` options: random readers random cases, fixed readers random cases,
#: random readers fixed cases.
ANALYSES: tuple[str, ...] = ("RRRC", "FRRC", "RRFC")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _check_covariance(covariance: str) -> str:
    key = str(covariance).strip().lower()
    if key not in COVARIANCE_METHODS:
        raise AnalysisInputError(
            f"unknown covariance method {covariance!r}; choose one of "
            f"{sorted(set(COVARIANCE_METHODS.values()))}"
        )
    return COVARIANCE_METHODS[key]


def _check_analysis(analysis: str, allowed: Sequence[str] = ANALYSES) -> str:
    key = str(analysis).strip().upper()
    if key not in allowed:
        raise AnalysisInputError(f"unknown analysis {analysis!r}; choose one of {list(allowed)}")
    return key


def _t_test(
    estimate: float, variance: float, df: float | None, alpha: float
) -> tuple[float | None, float | None, list[float | None], float | None]:
    """SE, statistic, (1 - alpha) CI and two-sided p for estimate / sqrt(variance).

    ``df`` None or infinite means the normal distribution. A variance that is not positive and
    finite gives None for everything (the caller adds a warning).
    """
    if variance is None or not np.isfinite(variance) or variance <= 0:
        return None, None, [None, None], None
    se = math.sqrt(variance)
    statistic = estimate / se
    if df is None or not np.isfinite(df):
        quantile = stats.norm.ppf(1 - alpha / 2)
        p_value = 2 * stats.norm.sf(abs(statistic))
    else:
        quantile = stats.t.ppf(1 - alpha / 2, df)
        p_value = 2 * stats.t.sf(abs(statistic), df)
    return se, statistic, [estimate - quantile * se, estimate + quantile * se], float(p_value)


def _clip_to_unit_interval(ci: list[float | None]) -> list[float | None]:
    """An AUC interval clipped to [0, 1] (an undefined interval stays [None, None])."""
    lower, upper = ci
    if lower is None or upper is None:
        return ci
    return [max(0.0, lower), min(1.0, upper)]


#: Deviations of AUC-table means smaller than this are floating-point rounding error and are set
#: to zero (a nonzero deviation of empirical AUCs is at least 1 / (2 m n t r)).
_ROUNDING = 1e-12


def _snap(deviations: np.ndarray) -> np.ndarray:
    out = np.array(deviations, dtype=float)
    out[np.abs(out) < _ROUNDING] = 0.0
    return out


def _difference(a: float, b: float) -> float:
    """a - b, or 0 when the difference is rounding error (relative 1e-12)."""
    diff = a - b
    return 0.0 if abs(diff) <= _ROUNDING * max(abs(a), abs(b)) else diff


def _combine(*terms: float) -> float:
    """Sum of terms, or 0 when it is rounding error relative to the largest term."""
    total = float(sum(terms))
    scale = max(abs(term) for term in terms)
    return 0.0 if abs(total) <= _ROUNDING * scale else total


def _table_mean_squares(theta: np.ndarray) -> dict[str, Any]:
    """MS(T), MS(R), MS(T:R) and per-modality MS(R) of a (t, r) table of AUCs."""
    t, r = theta.shape
    grand = theta.mean()
    mod_mean = theta.mean(axis=1)
    rdr_mean = theta.mean(axis=0)
    ms_t = r * float((_snap(mod_mean - grand) ** 2).sum()) / (t - 1) if t > 1 else float("nan")
    ms_r = t * float((_snap(rdr_mean - grand) ** 2).sum()) / (r - 1)
    resid = _snap(theta - mod_mean[:, None] - rdr_mean[None, :] + grand)
    ms_tr = float((resid**2).sum()) / ((t - 1) * (r - 1)) if t > 1 else float("nan")
    ms_r_i = (_snap(theta - mod_mean[:, None]) ** 2).sum(axis=1) / (r - 1)
    return {"ms_t": ms_t, "ms_r": ms_r, "ms_tr": ms_tr, "ms_r_i": ms_r_i}


def _fmt(value: float) -> str:
    return f"{value:.6g}"
