"""iMRMC U-statistic (and MLE) variance of reader-averaged AUCs (Gallas 2006, 2009)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._jsonable import JsonResult, constant
from .._params import check_alpha
from ._common import _fmt
from .covariance import _unbiased_covariance, _ustat_parts, _UStatParts
from .data import mrmc_data

# --------------------------------------------------------------------------------------------
# iMRMC U-statistics
# --------------------------------------------------------------------------------------------

# Biased (V-statistic) sums -> sums over distinct indices (Gallas 2006; iMRMC doAUCmrmcCov).
_B8 = np.array(
    [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [-1, 1, 0, 0, 0, 0, 0, 0],
        [-1, 0, 1, 0, 0, 0, 0, 0],
        [1, -1, -1, 1, 0, 0, 0, 0],
        [-1, 0, 0, 0, 1, 0, 0, 0],
        [1, -1, 0, 0, -1, 1, 0, 0],
        [1, 0, -1, 0, -1, 0, 1, 0],
        [-1, 1, 1, -1, 1, -1, -1, 1],
    ],
    dtype=float,
)
# BDG moments -> BCK components (Gallas et al. 2009, eq. 19).
_B_ALPHA = np.array(
    [
        [0, 0, 0, 0, 0, 0, 1, -1],
        [0, 0, 0, 0, 0, 1, 0, -1],
        [0, 0, 0, 0, 1, -1, -1, 1],
        [0, 0, 0, 1, 0, 0, 0, -1],
        [0, 0, 1, -1, 0, 0, -1, 1],
        [0, 1, 0, -1, 0, -1, 0, 1],
        [1, -1, -1, 1, -1, 1, 1, -1],
    ],
    dtype=float,
)
# BDG coefficients -> BCK coefficients.
_B_BDG2BCK = np.array(
    [
        [1, 0, 1, 0, 1, 0, 1, 0],
        [1, 1, 0, 0, 1, 1, 0, 0],
        [1, 0, 0, 0, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=float,
)


@dataclass
class IMRMCResult(JsonResult):
    """Result of :func:`imrmc_analysis` (iMRMC-style U-statistic MRMC variance).

    Attributes
    ----------
    alpha : float
    n_readers, n_negative, n_positive : int
    ustat : list of dict
        One row per modality (``modality_b`` None; H0: AUC = 0.5) and per modality pair (H0:
        difference = 0), with the unbiased U-statistic variance: ``auc_a``, ``var_a``, ``auc_b``,
        ``var_b``, ``difference`` (a - b), ``var_difference``, ``ci_normal`` and ``p_normal``
        (normal approximation), ``df_bdg`` (Hillis/BDG df, floored at min(dfN, dfD, dfR)),
        ``ci_bdg`` and ``p_bdg`` (t with floor(df_bdg) df; normal when df > 50), ``reject_normal``,
        ``reject_bdg``. A negative variance gives None for the CI, p, df and reject fields.
    mle : list of dict
        The same with the V-statistic (MLE, ideal bootstrap) variance.
    per_reader : list of dict
        Per reader and modality: AUC and its unbiased variance; per reader and modality pair:
        difference and variance of the difference.
    warnings : list of str
    """

    alpha: float
    n_readers: int
    n_negative: int
    n_positive: int
    ustat: list[dict[str, Any]]
    mle: list[dict[str, Any]]
    per_reader: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    JSON = (
        ("method", constant("iMRMC")),
        "alpha",
        "n_readers",
        "n_negative",
        "n_positive",
        "ustat",
        "mle",
        "per_reader",
        "warnings",
    )


def _imrmc_moments(parts: _UStatParts, idx_a: np.ndarray, idx_b: np.ndarray) -> dict[str, Any]:
    """iMRMC 8-moment variance (or covariance) of the reader-averaged AUCs of two sets.

    ``idx_a[j]``, ``idx_b[j]``: row of reader j in modality a / b. Port of iMRMC 2.1.2
    ``doAUCmrmcCov`` for a fully crossed design.
    """
    m, n = parts.m, parts.n
    nr = len(idx_a)
    ra, rb = parts.row_pos[idx_a], parts.row_pos[idx_b]
    na, nb = parts.row_neg[idx_a], parts.row_neg[idx_b]
    n1 = parts.gram[np.ix_(idx_a, idx_b)]
    n2 = ra @ rb.T
    n3 = na @ nb.T
    totals_a = parts.auc[idx_a] * m * n
    totals_b = parts.auc[idx_b] * m * n
    n4 = np.outer(totals_a, totals_b)
    numer = np.array(
        [
            np.trace(n1),
            np.trace(n2),
            np.trace(n3),
            np.trace(n4),
            n1.sum(),
            n2.sum(),
            n3.sum(),
            n4.sum(),
        ],
        dtype=float,
    )
    base = np.array([m * n, m * n * n, n * m * m, (m * n) ** 2], dtype=float)
    denom = np.concatenate([nr * base, nr * nr * base])
    numer_u = _B8 @ numer
    denom_u = _B8 @ denom
    moments = numer_u / denom_u
    moments_biased = numer / denom
    coeff = denom_u / denom[7]
    coeff[7] -= 1.0
    bck_biased = _B_ALPHA @ moments_biased
    bck_coeff = _B_BDG2BCK @ coeff
    dfs = np.round(1.0 / bck_coeff[[0, 1, 3]] - 1.0)
    return {
        "auc_a": float(parts.auc[idx_a].mean()),
        "auc_b": float(parts.auc[idx_b].mean()),
        "cov": float(coeff @ moments),
        "cov_biased": float(coeff @ moments_biased),
        "bck_biased": bck_biased,  # N, D, ND, R, NR, DR, RND
        "df_n": float(dfs[0]),
        "df_d": float(dfs[1]),
        "df_r": float(dfs[2]),
    }


def _bdg_df(variance: float, sb: float, df_min: float) -> float | None:
    if variance < 0:
        return None
    df = variance**2 / sb if sb > 0 else math.inf
    return max(df, df_min)


def _imrmc_tests(
    estimate: float, variance: float, df: float | None, h0: float, alpha: float
) -> dict[str, Any]:
    """iMRMC's normal and BDG-t tests (t with floor(df) df; normal above 50 df)."""
    empty = {
        "ci_normal": [None, None],
        "p_normal": None,
        "reject_normal": None,
        "ci_bdg": [None, None],
        "p_bdg": None,
        "reject_bdg": None,
    }
    if not np.isfinite(variance) or variance < 0:
        return empty
    se = math.sqrt(variance)
    z = stats.norm.ppf(1 - alpha / 2)
    statistic = (estimate - h0) / se if se > 0 else math.copysign(math.inf, estimate - h0)
    p_normal = float(2 * stats.norm.sf(abs(statistic)))
    out = {
        "ci_normal": [estimate - z * se, estimate + z * se],
        "p_normal": p_normal,
        "reject_normal": bool(p_normal <= alpha),
    }
    if df is None:
        out.update({"ci_bdg": [None, None], "p_bdg": None, "reject_bdg": None})
    elif df > 50:
        out.update(
            {"ci_bdg": out["ci_normal"], "p_bdg": p_normal, "reject_bdg": out["reject_normal"]}
        )
    else:
        dff = math.floor(df)
        q = stats.t.ppf(1 - alpha / 2, dff)
        p_t = float(2 * stats.t.sf(abs(statistic), dff))
        out.update(
            {
                "ci_bdg": [estimate - q * se, estimate + q * se],
                "p_bdg": p_t,
                "reject_bdg": bool(p_t <= alpha),
            }
        )
    return out


def imrmc_analysis(ratings: pd.DataFrame, *, alpha: float = 0.05) -> IMRMCResult:
    """Reader-averaged AUC with U-statistic MRMC variance, as in iMRMC (``doIMRMC``).

    The variance of the reader-averaged empirical AUC is a linear combination of eight
    second-order moments of the success kernel psi (same / different reader, positive case,
    negative case), estimated without bias by U-statistics (sums over distinct indices) or,
    for the ``mle`` rows, by V-statistics (the empirical distribution / ideal bootstrap)
    (Gallas 2006; Gallas et al. 2009). For two modalities the same moments with one kernel from
    each modality give the covariance, and Var(A - B) = Var A + Var B - 2 Cov(A, B). Degrees of
    freedom: Hillis' (BDG) Satterthwaite approximation from the BCK components N, D, R with a
    floor at min(dfN, dfD, dfR) (Gaylor 1969), as iMRMC 2.1.2. The unbiased variance can be
    negative; then CI, p and df are None and a warning is given (iMRMC returns NA).

    Parameters
    ----------
    ratings : DataFrame
        Long table with ``modality`` (one or more modalities; fully crossed).
    alpha : float
        Significance level (iMRMC fixes 0.05).

    Returns
    -------
    IMRMCResult
    """
    alpha = check_alpha(alpha)
    data = mrmc_data(ratings, min_modalities=1)
    t, r, c = data.scores.shape
    parts = _ustat_parts(data.scores.reshape(t * r, c), data.truth)
    notes: list[str] = data.notes()
    singles = []
    for i in range(t):
        idx = np.arange(i * r, (i + 1) * r)
        singles.append(_imrmc_moments(parts, idx, idx))

    def row(kind: str, a: int, b: int | None) -> dict[str, Any]:
        sa = singles[a]
        var_key = "cov" if kind == "ustat" else "cov_biased"
        if b is None:
            variance = sa[var_key]
            sb = sum(
                sa["bck_biased"][q] ** 2 / sa[d] ** 3
                for q, d in ((0, "df_n"), (1, "df_d"), (3, "df_r"))
            )
            df = _bdg_df(variance, sb, min(sa["df_n"], sa["df_d"], sa["df_r"]))
            estimate = sa["auc_a"]
            out = {
                "modality_a": data.modalities[a],
                "modality_b": None,
                "auc_a": sa["auc_a"],
                "var_a": sa[var_key],
                "auc_b": None,
                "var_b": None,
                "difference": None,
                "var_difference": None,
                "df_bdg": df,
            }
            out.update(_imrmc_tests(estimate, variance, df, 0.5, alpha))
            if variance < 0:
                notes.append(
                    f"{kind}: variance of the reader-averaged AUC of modality "
                    f"{data.modalities[a]!r} is negative ({_fmt(variance)}); CI and p undefined"
                )
            return out
        sb_ = singles[b]
        pair = _imrmc_moments(parts, np.arange(a * r, (a + 1) * r), np.arange(b * r, (b + 1) * r))
        variance = sa[var_key] + sb_[var_key] - 2 * pair[var_key]
        df_n = min(sa["df_n"], sb_["df_n"])
        df_d = min(sa["df_d"], sb_["df_d"])
        df_r = min(sa["df_r"], sb_["df_r"])
        bck = sa["bck_biased"] + sb_["bck_biased"] - 2 * pair["bck_biased"]
        sb = bck[0] ** 2 / df_n**3 + bck[1] ** 2 / df_d**3 + bck[3] ** 2 / df_r**3
        df = _bdg_df(variance, sb, min(df_n, df_d, df_r))
        estimate = sa["auc_a"] - sb_["auc_a"]
        out = {
            "modality_a": data.modalities[a],
            "modality_b": data.modalities[b],
            "auc_a": sa["auc_a"],
            "var_a": sa[var_key],
            "auc_b": sb_["auc_a"],
            "var_b": sb_[var_key],
            "difference": estimate,
            "var_difference": variance,
            "df_bdg": df,
        }
        out.update(_imrmc_tests(estimate, variance, df, 0.0, alpha))
        if variance < 0:
            notes.append(
                f"{kind}: variance of the AUC difference {data.modalities[a]!r} - "
                f"{data.modalities[b]!r} is negative ({_fmt(variance)}); CI, p and df undefined "
                "(as iMRMC's NA)"
            )
        return out

    ustat: list[dict[str, Any]] = []
    mle: list[dict[str, Any]] = []
    for kind, target in (("ustat", ustat), ("mle", mle)):
        for a in range(t):
            target.append(row(kind, a, None))
        for a, b in combinations(range(t), 2):
            target.append(row(kind, a, b))

    # per-reader unbiased variances (4 moments; = the 'unbiased' covariance matrix)
    auc = parts.auc
    cov = _unbiased_covariance(parts)
    per_reader = []
    for i in range(t):
        for j, reader in enumerate(data.readers):
            k = i * r + j
            per_reader.append(
                {
                    "reader": reader,
                    "modality_a": data.modalities[i],
                    "modality_b": None,
                    "auc_a": float(auc[k]),
                    "var_a": float(cov[k, k]),
                    "auc_b": None,
                    "var_b": None,
                    "difference": None,
                    "var_difference": None,
                }
            )
    for a, b in combinations(range(t), 2):
        for j, reader in enumerate(data.readers):
            ka, kb = a * r + j, b * r + j
            per_reader.append(
                {
                    "reader": reader,
                    "modality_a": data.modalities[a],
                    "modality_b": data.modalities[b],
                    "auc_a": float(auc[ka]),
                    "var_a": float(cov[ka, ka]),
                    "auc_b": float(auc[kb]),
                    "var_b": float(cov[kb, kb]),
                    "difference": float(auc[ka] - auc[kb]),
                    "var_difference": float(cov[ka, ka] + cov[kb, kb] - 2 * cov[ka, kb]),
                }
            )
    return IMRMCResult(
        alpha=alpha,
        n_readers=r,
        n_negative=int((data.truth == 0).sum()),
        n_positive=int((data.truth == 1).sum()),
        ustat=ustat,
        mle=mle,
        per_reader=per_reader,
        warnings=notes,
    )
