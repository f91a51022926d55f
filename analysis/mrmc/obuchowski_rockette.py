"""Obuchowski-Rockette ANOVA of reader x modality AUCs (Hillis 2005/2007/2008)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._jsonable import JsonResult, constant
from .._params import check_alpha
from ..errors import AnalysisInputError
from ._common import (
    _check_analysis,
    _check_covariance,
    _clip_to_unit_interval,
    _combine,
    _difference,
    _fmt,
    _t_test,
    _table_mean_squares,
)
from .covariance import auc_covariance
from .data import mrmc_data

# --------------------------------------------------------------------------------------------
# Obuchowski-Rockette
# --------------------------------------------------------------------------------------------


@dataclass
class ORResult(JsonResult):
    """Result of :func:`or_analysis` (Obuchowski-Rockette with Hillis' ddf).

    Attributes
    ----------
    covariance : str
        ``jackknife``, ``DeLong`` or ``unbiased``.
    analysis : str
        ``RRRC``, ``FRRC`` or ``RRFC``.
    alpha : float
        Significance level; confidence intervals have level 1 - alpha.
    modalities : dict
        Reader-averaged AUC per modality.
    reader_auc : dict
        ``{modality: {reader: AUC}}``.
    f, df1, df2, p_value : float or None
        Global test of equal modality AUCs. RRRC: F(df1, df2) with df1 = t - 1 and Hillis'
        df2. RRFC: F(t - 1, (t - 1)(r - 1)). FRRC: chi-square test, reported as F = X2/df1 with
        df2 = None (infinite), ``chi2`` holds X2.
    chi2 : float or None
        FRRC only: X2 = (t - 1) MS(T) / [Var(E) - Cov1 + (r - 1) max(Cov2 - Cov3, 0)].
    differences : list of dict
        All modality pairs (a before b in table order): ``estimate`` = AUC_a - AUC_b (reader
        averages), ``se``, ``df`` (None = normal), ``statistic`` (t or z), ``ci95`` (the
        1 - alpha interval), ``p_value`` (two-sided).
    modality_ci : dict
        Per modality: reader-averaged AUC with ``se``, ``df`` and ``ci95`` from that modality's
        data only (Hillis 2007 single-modality formulas).
    variance_components : dict
        OR components: ``var_R`` (reader), ``var_TR`` (modality x reader), ``cov1`` (same
        reader, different modality), ``cov2`` (different reader, same modality), ``cov3``
        (different reader and modality), ``var_error``; and the correlations ``r1``, ``r2``,
        ``r3`` = cov / var_error.
    anova : dict
        ``ms_t``, ``ms_r``, ``ms_tr`` (mean squares of the reader x modality AUC table),
        ``denominator`` of the test statistic, and per-modality ``ms_r``, ``cov2``,
        ``var_error`` (``by_modality``).
    reader_tests : dict or None
        FRRC only: per-reader modality differences (SE = sqrt(2 (Var_j - Cov1_j)), normal) and
        per reader x modality AUCs with normal CIs (clipped to [0, 1]).
    warnings : list of str
        Edge cases met (negative variance estimates, Cov2 < Cov3 truncation, undefined CIs).
    """

    covariance: str
    analysis: str
    alpha: float
    modalities: dict[str, float]
    reader_auc: dict[str, dict[str, float]]
    f: float | None
    df1: int
    df2: float | None
    p_value: float | None
    chi2: float | None
    differences: list[dict[str, Any]]
    modality_ci: dict[str, dict[str, Any]]
    variance_components: dict[str, float | None]
    anova: dict[str, Any]
    reader_tests: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)
    n_positive: int = 0
    n_negative: int = 0

    JSON = (
        ("method", constant("OR")),
        "covariance",
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
        "reader_tests",
        "warnings",
    )


def _or_components(theta: np.ndarray, cov: np.ndarray) -> dict[str, Any]:
    """OR mean squares and covariance components from AUCs (t, r) and covariance (t r, t r)."""
    t, r = theta.shape
    mod = np.repeat(np.arange(t), r)
    rdr = np.tile(np.arange(r), t)
    same_mod = mod[:, None] == mod[None, :]
    same_rdr = rdr[:, None] == rdr[None, :]
    diag = np.eye(t * r, dtype=bool)

    def mean(mask: np.ndarray) -> float:
        return float(cov[mask].mean()) if mask.any() else float("nan")

    var_error = mean(diag)
    cov1 = mean(~same_mod & same_rdr)
    cov2 = mean(same_mod & ~same_rdr)
    cov3 = mean(~same_mod & ~same_rdr)
    table_ms = _table_mean_squares(theta)
    ms_t, ms_r, ms_tr = table_ms["ms_t"], table_ms["ms_r"], table_ms["ms_tr"]
    if t > 1:
        var_tr = _combine(ms_tr, -var_error, cov1, cov2, -cov3)
        var_r = _combine(ms_r, -var_tr, -var_error, -(t - 1) * cov1, cov2, (t - 1) * cov3) / t
    else:
        var_tr = float("nan")
        var_r = _combine(ms_r, -var_error, cov2)
    blocks = cov.reshape(t, r, t, r)
    ms_r_i = table_ms["ms_r_i"]
    off = ~np.eye(r, dtype=bool)
    cov2_i = np.array([blocks[i, :, i, :][off].mean() for i in range(t)])
    var_i = np.array([np.diag(blocks[i, :, i, :]).mean() for i in range(t)])
    var_j = np.array([np.mean([blocks[i, j, i, j] for i in range(t)]) for j in range(r)])
    if t > 1:
        cov1_j = np.array(
            [
                np.mean([blocks[a, j, b, j] for a in range(t) for b in range(t) if a != b])
                for j in range(r)
            ]
        )
    else:
        cov1_j = np.full(r, np.nan)
    return {
        "t": t,
        "r": r,
        "var_error": var_error,
        "cov1": cov1,
        "cov2": cov2,
        "cov3": cov3,
        "var_r": var_r,
        "var_tr": var_tr,
        "ms_t": ms_t,
        "ms_r": ms_r,
        "ms_tr": ms_tr,
        "ms_r_i": ms_r_i,
        "cov2_i": cov2_i,
        "var_i": var_i,
        "var_j": var_j,
        "cov1_j": cov1_j,
    }


def or_from_aucs(
    theta: np.ndarray,
    covariance_matrix: np.ndarray,
    *,
    modalities: Sequence[str],
    readers: Sequence[str],
    analysis: str = "RRRC",
    alpha: float = 0.05,
    covariance: str = "jackknife",
) -> ORResult:
    """Obuchowski-Rockette analysis from a reader x modality AUC table and its covariance.

    Formulas (Hillis 2007, 2008; Hillis et al. 2005; t modalities, r readers):

    * MS(T) = r sum_i (mean_i - mean)^2 / (t-1), MS(T:R) = sum_ij (theta_ij - mean_i - mean_j
      + mean)^2 / ((t-1)(r-1)), MS(R) likewise over readers.
    * Var(E), Cov1, Cov2, Cov3: averages of the covariance matrix over pairs with the same
      reader and modality, same reader / different modality, different reader / same modality,
      both different.
    * var_TR = MS(T:R) - Var(E) + Cov1 + Cov2 - Cov3;
      var_R = [MS(R) - var_TR - Var(E) - (t-1) Cov1 + Cov2 + (t-1) Cov3] / t.
    * RRRC: den = MS(T:R) + r max(Cov2 - Cov3, 0); F = MS(T)/den ~ F(t-1, ddf_H),
      ddf_H = den^2 / [MS(T:R)^2 / ((t-1)(r-1))]; difference SE = sqrt(2 den / r), t(ddf_H).
      Single modality i: SE^2 = [MS(R)_i + r max(Cov2_i, 0)] / r,
      df = [MS(R)_i + r max(Cov2_i, 0)]^2 / [MS(R)_i^2 / (r-1)].
    * FRRC: den = Var(E) - Cov1 + (r-1) max(Cov2 - Cov3, 0); X2 = (t-1) MS(T) / den ~
      chi2(t-1); difference SE = sqrt(2 den / r), normal. Single modality:
      SE^2 = [Var_i + (r-1) max(Cov2_i, 0)] / r. Per reader j: SE = sqrt(2 (Var_j - Cov1_j)).
    * RRFC: F = MS(T)/MS(T:R) ~ F(t-1, (t-1)(r-1)); difference SE = sqrt(2 MS(T:R) / r);
      single modality SE^2 = MS(R)_i / r with r - 1 df.

    The truncation ``max(Cov2 - Cov3, 0)`` is applied in FRRC too, as in Iowa OR-DBM MRMC 2.51
    and RJafroc (MRMCaov 0.3.0 does not truncate there).

    Parameters
    ----------
    theta : ndarray, shape (t, r)
        AUC of reader j in modality i.
    covariance_matrix : ndarray, shape (t r, t r)
        Covariance of ``theta.ravel()`` (modality-major order).
    modalities, readers : sequence of str
        Names for the output.
    analysis : {"RRRC", "FRRC", "RRFC"}
    alpha : float
        1 - confidence level.
    covariance : str
        Name of the covariance method, for the output only.

    Returns
    -------
    ORResult
    """
    alpha = check_alpha(alpha)
    analysis = _check_analysis(analysis)
    theta = np.asarray(theta, dtype=float)
    cov = np.asarray(covariance_matrix, dtype=float)
    t, r = theta.shape
    if t < 2:
        raise AnalysisInputError(
            f"OR comparison needs at least 2 modalities; got {list(modalities)}"
        )
    if r < 2:
        raise AnalysisInputError(f"OR analysis needs at least 2 readers; got {list(readers)}")
    if cov.shape != (t * r, t * r):
        raise AnalysisInputError(
            f"covariance matrix has shape {cov.shape}; expected {(t * r, t * r)}"
        )
    comp = _or_components(theta, cov)
    notes = _component_notes(comp, analysis, t, r)
    design = _DESIGNS[analysis](comp, t, r)
    mod_mean = theta.mean(axis=1)

    ms_t = comp["ms_t"]
    df1 = t - 1
    chi2_value: float | None = None
    f_value: float | None = None
    p_value: float | None = None
    if design.denominator > 0 and np.isfinite(design.denominator):
        f_value = ms_t / design.denominator
        if math.isinf(design.df2):
            chi2_value = df1 * f_value
            p_value = float(stats.chi2.sf(chi2_value, df1))
        else:
            p_value = float(stats.f.sf(f_value, df1, design.df2))
        if analysis != "FRRC":
            chi2_value = None
    else:
        notes.append(
            f"the {analysis} error term is not positive ({_fmt(design.denominator)}): the test "
            "statistic, p-value and confidence intervals of differences are undefined"
        )
    diff_df = design.diff_df
    if diff_df is not None and not np.isfinite(diff_df):
        diff_df = None

    differences = []
    for a, b in combinations(range(t), 2):
        estimate = float(mod_mean[a] - mod_mean[b])
        se, statistic, ci, p = _t_test(estimate, design.diff_var, diff_df, alpha)
        differences.append(
            {
                "a": modalities[a],
                "b": modalities[b],
                "estimate": estimate,
                "se": se,
                "df": diff_df,
                "statistic": statistic,
                "ci95": ci,
                "p_value": p,
            }
        )

    modality_ci: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(modalities):
        cov2_i = float(comp["cov2_i"][i])
        if analysis != "RRFC" and cov2_i < 0:
            notes.append(
                f"modality {name!r}: Cov2 is estimated negative ({_fmt(cov2_i)}); max(Cov2, 0) = 0 "
                "is used for its confidence interval"
            )
        var_i, df_i = design.modality_variance(i)
        se, _, ci, _ = _t_test(float(mod_mean[i]), var_i, df_i, alpha)
        if se is None:
            notes.append(
                f"modality {name!r}: variance of the reader-averaged AUC is not positive "
                f"({_fmt(var_i)}); its confidence interval is undefined"
            )
        modality_ci[name] = {"estimate": float(mod_mean[i]), "se": se, "df": df_i, "ci95": ci}

    reader_tests = None
    if analysis == "FRRC":
        reader_tests = _frrc_reader_tests(theta, cov, comp, modalities, readers, alpha, notes)

    var_error = comp["var_error"]

    def corr(value: float) -> float | None:
        return value / var_error if var_error > 0 else None

    return ORResult(
        covariance=covariance,
        analysis=analysis,
        alpha=alpha,
        modalities={name: float(mod_mean[i]) for i, name in enumerate(modalities)},
        reader_auc={
            name: {reader: float(theta[i, j]) for j, reader in enumerate(readers)}
            for i, name in enumerate(modalities)
        },
        f=f_value,
        df1=df1,
        df2=None if math.isinf(design.df2) else float(design.df2),
        p_value=p_value,
        chi2=chi2_value,
        differences=differences,
        modality_ci=modality_ci,
        variance_components={
            "var_R": comp["var_r"],
            "var_TR": comp["var_tr"],
            "cov1": comp["cov1"],
            "cov2": comp["cov2"],
            "cov3": comp["cov3"],
            "var_error": var_error,
            "r1": corr(comp["cov1"]),
            "r2": corr(comp["cov2"]),
            "r3": corr(comp["cov3"]),
        },
        anova={
            "ms_t": ms_t,
            "ms_r": comp["ms_r"],
            "ms_tr": comp["ms_tr"],
            "denominator": design.denominator,
            "by_modality": {
                name: {
                    "ms_r": float(comp["ms_r_i"][i]),
                    "cov2": float(comp["cov2_i"][i]),
                    "var_error": float(comp["var_i"][i]),
                }
                for i, name in enumerate(modalities)
            },
        },
        reader_tests=reader_tests,
        warnings=notes,
    )


def _component_notes(comp: dict[str, Any], analysis: str, t: int, r: int) -> list[str]:
    """Warnings about negative variance components and the Cov2 < Cov3 truncation."""
    notes: list[str] = []
    for name, value in (("var_R", comp["var_r"]), ("var_TR", comp["var_tr"])):
        if np.isfinite(value) and value < 0:
            notes.append(
                f"variance component {name} is estimated negative ({_fmt(value)}); reported as "
                "estimated (the tests use the mean squares and covariances directly)"
            )
    if comp["var_error"] <= 0:
        notes.append(f"Var(error) estimate is not positive ({_fmt(comp['var_error'])})")
    if analysis in ("RRRC", "FRRC") and _difference(comp["cov2"], comp["cov3"]) < 0:
        extra = (
            f"so the denominator is MS(T:R) alone and ddf = (t-1)(r-1) = {(t - 1) * (r - 1)}"
            if analysis == "RRRC"
            else "so the denominator is Var(E) - Cov1"
        )
        notes.append(
            f"Cov2 ({_fmt(comp['cov2'])}) < Cov3 ({_fmt(comp['cov3'])}): max(Cov2 - Cov3, 0) = 0 "
            f"is used (Hillis 2007), {extra}"
        )
    return notes


@dataclass(frozen=True)
class _DesignTest:
    """Error term of one OR design (Hillis 2007, 2008): what the global test, the differences
    and the single-modality intervals need.

    ``denominator``: error term of F = MS(T) / denominator; ``df2``: its denominator degrees of
    freedom (inf: chi-square test); ``diff_var``, ``diff_df``: variance and df (None: normal) of
    a difference of modality means; ``modality_variance(i)``: (variance, df) of modality i's mean.
    """

    denominator: float
    df2: float
    diff_var: float
    diff_df: float | None
    modality_variance: Callable[[int], tuple[float, float | None]]


def _rrrc_design(comp: dict[str, Any], t: int, r: int) -> _DesignTest:
    """Random readers, random cases: den = MS(T:R) + r max(Cov2 - Cov3, 0), Hillis' ddf."""
    ms_tr = comp["ms_tr"]
    denominator = ms_tr + r * max(_difference(comp["cov2"], comp["cov3"]), 0.0)
    df2 = denominator**2 / (ms_tr**2 / ((t - 1) * (r - 1))) if ms_tr > 0 else math.inf

    def modality_variance(i: int) -> tuple[float, float | None]:
        ms_r_i = float(comp["ms_r_i"][i])
        den_i = ms_r_i + r * max(float(comp["cov2_i"][i]), 0.0)
        return den_i / r, (den_i**2 / (ms_r_i**2 / (r - 1)) if ms_r_i > 0 else None)

    return _DesignTest(denominator, df2, 2 * denominator / r, df2, modality_variance)


def _frrc_design(comp: dict[str, Any], t: int, r: int) -> _DesignTest:
    """Fixed readers, random cases: den = Var(E) - Cov1 + (r-1) max(Cov2 - Cov3, 0), chi2."""
    cov_diff_plus = max(_difference(comp["cov2"], comp["cov3"]), 0.0)
    denominator = comp["var_error"] - comp["cov1"] + (r - 1) * cov_diff_plus

    def modality_variance(i: int) -> tuple[float, float | None]:
        return (float(comp["var_i"][i]) + (r - 1) * max(float(comp["cov2_i"][i]), 0.0)) / r, None

    return _DesignTest(denominator, math.inf, 2 * denominator / r, None, modality_variance)


def _rrfc_design(comp: dict[str, Any], t: int, r: int) -> _DesignTest:
    """Random readers, fixed cases: den = MS(T:R) with (t-1)(r-1) df (a conventional ANOVA)."""
    denominator = comp["ms_tr"]
    df2 = float((t - 1) * (r - 1))

    def modality_variance(i: int) -> tuple[float, float | None]:
        return float(comp["ms_r_i"][i]) / r, float(r - 1)

    return _DesignTest(denominator, df2, 2 * denominator / r, df2, modality_variance)


_DESIGNS: dict[str, Callable[[dict[str, Any], int, int], _DesignTest]] = {
    "RRRC": _rrrc_design,
    "FRRC": _frrc_design,
    "RRFC": _rrfc_design,
}


def _frrc_reader_tests(
    theta: np.ndarray,
    cov: np.ndarray,
    comp: dict[str, Any],
    modalities: Sequence[str],
    readers: Sequence[str],
    alpha: float,
    notes: list[str],
) -> dict[str, Any]:
    """FRRC per-reader z tests of modality differences, SE = sqrt(2 (Var_j - Cov1_j)), and each
    reader's AUC interval (normal, clipped to [0, 1])."""
    t, r = theta.shape
    rows = []
    for j, reader in enumerate(readers):
        var_d = 2 * (float(comp["var_j"][j]) - float(comp["cov1_j"][j]))
        for a, b in combinations(range(t), 2):
            estimate = float(theta[a, j] - theta[b, j])
            se, statistic, ci, p = _t_test(estimate, var_d, None, alpha)
            if se is None:
                notes.append(
                    f"reader {reader!r}: 2 (Var - Cov1) is not positive ({_fmt(var_d)}); "
                    "its per-reader test is undefined"
                )
            rows.append(
                {
                    "reader": reader,
                    "a": modalities[a],
                    "b": modalities[b],
                    "estimate": estimate,
                    "se": se,
                    "statistic": statistic,
                    "ci95": ci,
                    "p_value": p,
                }
            )
    blocks = cov.reshape(t, r, t, r)
    auc_ci: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(modalities):
        auc_ci[name] = {}
        for j, reader in enumerate(readers):
            se, _, ci, _ = _t_test(float(theta[i, j]), float(blocks[i, j, i, j]), None, alpha)
            auc_ci[name][reader] = {
                "auc": float(theta[i, j]),
                "se": se,
                "ci95": _clip_to_unit_interval(ci),
            }
    return {"differences": rows, "auc_ci": auc_ci}


def or_analysis(
    ratings: pd.DataFrame,
    *,
    covariance: str = "jackknife",
    analysis: str = "RRRC",
    alpha: float = 0.05,
) -> ORResult:
    """Obuchowski-Rockette MRMC comparison of the empirical AUC between modalities.

    Readers and cases are treated as random (``RRRC``: conclusions apply to the populations of
    readers and cases), readers fixed (``FRRC``: to these readers) or cases fixed (``RRFC``: to
    these cases). See :func:`or_from_aucs` for the formulas and :func:`auc_covariance` for the
    covariance methods (Obuchowski & Rockette 1995; Hillis et al. 2005; Hillis 2007, 2008).

    Parameters
    ----------
    ratings : DataFrame
        Long table (``case``, ``reader``, ``score``, ``truth``, ``modality``); at least two
        modalities and two readers, every reader rating every case in every modality.
    covariance : {"jackknife", "DeLong", "unbiased"}
        AUC covariance estimator (case-insensitive).
    analysis : {"RRRC", "FRRC", "RRFC"}
        Which factors are random.
    alpha : float
        Significance level; intervals have level 1 - alpha.

    Returns
    -------
    ORResult
        ``.to_dict()`` gives the strict-JSON form (schema in ``docs/analysis-mrmc.md``).

    Raises
    ------
    AnalysisInputError
        Bad options or input (see :func:`mrmc_data`).
    """
    covariance = _check_covariance(covariance)
    analysis = _check_analysis(analysis)
    alpha = check_alpha(alpha)
    data = mrmc_data(ratings)
    t, r, n = data.scores.shape
    auc, cov = auc_covariance(data.scores.reshape(t * r, n), data.truth, method=covariance)
    result = or_from_aucs(
        auc.reshape(t, r),
        cov,
        modalities=data.modalities,
        readers=data.readers,
        analysis=analysis,
        alpha=alpha,
        covariance=covariance,
    )
    result.n_positive = int((data.truth == 1).sum())
    result.n_negative = int((data.truth == 0).sum())
    result.warnings = data.notes() + result.warnings
    return result
