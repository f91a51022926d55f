"""Checks of parameters shared by every module (one place, one behaviour, one message)."""

from __future__ import annotations

import math
from functools import lru_cache

from scipy.stats import norm

from .errors import AnalysisInputError


def check_alpha(alpha: object) -> float:
    """``alpha`` (1 - confidence level) as a float in the open interval (0, 1).

    Raises
    ------
    AnalysisInputError
        For a value that is not a number (a bool included), NaN, or outside (0, 1).
    """
    if isinstance(alpha, bool):
        raise AnalysisInputError(f"alpha must be a number in (0, 1), got {alpha!r}")
    try:
        value = float(alpha)  # type: ignore[arg-type]  # any float()-able value; checked here
    except (TypeError, ValueError):
        raise AnalysisInputError(f"alpha must be a number in (0, 1), got {alpha!r}") from None
    if math.isnan(value) or not 0.0 < value < 1.0:
        raise AnalysisInputError(
            f"alpha must be in (0, 1) (1 - confidence level: 0.05 for 95%), got {alpha!r}"
        )
    return value


@lru_cache(maxsize=32)
def normal_quantile(alpha: float) -> float:
    """z_{1 - alpha/2}, the two-sided standard normal quantile (1.959963984540054 for 0.05).

    Cached: a report asks for it thousands of times (every Wilson and Wald interval), and
    scipy's ``norm.ppf`` costs about 0.1 ms a call.
    """
    return float(norm.ppf(1.0 - alpha / 2.0))
