"""Multi-reader multi-case (MRMC) analysis of the empirical ROC AUC.

Methods
-------
* :func:`or_analysis`: Obuchowski-Rockette (OR) ANOVA of reader x modality AUCs with Hillis'
  denominator degrees of freedom, for random readers and random cases (RRRC), fixed readers
  (FRRC) and fixed cases (RRFC). AUC covariances by case jackknife, DeLong, or the unbiased
  U-statistic estimator.
  Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and
  multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput
  1995;24:285-308. Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS. A comparison of the
  Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating characteristic
  (ROC) data. Stat Med 2005;24:1579-1607. Hillis SL. A comparison of denominator degrees of
  freedom methods for multiple observer ROC analysis. Stat Med 2007;26:596-619. Hillis SL,
  Berbaum KS, Metz CE. Recent developments in the Dorfman-Berbaum-Metz procedure for
  multireader ROC study analysis. Acad Radiol 2008;15:647-661.
* :func:`dbm_analysis`: Dorfman-Berbaum-Metz ANOVA of case-jackknife pseudovalues (Dorfman DD,
  Berbaum KS, Metz CE. Invest Radiol 1992;27:723-731), with Hillis' (2007) ddf; its RRRC F equals
  the OR F with jackknife covariance (Hillis et al. 2005).
* :func:`standalone_vs_readers`: a standalone model (CAD) against a group of random readers on
  the same cases: single-modality OR analysis of the reader-minus-model AUC differences (Hillis
  2007, section 5.3; Chakraborty DP, Observer Performance Methods for Diagnostic Imaging, CRC
  Press 2017, chapter "Standalone CAD vs. radiologists"; RJafroc ``StCadVsRad``, method
  ``1T-RRRC``).
* :func:`imrmc_analysis`: U-statistic (and V-statistic / MLE) variance of the reader-averaged
  AUC and of differences, as in iMRMC (Gallas BD. One-shot estimate of MRMC variance: AUC.
  Acad Radiol 2006;13:353-362; Gallas BD, Bandos A, Samuelson FW, Wagner RF. A framework for
  random-effects ROC analysis: biases with the bootstrap and other variance estimators. Commun
  Stat Theory Methods 2009;38:2586-2603), with the BDG/Hillis degrees of freedom.

Input is the package's long ratings table (one row per rating: ``case``, ``reader``, ``score``,
``truth``, ``modality``); every reader must rate every case in every modality (fully crossed).
The AUC is the empirical (Mann-Whitney) AUC, ties counting one half.

Leave-one-case-out AUCs (jackknife) come from DeLong's placements in O(k n log n): removing
positive case i gives ``(m * auc - v10_i) / (m - 1)``, removing negative case j gives
``(n * auc - v01_j) / (n - 1)`` (an exact identity), so the jackknife covariance is
``(c - 1) / c * (S10 / (m - 1) + S01 / (n - 1))`` with ``S10``, ``S01`` the placement
covariances (c = m + n cases).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis._jsonable import to_jsonable as _json

from ._core import fast_delong
from ._params import check_alpha
from .data import ratings_matrix, validate_ratings
from .errors import AnalysisInputError

__all__ = [
    "ANALYSES",
    "COVARIANCE_METHODS",
    "DBMResult",
    "IMRMCResult",
    "MRMCData",
    "ORResult",
    "StandaloneResult",
    "auc_covariance",
    "dbm_analysis",
    "imrmc_analysis",
    "leave_one_out_aucs",
    "mrmc_data",
    "or_analysis",
    "or_from_aucs",
    "standalone_vs_readers",
]

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


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MRMCData:
    """A fully crossed MRMC data set as arrays.

    Attributes
    ----------
    modalities : list of str
        Modality names, in order of first appearance in the table.
    readers : list of str
        Reader names, in order of first appearance.
    cases : list of str
        Case identifiers (column order of ``scores``).
    scores : ndarray, shape (t, r, n)
        ``scores[i, j, k]``: reader j's score of case k in modality i.
    truth : ndarray of int, shape (n,)
        0/1 truth per case.
    n_clusters : int or None
        Number of distinct values of the optional ``cluster`` column (None without it).
    """

    modalities: list[str]
    readers: list[str]
    cases: list[str]
    scores: np.ndarray
    truth: np.ndarray
    n_clusters: int | None = None

    def notes(self) -> list[str]:
        """Warnings about the design that every MRMC result repeats."""
        if self.n_clusters is not None and self.n_clusters < len(self.cases):
            return [
                f"the {len(self.cases)} cases belong to {self.n_clusters} clusters (column "
                "'cluster'), but cases are treated as independent: variances ignore the "
                "within-cluster correlation and may be too small"
            ]
        return []


def mrmc_data(
    ratings: pd.DataFrame,
    *,
    min_modalities: int = 2,
    min_readers: int = 2,
    modality_column: str = "modality",
) -> MRMCData:
    """Check a long ratings table and arrange it as a (modality, reader, case) score array.

    Parameters
    ----------
    ratings : DataFrame
        Long table with ``case``, ``reader``, ``score``, ``truth`` and ``modality`` (see
        :mod:`analysis.data`). With ``min_modalities=1`` the ``modality`` column may be absent
        (one modality named ``""``).
    min_modalities, min_readers : int
        Minimum numbers of modalities and readers.
    modality_column : str
        Name of the modality column.

    Returns
    -------
    MRMCData

    Raises
    ------
    AnalysisInputError
        Missing columns, bad values (see :func:`analysis.data.validate_ratings`); fewer
        modalities or readers than required; a reader missing in a modality (named); readers
        or modalities that did not rate the same cases (named); fewer than two positive or two
        negative cases.
    """
    frame = ratings
    if modality_column != "modality" and modality_column in frame.columns:
        frame = frame.rename(columns={modality_column: "modality"})
    has_modality = "modality" in {str(c).strip().lower() for c in frame.columns}
    frame = validate_ratings(frame, require_modality=min_modalities > 1)
    frame.attrs["validated"] = True
    modalities = [str(m) for m in pd.unique(frame["modality"])] if has_modality else [""]
    if len(modalities) < min_modalities:
        raise AnalysisInputError(
            f"MRMC comparison needs at least {min_modalities} modalities; column 'modality' has "
            f"only {modalities}"
        )
    readers = [str(r) for r in pd.unique(frame["reader"])]
    if has_modality:
        for modality in modalities:
            present = set(frame.loc[frame["modality"] == modality, "reader"])
            missing = [reader for reader in readers if reader not in present]
            if missing:
                raise AnalysisInputError(
                    f"reader(s) {missing} have no ratings in modality {modality!r}; every reader "
                    "must read every case in every modality (fully crossed design)"
                )
    if len(readers) < min_readers:
        raise AnalysisInputError(
            f"MRMC analysis needs at least {min_readers} readers; found {len(readers)} "
            f"({readers}); for a single reader use the paired DeLong test"
        )
    blocks = []
    cases: list[str] | None = None
    truth: np.ndarray | None = None
    for modality in modalities:
        _, mod_cases, scores, mod_truth = ratings_matrix(
            frame, modality=modality if has_modality else None, readers=readers
        )
        if cases is None:
            cases, truth = mod_cases, mod_truth
            blocks.append(scores)
            continue
        if set(mod_cases) != set(cases):
            only_here = sorted(set(mod_cases) - set(cases))[:5]
            only_first = sorted(set(cases) - set(mod_cases))[:5]
            raise AnalysisInputError(
                f"modality {modality!r} and modality {modalities[0]!r} do not have the same cases "
                f"(only in {modality!r}: {only_here}; only in {modalities[0]!r}: {only_first})"
            )
        order = pd.Index(mod_cases).get_indexer(cases)
        blocks.append(scores[:, order])
    assert cases is not None and truth is not None
    m = int((truth == 1).sum())
    n = int((truth == 0).sum())
    if m < 2 or n < 2:
        raise AnalysisInputError(
            f"MRMC analysis needs at least 2 positive and 2 negative cases; found {m} positive "
            f"and {n} negative"
        )
    n_clusters = None
    if "cluster" in frame.columns:
        n_clusters = int(frame.loc[frame["case"].isin(cases), "cluster"].nunique())
    return MRMCData(
        modalities=modalities,
        readers=readers,
        cases=list(cases),
        scores=np.stack(blocks, axis=0),
        truth=np.asarray(truth, dtype=int),
        n_clusters=n_clusters,
    )


# --------------------------------------------------------------------------------------------
# AUC covariance
# --------------------------------------------------------------------------------------------


def leave_one_out_aucs(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUCs and all leave-one-case-out AUCs, from DeLong placements.

    Exact identity (no recomputation): with m positive and n negative cases, removing positive
    case i gives ``(m * auc - v10_i) / (m - 1)`` and removing negative case j gives
    ``(n * auc - v01_j) / (n - 1)``, where v10, v01 are DeLong's structural components
    (DeLong et al., Biometrics 1988). Cost O(k n log n).

    Parameters
    ----------
    scores : ndarray, shape (k, n_cases)
    truth : ndarray, shape (n_cases,), 0/1

    Returns
    -------
    auc : ndarray, shape (k,)
    loo : ndarray, shape (k, n_cases)
        ``loo[a, c]``: AUC of score vector a without case c (original case order).
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    truth = np.asarray(truth)
    positive = truth == 1
    m = int(positive.sum())
    n = int((~positive).sum())
    if m < 2 or n < 2:
        raise AnalysisInputError(
            f"leave-one-out AUCs need at least 2 positive and 2 negative cases; got {m} and {n}"
        )
    comps = fast_delong(scores, truth)
    auc = comps.auc
    loo = np.empty(scores.shape, dtype=float)
    loo[:, positive] = (m * auc[:, None] - comps.v10) / (m - 1)
    loo[:, ~positive] = (n * auc[:, None] - comps.v01) / (n - 1)
    return auc, loo


def _kernel_gram(scores: np.ndarray, truth: np.ndarray, *, block_elements: int = 4_000_000):
    """G[a, b] = sum over (positive i, negative j) of psi_a(i, j) * psi_b(i, j).

    psi(i, j) = 1 if the positive scores higher, 1/2 if tied, 0 otherwise. Computed in blocks of
    positive cases with a matrix product: O(k^2 m n) operations, O(block_elements) memory.
    Sums of multiples of 1/4 are exact in float64.
    """
    positive = truth == 1
    pos = scores[:, positive]
    neg = scores[:, ~positive]
    k, m = pos.shape
    n = neg.shape[1]
    gram = np.zeros((k, k))
    step = max(1, block_elements // max(1, k * n))
    for start in range(0, m, step):
        block = pos[:, start : start + step, None]
        psi = (block > neg[:, None, :]).astype(float)
        psi += 0.5 * (block == neg[:, None, :])
        flat = psi.reshape(k, -1)
        gram += flat @ flat.T
    return gram


@dataclass(frozen=True)
class _UStatParts:
    """Ingredients of U-statistic moments: AUCs, per-case kernel sums and the kernel Gram matrix."""

    auc: np.ndarray  # (k,)
    row_pos: np.ndarray  # (k, m): sum over negatives of psi for each positive case (= n v10)
    row_neg: np.ndarray  # (k, n): sum over positives of psi for each negative case (= m v01)
    gram: np.ndarray  # (k, k)
    m: int
    n: int


def _ustat_parts(scores: np.ndarray, truth: np.ndarray) -> _UStatParts:
    comps = fast_delong(scores, truth)
    m = comps.v10.shape[1]
    n = comps.v01.shape[1]
    return _UStatParts(
        auc=comps.auc,
        row_pos=comps.v10 * n,
        row_neg=comps.v01 * m,
        gram=_kernel_gram(scores, truth),
        m=m,
        n=n,
    )


def _unbiased_covariance(parts: _UStatParts) -> np.ndarray:
    """Unbiased U-statistic covariance of AUCs (Gallas, Pennello & Meyers 2007).

    Cov(a, b) = theta_a theta_b - [S_a S_b - sum_i R_ai R_bi - sum_j N_aj N_bj + G_ab] /
    [m n (m-1)(n-1)], with S the kernel total, R / N the per-positive / per-negative kernel sums
    and G the kernel Gram matrix: the product of the two AUCs minus the unbiased estimate of
    E[psi_a(i, j) psi_b(i', j')] over distinct i != i', j != j' (same as MRMCaov ``unbiased``).
    """
    m, n = parts.m, parts.n
    total = parts.auc * (m * n)
    distinct = (
        np.outer(total, total)
        - parts.row_pos @ parts.row_pos.T
        - parts.row_neg @ parts.row_neg.T
        + parts.gram
    )
    return np.outer(parts.auc, parts.auc) - distinct / (m * n * (m - 1) * (n - 1))


def auc_covariance(
    scores: np.ndarray, truth: np.ndarray, *, method: str = "jackknife"
) -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUCs of k score vectors on the same cases and their covariance matrix.

    Parameters
    ----------
    scores : ndarray, shape (k, n_cases)
        Higher = more likely positive.
    truth : ndarray, shape (n_cases,)
        0/1, at least two cases of each class.
    method : {"jackknife", "DeLong", "unbiased"}
        * ``jackknife``: case jackknife over all cases, ``(c-1)/c * sum (theta_(-k) - mean)^2``
          (Efron 1982; as in OR-DBM MRMC, RJafroc and MRMCaov ``jackknife``), computed from
          DeLong placements as ``(c-1)/c * (S10/(m-1) + S01/(n-1))``.
        * ``DeLong``: DeLong, DeLong & Clarke-Pearson (1988), ``S10/m + S01/n``.
        * ``unbiased``: unbiased U-statistic estimator of Gallas, Pennello & Meyers (J Opt Soc
          Am A 2007;24:B70-B80), as MRMCaov ``unbiased``; may be negative or not positive
          semi-definite. O(k^2 m n).

    Returns
    -------
    auc : ndarray, shape (k,)
    covariance : ndarray, shape (k, k)
    """
    method = _check_covariance(method)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    truth = np.asarray(truth)
    positive = truth == 1
    m = int(positive.sum())
    n = int((~positive).sum())
    if m < 2 or n < 2:
        raise AnalysisInputError(
            f"AUC covariance needs at least 2 positive and 2 negative cases; got {m} and {n}"
        )
    if method == "unbiased":
        parts = _ustat_parts(scores, truth)
        return parts.auc, _unbiased_covariance(parts)
    comps = fast_delong(scores, truth)
    if method == "DeLong":
        return comps.auc, np.atleast_2d(comps.covariance)
    s10 = np.atleast_2d(np.cov(comps.v10))
    s01 = np.atleast_2d(np.cov(comps.v01))
    c = m + n
    return comps.auc, (c - 1) / c * (s10 / (m - 1) + s01 / (n - 1))


# --------------------------------------------------------------------------------------------
# Obuchowski-Rockette
# --------------------------------------------------------------------------------------------


@dataclass
class ORResult:
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

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict (NaN and infinity become null); see ``docs/analysis-mrmc.md``."""
        return _json(
            {
                "method": "OR",
                "covariance": self.covariance,
                "analysis": self.analysis,
                "alpha": self.alpha,
                "modalities": self.modalities,
                "reader_auc": self.reader_auc,
                "f": self.f,
                "df1": self.df1,
                "df2": self.df2,
                "p_value": self.p_value,
                "differences": self.differences,
                "variance_components": self.variance_components,
                "modality_ci": self.modality_ci,
                "anova": self.anova,
                "reader_tests": self.reader_tests,
                "warnings": self.warnings,
            }
        )


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


def _fmt(value: float) -> str:
    return f"{value:.6g}"


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
    notes: list[str] = []
    mod_mean = theta.mean(axis=1)

    for name, value in (("var_R", comp["var_r"]), ("var_TR", comp["var_tr"])):
        if np.isfinite(value) and value < 0:
            notes.append(
                f"variance component {name} is estimated negative ({_fmt(value)}); reported as "
                "estimated (the tests use the mean squares and covariances directly)"
            )
    if comp["var_error"] <= 0:
        notes.append(f"Var(error) estimate is not positive ({_fmt(comp['var_error'])})")
    cov_diff = _difference(comp["cov2"], comp["cov3"])
    if analysis in ("RRRC", "FRRC") and cov_diff < 0:
        extra = (
            f"so the denominator is MS(T:R) alone and ddf = (t-1)(r-1) = {(t - 1) * (r - 1)}"
            if analysis == "RRRC"
            else "so the denominator is Var(E) - Cov1"
        )
        notes.append(
            f"Cov2 ({_fmt(comp['cov2'])}) < Cov3 ({_fmt(comp['cov3'])}): max(Cov2 - Cov3, 0) = 0 "
            f"is used (Hillis 2007), {extra}"
        )
    cov_diff_plus = max(cov_diff, 0.0)

    ms_t, ms_tr = comp["ms_t"], comp["ms_tr"]
    chi2_value: float | None = None
    df1 = t - 1
    if analysis == "RRRC":
        denominator = ms_tr + r * cov_diff_plus
        df2 = denominator**2 / (ms_tr**2 / ((t - 1) * (r - 1))) if ms_tr > 0 else math.inf
        diff_var = 2 * denominator / r
        diff_df: float | None = df2
    elif analysis == "FRRC":
        denominator = comp["var_error"] - comp["cov1"] + (r - 1) * cov_diff_plus
        df2 = math.inf
        diff_var = 2 * denominator / r
        diff_df = None
    else:
        denominator = ms_tr
        df2 = float((t - 1) * (r - 1))
        diff_var = 2 * denominator / r
        diff_df = df2

    if denominator > 0 and np.isfinite(denominator):
        f_value = ms_t / denominator
        if math.isinf(df2):
            chi2_value = df1 * f_value
            p_value = float(stats.chi2.sf(chi2_value, df1))
        else:
            p_value = float(stats.f.sf(f_value, df1, df2))
        if analysis != "FRRC":
            chi2_value = None
    else:
        notes.append(
            f"the {analysis} error term is not positive ({_fmt(denominator)}): the test statistic, "
            "p-value and confidence intervals of differences are undefined"
        )
        f_value, p_value, chi2_value = None, None, None
    if diff_df is not None and not np.isfinite(diff_df):
        diff_df = None

    differences = []
    for a, b in combinations(range(t), 2):
        estimate = float(mod_mean[a] - mod_mean[b])
        se, statistic, ci, p = _t_test(estimate, diff_var, diff_df, alpha)
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
        ms_r_i = float(comp["ms_r_i"][i])
        cov2_i = float(comp["cov2_i"][i])
        if analysis != "RRFC" and cov2_i < 0:
            notes.append(
                f"modality {name!r}: Cov2 is estimated negative ({_fmt(cov2_i)}); max(Cov2, 0) = 0 "
                "is used for its confidence interval"
            )
        if analysis == "RRRC":
            den_i = ms_r_i + r * max(cov2_i, 0.0)
            var_i = den_i / r
            df_i: float | None = den_i**2 / (ms_r_i**2 / (r - 1)) if ms_r_i > 0 else None
        elif analysis == "FRRC":
            var_i = (float(comp["var_i"][i]) + (r - 1) * max(cov2_i, 0.0)) / r
            df_i = None
        else:
            var_i = ms_r_i / r
            df_i = float(r - 1)
        se, _, ci, _ = _t_test(float(mod_mean[i]), var_i, df_i, alpha)
        if se is None:
            notes.append(
                f"modality {name!r}: variance of the reader-averaged AUC is not positive "
                f"({_fmt(var_i)}); its confidence interval is undefined"
            )
        modality_ci[name] = {
            "estimate": float(mod_mean[i]),
            "se": se,
            "df": df_i,
            "ci95": ci,
        }

    reader_tests = None
    if analysis == "FRRC":
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
                ci = _clip_to_unit_interval(ci)
                auc_ci[name][reader] = {"auc": float(theta[i, j]), "se": se, "ci95": ci}
        reader_tests = {"differences": rows, "auc_ci": auc_ci}

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
        df2=None if math.isinf(df2) else float(df2),
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
            "ms_tr": ms_tr,
            "denominator": denominator,
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


# --------------------------------------------------------------------------------------------
# DBM
# --------------------------------------------------------------------------------------------


@dataclass
class DBMResult:
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

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict (NaN and infinity become null)."""
        return _json(
            {
                "method": "DBM",
                "covariance": "jackknife",
                "analysis": self.analysis,
                "alpha": self.alpha,
                "modalities": self.modalities,
                "reader_auc": self.reader_auc,
                "f": self.f,
                "df1": self.df1,
                "df2": self.df2,
                "p_value": self.p_value,
                "differences": self.differences,
                "variance_components": self.variance_components,
                "modality_ci": self.modality_ci,
                "anova": self.anova,
                "warnings": self.warnings,
            }
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


# --------------------------------------------------------------------------------------------
# Standalone model vs readers
# --------------------------------------------------------------------------------------------


@dataclass
class StandaloneResult:
    """Result of :func:`standalone_vs_readers`.

    Attributes
    ----------
    model : str
        The model's reader name.
    modality : str or None
    covariance, analysis : str
    alpha : float
    model_auc : float
        AUC of the model.
    model_ci95 : list
        Normal (1 - alpha) interval of the model AUC from the chosen covariance method's
        variance, clipped to [0, 1].
    reader_mean_auc : float
        Mean AUC of the readers.
    reader_mean_ci95 : list
        Interval of the readers' mean AUC from a single-modality OR analysis of the readers
        alone (Hillis 2007; RRRC: [MS(R) + r max(Cov2, 0)]/r with Satterthwaite df; RRFC:
        MS(R)/r with r - 1 df).
    difference : float
        model AUC - mean reader AUC (RJafroc reports the opposite sign, RAD - CAD).
    se, df, t, f, p_value, ci95
        Test of H0 difference = 0: t = difference / se with ``df`` degrees of freedom, F = t^2
        (df1 = 1), two-sided p, (1 - alpha) interval of the difference.
    readers : dict
        Per reader: ``auc``, ``difference`` (model - reader), ``se`` (from the covariance of
        the two AUCs), ``z``, ``ci95``, ``p_value`` (normal; with ``covariance="DeLong"`` this is
        the paired DeLong test of the model against that reader).
    variance_components : dict
        Of the reader-minus-model differences D_j: ``ms_r`` (their sample variance),
        ``var_error`` (mean Var(D_j)), ``cov2`` (mean Cov(D_j, D_j')), ``var_R`` = MS(R) -
        var_error + cov2.
    warnings : list of str
    """

    model: str
    modality: str | None
    covariance: str
    analysis: str
    alpha: float
    model_auc: float
    model_ci95: list[float | None]
    reader_mean_auc: float
    reader_mean_ci95: list[float | None]
    difference: float
    se: float | None
    df: float | None
    t: float | None
    f: float | None
    p_value: float | None
    ci95: list[float | None]
    readers: dict[str, dict[str, Any]]
    variance_components: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict (NaN and infinity become null)."""
        return _json(
            {
                "method": "OR-1T" if self.analysis == "RRRC" else "t-test",
                "model": self.model,
                "modality": self.modality,
                "covariance": self.covariance,
                "analysis": self.analysis,
                "alpha": self.alpha,
                "model_auc": self.model_auc,
                "model_ci95": self.model_ci95,
                "reader_mean_auc": self.reader_mean_auc,
                "reader_mean_ci95": self.reader_mean_ci95,
                "difference": self.difference,
                "se": self.se,
                "df": self.df,
                "t": self.t,
                "f": self.f,
                "df1": 1,
                "p_value": self.p_value,
                "ci95": self.ci95,
                "readers": self.readers,
                "variance_components": self.variance_components,
                "warnings": self.warnings,
            }
        )


def _select_standalone(
    ratings: pd.DataFrame, model: str, modality: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Rows of the readers (in ``modality``) plus the model's rows, as one modality."""
    frame = validate_ratings(ratings)
    model = str(model)
    is_model = frame["reader"] == model
    if not is_model.any():
        raise AnalysisInputError(
            f"model {model!r} not found in column 'reader'; readers: "
            f"{[str(r) for r in pd.unique(frame['reader'])]}"
        )
    if "modality" not in frame.columns:
        if modality is not None:
            raise AnalysisInputError(
                f"modality {modality!r} requested but there is no 'modality' column"
            )
        return frame, None
    modalities = [str(m) for m in pd.unique(frame["modality"])]
    reader_modalities = [str(m) for m in pd.unique(frame.loc[~is_model, "modality"])]
    if modality is None:
        if len(reader_modalities) > 1:
            raise AnalysisInputError(
                f"the readers' ratings have several modalities {reader_modalities}: choose one "
                "with modality="
            )
        modality = reader_modalities[0] if reader_modalities else modalities[0]
    modality = str(modality)
    if modality not in modalities:
        raise AnalysisInputError(f"modality {modality!r} not found; available: {modalities}")
    model_modalities = [str(m) for m in pd.unique(frame.loc[is_model, "modality"])]
    if modality in model_modalities:
        model_rows = frame[is_model & (frame["modality"] == modality)]
    elif len(model_modalities) == 1:
        model_rows = frame[is_model]
    else:
        raise AnalysisInputError(
            f"model {model!r} has no ratings in modality {modality!r} and several others "
            f"{model_modalities}"
        )
    reader_rows = frame[~is_model & (frame["modality"] == modality)]
    out = pd.concat([model_rows, reader_rows], ignore_index=True).drop(columns=["modality"])
    return out, modality


def standalone_vs_readers(
    ratings: pd.DataFrame,
    *,
    model: str,
    modality: str | None = None,
    covariance: str = "jackknife",
    analysis: str = "RRRC",
    alpha: float = 0.05,
) -> StandaloneResult:
    """Compare a standalone model's AUC with the mean AUC of a group of random readers.

    Method (Hillis 2007, section 5.3; Chakraborty 2017, "Standalone CAD vs. radiologists";
    RJafroc ``StCadVsRad(method="1T-RRRC")``): single-modality OR analysis of the differences
    D_j = AUC(reader j) - AUC(model), j = 1..r, on the same cases. With MS(R) = sample variance
    of the D_j, Cov2 = mean covariance of D_j, D_j' (j != j'), estimated with ``covariance``:

    * RRRC (readers and cases random): den = MS(R) + r max(Cov2, 0); SE = sqrt(den / r);
      t = mean(D) / SE with df = den^2 / [MS(R)^2 / (r - 1)].
    * RRFC (cases fixed): one-sample t test of the D_j (SE^2 = MS(R)/r, r - 1 df), i.e.
      ``1T-RRFC`` / Hupse et al. (Eur Radiol 2013).

    The same result is obtained by an OR RRRC analysis with the model duplicated as a second
    "modality" for every reader (Kooi et al. 2016, RJafroc ``2T-RRRC``), which the tests use
    as a check. The reported ``difference`` is model - readers (sign flipped from RJafroc).

    Parameters
    ----------
    ratings : DataFrame
        Long table; the model is the rows whose ``reader`` equals ``model``.
    model : str
        The model's name in column ``reader``.
    modality : str, optional
        The readers' modality to use when the table has several. The model's rows are taken
        from that modality if it has any there, else from its only modality.
    covariance : {"jackknife", "DeLong", "unbiased"}
    analysis : {"RRRC", "RRFC"}
    alpha : float

    Returns
    -------
    StandaloneResult

    Raises
    ------
    AnalysisInputError
        Unknown model or modality, fewer than 2 readers besides the model, readers and model
        not rating the same cases, bad options.
    """
    covariance = _check_covariance(covariance)
    analysis = _check_analysis(analysis, ("RRRC", "RRFC"))
    alpha = check_alpha(alpha)
    frame, modality = _select_standalone(ratings, model, modality)
    model = str(model)
    others = [str(r) for r in pd.unique(frame["reader"]) if str(r) != model]
    if len(others) < 2:
        raise AnalysisInputError(
            f"comparing model {model!r} with a group of readers needs at least 2 readers besides "
            f"the model; found {others}"
        )
    data = mrmc_data(frame, min_modalities=1, min_readers=3)
    readers = [reader for reader in data.readers if reader != model]
    order = [data.readers.index(model)] + [data.readers.index(reader) for reader in readers]
    scores = data.scores[0][order]
    auc, cov = auc_covariance(scores, data.truth, method=covariance)
    r = len(readers)
    d = auc[1:] - auc[0]
    # covariance of D_j = theta_j - theta_model
    contrast = np.hstack([-np.ones((r, 1)), np.eye(r)])
    cov_d = contrast @ cov @ contrast.T
    off = ~np.eye(r, dtype=bool)
    scale = float(np.abs(cov).max())
    var_error = float(np.diag(cov_d).mean())
    cov2 = float(cov_d[off].mean())
    if abs(cov2) <= _ROUNDING * scale:  # rounding error of the contrast
        cov2 = 0.0
    mean_d = float(d.mean())
    ms_r = float((_snap(d - mean_d) ** 2).sum() / (r - 1))
    notes: list[str] = data.notes()
    if analysis == "RRRC":
        if cov2 < 0:
            notes.append(
                f"Cov2 of the reader-minus-model differences is negative ({_fmt(cov2)}); "
                "max(Cov2, 0) = 0 is used (Hillis 2007)"
            )
        den = ms_r + r * max(cov2, 0.0)
        df = den**2 / (ms_r**2 / (r - 1)) if ms_r > 0 else math.inf
    else:
        den = ms_r
        df = float(r - 1)
    df_out = None if math.isinf(df) else float(df)
    # test on model - readers = -mean(D)
    difference = -mean_d
    se, t_value, ci, p = _t_test(difference, den / r, df_out, alpha)
    if se is None:
        notes.append(
            f"the variance of the mean difference is not positive ({_fmt(den / r)}); test and "
            "interval undefined"
        )
    # readers' mean AUC interval (single modality OR on the readers)
    reader_auc = auc[1:]
    mean_reader = float(reader_auc.mean())
    ms_r_readers = float((_snap(reader_auc - mean_reader) ** 2).sum() / (r - 1))
    cov_readers = cov[1:, 1:]
    cov2_readers = float(cov_readers[off].mean())
    if analysis == "RRRC":
        den_readers = ms_r_readers + r * max(cov2_readers, 0.0)
        df_readers = den_readers**2 / (ms_r_readers**2 / (r - 1)) if ms_r_readers > 0 else None
    else:
        den_readers = ms_r_readers
        df_readers = float(r - 1)
    _, _, reader_ci, _ = _t_test(mean_reader, den_readers / r, df_readers, alpha)
    _, _, model_ci, _ = _t_test(float(auc[0]), float(cov[0, 0]), None, alpha)
    model_ci = _clip_to_unit_interval(model_ci)
    per_reader = {}
    for j, reader in enumerate(readers):
        estimate = float(auc[0] - auc[j + 1])
        var = float(cov[0, 0] + cov[j + 1, j + 1] - 2 * cov[0, j + 1])
        se_j, z_j, ci_j, p_j = _t_test(estimate, var, None, alpha)
        if se_j is None and estimate != 0:
            notes.append(
                f"reader {reader!r}: variance of model - reader AUC is not positive "
                f"({_fmt(var)}); its test is undefined"
            )
        per_reader[reader] = {
            "auc": float(auc[j + 1]),
            "difference": estimate,
            "se": se_j,
            "z": z_j,
            "ci95": ci_j,
            "p_value": p_j,
        }
    return StandaloneResult(
        model=model,
        modality=modality,
        covariance=covariance,
        analysis=analysis,
        alpha=alpha,
        model_auc=float(auc[0]),
        model_ci95=model_ci,
        reader_mean_auc=mean_reader,
        reader_mean_ci95=reader_ci,
        difference=difference,
        se=se,
        df=df_out,
        t=t_value,
        f=None if t_value is None else t_value**2,
        p_value=p,
        ci95=ci,
        readers=per_reader,
        variance_components={
            "ms_r": ms_r,
            "var_error": var_error,
            "cov2": cov2,
            "var_R": _combine(ms_r, -var_error, cov2),
        },
        warnings=notes,
    )


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
class IMRMCResult:
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

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict (NaN and infinity become null)."""
        return _json(
            {
                "method": "iMRMC",
                "alpha": self.alpha,
                "n_readers": self.n_readers,
                "n_negative": self.n_negative,
                "n_positive": self.n_positive,
                "ustat": self.ustat,
                "mle": self.mle,
                "per_reader": self.per_reader,
                "warnings": self.warnings,
            }
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
