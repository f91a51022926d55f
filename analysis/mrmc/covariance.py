"""Covariance of reader x modality AUCs over cases: jackknife, DeLong, unbiased U-statistic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core import fast_delong
from ..errors import AnalysisInputError
from ._common import _check_covariance

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
