"""A standalone model against random readers on the same cases (Hillis 2007, 5.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._jsonable import JsonResult, constant
from .._params import check_alpha
from ..data import trust_validated_frame, validate_ratings
from ..errors import AnalysisInputError
from ._common import (
    _ROUNDING,
    _check_analysis,
    _check_covariance,
    _clip_to_unit_interval,
    _combine,
    _fmt,
    _snap,
    _t_test,
)
from .covariance import auc_covariance
from .data import mrmc_data

# --------------------------------------------------------------------------------------------
# Standalone model vs readers
# --------------------------------------------------------------------------------------------


@dataclass
class StandaloneResult(JsonResult):
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

    JSON = (
        ("method", lambda self: "OR-1T" if self.analysis == "RRRC" else "t-test"),
        "model",
        "modality",
        "covariance",
        "analysis",
        "alpha",
        "model_auc",
        "model_ci95",
        "reader_mean_auc",
        "reader_mean_ci95",
        "difference",
        "se",
        "df",
        "t",
        "f",
        ("df1", constant(1)),
        "p_value",
        "ci95",
        "readers",
        "variance_components",
        "warnings",
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
    # Rows of one modality of a validated table (within a report: not validated again).
    return trust_validated_frame(out), modality


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
