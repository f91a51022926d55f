"""Dorfman-Berbaum-Metz ANOVA of case-jackknife pseudovalues (Hillis 2007 ddf)."""

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
from ._common import _check_analysis, _difference, _fmt, _t_test, _table_mean_squares
from .covariance import leave_one_out_aucs
from .data import mrmc_data

# --------------------------------------------------------------------------------------------
# DBM
# --------------------------------------------------------------------------------------------


@dataclass
class DBMResult(JsonResult):
    """Result of :func:`dbm_analysis` (Dorfman-Berbaum-Metz pseudovalue ANOVA).

    Attributes
    ----------
    analysis : str
        ``RRRC``, ``FRRC`` or ``RRFC``.
    alpha : float
    modalities, reader_auc : dict
        Reader-averaged AUC per modality; ``{modality: {reader: AUC}}`` (the pseudovalue means
        equal the AUCs exactly for the empirical AUC).
    f, df1, df2, p_value : float
        Global test. RRRC: F = MS(T) / [MS(TR) + max(MS(TC) - MS(TRC), 0)] with Hillis' ddf;
        FRRC: F = MS(T)/MS(TC) ~ F(t-1, (t-1)(c-1)); RRFC: F = MS(T)/MS(TR) ~ F(t-1, (t-1)(r-1)).
    differences, modality_ci : as in :class:`ORResult`.
    anova : dict
        ``{source: {"ss", "df", "ms"}}`` for T, R, C, TR, TC, RC, TRC and Total.
    variance_components : dict
        ``var_R``, ``var_C``, ``var_TR``, ``var_TC``, ``var_RC``, ``var_error`` (= MS(TRC), the
        TRC interaction plus error), on the pseudovalue scale.
    warnings : list of str
    """

    analysis: str
    alpha: float
    modalities: dict[str, float]
    reader_auc: dict[str, dict[str, float]]
    f: float | None
    df1: int
    df2: float | None
    p_value: float | None
    differences: list[dict[str, Any]]
    modality_ci: dict[str, dict[str, Any]]
    anova: dict[str, dict[str, float]]
    variance_components: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    JSON = (
        ("method", constant("DBM")),
        ("covariance", constant("jackknife")),
        "analysis",
        "alpha",
        "modalities",
        "reader_auc",
        "f",
        "df1",
        "df2",
        "p_value",
        "differences",
        "variance_components",
        "modality_ci",
        "anova",
        "warnings",
    )


def _three_way_anova(y: np.ndarray, theta: np.ndarray) -> dict[str, dict[str, float]]:
    """Sums of squares of a T x R x C table of pseudovalues without replication.

    The T, R and TR sums of squares come from ``theta``, the case means of the pseudovalues
    (equal to the AUCs exactly for the empirical AUC), with rounding-level deviations set to 0.
    """
    t, r, c = y.shape
    g = y.mean()
    m_t = y.mean(axis=(1, 2))
    m_r = y.mean(axis=(0, 2))
    m_c = y.mean(axis=(0, 1))
    m_tr = y.mean(axis=2)
    m_tc = y.mean(axis=1)
    m_rc = y.mean(axis=0)
    table_ms = _table_mean_squares(theta)
    ss = {
        "T": c * table_ms["ms_t"] * (t - 1),
        "R": c * table_ms["ms_r"] * (r - 1),
        "C": t * r * float(((m_c - g) ** 2).sum()),
        "TR": c * table_ms["ms_tr"] * (t - 1) * (r - 1),
        "TC": r * float(((m_tc - m_t[:, None] - m_c[None, :] + g) ** 2).sum()),
        "RC": t * float(((m_rc - m_r[:, None] - m_c[None, :] + g) ** 2).sum()),
    }
    resid = (
        y
        - m_tr[:, :, None]
        - m_tc[:, None, :]
        - m_rc[None, :, :]
        + m_t[:, None, None]
        + m_r[None, :, None]
        + m_c[None, None, :]
        - g
    )
    ss["TRC"] = float((resid**2).sum())
    ss["Total"] = float(((y - g) ** 2).sum())
    df = {
        "T": t - 1,
        "R": r - 1,
        "C": c - 1,
        "TR": (t - 1) * (r - 1),
        "TC": (t - 1) * (c - 1),
        "RC": (r - 1) * (c - 1),
        "TRC": (t - 1) * (r - 1) * (c - 1),
        "Total": t * r * c - 1,
    }
    table: dict[str, dict[str, float]] = {}
    for source in ("T", "R", "C", "TR", "TC", "RC", "TRC", "Total"):
        ms = ss[source] / df[source] if source != "Total" and df[source] > 0 else float("nan")
        table[source] = {"ss": ss[source], "df": df[source], "ms": ms}
    return table


def dbm_analysis(
    ratings: pd.DataFrame,
    *,
    analysis: str = "RRRC",
    alpha: float = 0.05,
) -> DBMResult:
    """Dorfman-Berbaum-Metz MRMC analysis of jackknife pseudovalues of the empirical AUC.

    Pseudovalues ``Y_ijk = c theta_ij - (c - 1) theta_ij(-k)`` (case k left out; c cases) are
    analysed by a modality x reader x case ANOVA (Dorfman, Berbaum & Metz 1992) with Hillis'
    (2007, 2008) denominator: RRRC F = MS(T) / [MS(TR) + max(MS(TC) - MS(TRC), 0)],
    ddf = den^2 / [MS(TR)^2 / ((t-1)(r-1))]; difference SE = sqrt(2 den / (r c)). Single
    modality (RRRC): SE^2 = [MS(R)_i + max(MS(C)_i - MS(RC)_i, 0)] / (r c) with Satterthwaite df.
    FRRC uses MS(TC) with (t-1)(c-1) df, RRFC MS(TR) with (t-1)(r-1) df (as RJafroc 2.1.3 and
    OR-DBM MRMC). The RRRC F equals the OR F with jackknife covariance (Hillis et al. 2005).

    Parameters
    ----------
    ratings : DataFrame
        As for :func:`or_analysis`.
    analysis : {"RRRC", "FRRC", "RRFC"}
    alpha : float

    Returns
    -------
    DBMResult
    """
    analysis = _check_analysis(analysis)
    alpha = check_alpha(alpha)
    data = mrmc_data(ratings)
    t, r, c = data.scores.shape
    auc, loo = leave_one_out_aucs(data.scores.reshape(t * r, c), data.truth)
    theta = auc.reshape(t, r)
    y = (c * auc[:, None] - (c - 1) * loo).reshape(t, r, c)
    table = _three_way_anova(y, theta)
    ms = {key: value["ms"] for key, value in table.items()}
    notes: list[str] = data.notes()
    var = {
        "var_R": (ms["R"] - ms["TR"] - ms["RC"] + ms["TRC"]) / (t * c),
        "var_C": (ms["C"] - ms["TC"] - ms["RC"] + ms["TRC"]) / (t * r),
        "var_TR": (ms["TR"] - ms["TRC"]) / c,
        "var_TC": (ms["TC"] - ms["TRC"]) / r,
        "var_RC": (ms["RC"] - ms["TRC"]) / t,
        "var_error": ms["TRC"],
    }
    for name, value in var.items():
        if value < 0:
            notes.append(f"variance component {name} is estimated negative ({_fmt(value)})")
    df1 = t - 1
    if analysis == "RRRC":
        if _difference(ms["TC"], ms["TRC"]) < 0:
            notes.append(
                "MS(TC) < MS(TRC): max(MS(TC) - MS(TRC), 0) = 0 is used (Hillis 2007), so "
                f"ddf = (t-1)(r-1) = {(t - 1) * (r - 1)}"
            )
        den = ms["TR"] + max(_difference(ms["TC"], ms["TRC"]), 0.0)
        df2 = den**2 / (ms["TR"] ** 2 / ((t - 1) * (r - 1))) if ms["TR"] > 0 else math.inf
    elif analysis == "FRRC":
        den = ms["TC"]
        df2 = float((t - 1) * (c - 1))
    else:
        den = ms["TR"]
        df2 = float((t - 1) * (r - 1))
    if den > 0:
        f_value: float | None = ms["T"] / den
        p_value: float | None = float(
            stats.chi2.sf(df1 * f_value, df1) if math.isinf(df2) else stats.f.sf(f_value, df1, df2)
        )
    else:
        notes.append(f"the {analysis} error term is not positive: test undefined")
        f_value, p_value = None, None
    diff_df = None if math.isinf(df2) else df2
    mod_mean = theta.mean(axis=1)
    differences = []
    for a, b in combinations(range(t), 2):
        estimate = float(mod_mean[a] - mod_mean[b])
        se, statistic, ci, p = _t_test(estimate, 2 * den / (r * c), diff_df, alpha)
        differences.append(
            {
                "a": data.modalities[a],
                "b": data.modalities[b],
                "estimate": estimate,
                "se": se,
                "df": diff_df,
                "statistic": statistic,
                "ci95": ci,
                "p_value": p,
            }
        )
    modality_ci = {}
    table_ms_r_i = _table_mean_squares(theta)["ms_r_i"]
    for i, name in enumerate(data.modalities):
        yi = y[i]
        gi = yi.mean()
        ms_r_i = c * float(table_ms_r_i[i])
        ms_c_i = r * float(((yi.mean(axis=0) - gi) ** 2).sum()) / (c - 1)
        resid = yi - yi.mean(axis=1)[:, None] - yi.mean(axis=0)[None, :] + gi
        ms_rc_i = float((resid**2).sum()) / ((r - 1) * (c - 1))
        if analysis == "RRRC":
            den_i = ms_r_i + max(_difference(ms_c_i, ms_rc_i), 0.0)
            df_i: float | None = den_i**2 / (ms_r_i**2 / (r - 1)) if ms_r_i > 0 else None
        elif analysis == "FRRC":
            den_i = ms_c_i
            df_i = float(c - 1)
        else:
            den_i = ms_r_i
            df_i = float(r - 1)
        se, _, ci, _ = _t_test(float(mod_mean[i]), den_i / (r * c), df_i, alpha)
        modality_ci[name] = {"estimate": float(mod_mean[i]), "se": se, "df": df_i, "ci95": ci}
    return DBMResult(
        analysis=analysis,
        alpha=alpha,
        modalities={name: float(mod_mean[i]) for i, name in enumerate(data.modalities)},
        reader_auc={
            name: {reader: float(theta[i, j]) for j, reader in enumerate(data.readers)}
            for i, name in enumerate(data.modalities)
        },
        f=f_value,
        df1=df1,
        df2=diff_df,
        p_value=p_value,
        differences=differences,
        modality_ci=modality_ci,
        anova=table,
        variance_components=var,
        warnings=notes,
    )
