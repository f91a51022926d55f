"""Inter-reader agreement: Fleiss' kappa, Cohen's (weighted) kappa, 3x3 confusion matrices.

* Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull 1971;76:378-382.
* Fleiss JL, Nee JCM, Landis JR. Large sample variance of kappa in the case of different sets of
  raters. Psychol Bull 1979;86:974-977 (variance under H0: kappa = 0, used by ``irr::kappam.fleiss``
  for its z test).
* Gwet KL. Computing inter-rater reliability and its variance in the presence of high agreement.
  Br J Math Stat Psychol 2008;61:29-48 (variance without the null hypothesis, used for the
  confidence interval; ``irrCAC::fleiss.kappa.raw``).
* Conger AJ. Integration and generalization of kappas for multiple raters. Psychol Bull
  1980;88:322-328 (``irr::kappam.fleiss(exact = TRUE)``).
* Randolph JJ. Free-marginal multirater kappa. 2005 (``statsmodels`` ``method="randolph"``).
* Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20:37-46; Cohen J.
  Weighted kappa. Psychol Bull 1968;70:213-220; Fleiss JL, Cohen J, Everitt BS. Large sample
  standard errors of kappa and weighted kappa. Psychol Bull 1969;72:323-327.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from ._jsonable import JsonResult, confidence_level, constant
from ._params import check_alpha, normal_quantile
from ._types import LabelsLike, TableLike
from .data import CALL_CODES, describe_row, load_ratings, map_distinct, row_label
from .errors import AnalysisInputError

__all__ = [
    "CategoryKappa",
    "CohenKappa",
    "ConfusionMatrix",
    "FleissKappa",
    "RatingTable",
    "category_counts",
    "cohen_kappa",
    "confusion_matrices",
    "confusion_matrix",
    "fleiss_kappa",
    "fleiss_kappa_from_ratings",
    "pairwise_cohen_kappa",
    "rating_table",
]

THREE_WAY_LABELS: tuple[str, str, str] = ("benign", "metastasis", "ene")
_WHOLE_NUMBER_WITH_DECIMALS = re.compile(r"^-?\d+\.0+$")


def _label(value: Any) -> str:
    """Category label as text ("1.0" and 1 both become "1")."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    # "2.0" from a CSV column that pandas read as float (empty cells elsewhere) means 2.
    if _WHOLE_NUMBER_WITH_DECIMALS.match(text):
        text = text.split(".")[0]
    return text


def _category_order(values: Sequence[Any]) -> list[str]:
    """Order of categories: 3-way calls by severity, numbers numerically, other text sorted."""
    labels = sorted({_label(value) for value in values})
    lowered = [label.lower() for label in labels]
    if all(label in CALL_CODES and not label.isdigit() for label in lowered):
        return sorted(labels, key=lambda label: CALL_CODES[label.lower()])
    try:
        return sorted(labels, key=float)
    except ValueError:
        return labels


@dataclass(frozen=True)
class RatingTable:
    """Calls of k readers on N cases, complete (every reader rated every case).

    Attributes
    ----------
    cases : list of str
    readers : list of str
    categories : list of str
        Category labels, in the order used for counts and weights.
    codes : ndarray of int, shape (N, k)
        Index into ``categories`` of each reader's call on each case.
    """

    cases: list[str]
    readers: list[str]
    categories: list[str]
    codes: np.ndarray

    def counts(self) -> np.ndarray:
        """Cases x categories table: how many readers put each case in each category."""
        q = len(self.categories)
        return np.stack([np.bincount(row, minlength=q) for row in self.codes]).astype(float)


def rating_table(
    ratings: pd.DataFrame,
    *,
    call_column: str = "call",
    categories: Sequence[Any] | None = None,
    readers: Sequence[str] | None = None,
) -> RatingTable:
    """Build a complete :class:`RatingTable` from a long table with ``case``, ``reader``, calls.

    Raises :class:`AnalysisInputError` for missing columns or calls, a (case, reader) rated twice,
    calls outside ``categories``, and readers who did not rate every case (naming them).
    """
    frame = load_ratings(ratings)
    for column in ("case", "reader", call_column):
        if column not in frame.columns:
            raise AnalysisInputError(
                f"missing column {column!r}; found {', '.join(repr(c) for c in frame.columns)}"
            )
    frame = frame[["case", "reader", call_column]].copy()
    missing = frame.isna().any(axis=1)
    if missing.any():
        index = missing[missing].index[0]
        column = next(c for c in ("case", "reader", call_column) if pd.isna(frame.at[index, c]))
        raise AnalysisInputError(
            f"column {column!r}: missing value at {describe_row(frame, index)} "
            f"({int(missing.sum())} such rows)"
        )
    for column in ("case", "reader"):
        frame[column] = map_distinct(frame[column], _label)
    frame["label"] = map_distinct(frame[call_column], _label)
    if readers is not None:
        wanted = [str(reader) for reader in readers]
        unknown = sorted(set(wanted) - set(frame["reader"]))
        if unknown:
            raise AnalysisInputError(f"reader(s) {unknown} not found")
        frame = frame[frame["reader"].isin(wanted)]
    duplicated = frame.duplicated(subset=["case", "reader"])
    if duplicated.any():
        index = duplicated[duplicated].index[0]
        raise AnalysisInputError(
            f"duplicate call at {row_label(frame, index)}: case {frame.at[index, 'case']!r}, "
            f"reader {frame.at[index, 'reader']!r} appears more than once"
        )
    lowered = frame["label"].str.lower()
    spelled_three_way = lowered.isin(list(CALL_CODES)).all() and not lowered.str.isdigit().all()
    if categories is None and spelled_three_way:
        # 3-way calls may be spelled differently by different readers (1 vs "metastasis"):
        # normalise to benign / metastasis / ene and keep the whole ordinal scale.
        frame["label"] = lowered.map(lambda value: THREE_WAY_LABELS[CALL_CODES[value]])
        category_list = list(THREE_WAY_LABELS)
    elif categories is None:
        category_list = _category_order(frame["label"].tolist())
    else:
        category_list = [_label(category) for category in categories]
        if len(set(category_list)) != len(category_list):
            raise AnalysisInputError(f"categories are not unique: {category_list}")
    lookup = {label: index for index, label in enumerate(category_list)}
    unknown_rows = ~frame["label"].isin(list(lookup))
    if unknown_rows.any():
        index = unknown_rows[unknown_rows].index[0]
        raise AnalysisInputError(
            f"column {call_column!r}: {frame.at[index, 'label']!r} at {describe_row(frame, index)} "
            f"is not one of the categories {category_list}"
        )
    case_order = list(pd.unique(frame["case"]))
    reader_order = list(pd.unique(frame["reader"]))
    # The cases x readers table placed by integer codes ((case, reader) pairs are unique: checked
    # above); -1 marks a call nobody made.
    codes = np.full((len(case_order), len(reader_order)), -1, dtype=int)
    codes[
        pd.Index(case_order).get_indexer(frame["case"]),
        pd.Index(reader_order).get_indexer(frame["reader"]),
    ] = frame["label"].map(lookup).to_numpy(dtype=int)
    if (codes < 0).any():
        problems = []
        for position, reader in enumerate(reader_order):
            absent = [case_order[row] for row in np.flatnonzero(codes[:, position] < 0)]
            if absent:
                problems.append(f"reader {reader!r} has no call for case(s) {absent[:5]}")
        raise AnalysisInputError(
            "agreement needs every reader on every case: " + "; ".join(problems)
        )
    if len(reader_order) < 2:
        raise AnalysisInputError(f"agreement needs at least 2 readers, got {reader_order}")
    return RatingTable(
        cases=[str(case) for case in case_order],
        readers=[str(reader) for reader in reader_order],
        categories=category_list,
        codes=codes,
    )


def category_counts(
    ratings: pd.DataFrame,
    *,
    call_column: str = "call",
    categories: Sequence[Any] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Cases x categories count table (statsmodels ``aggregate_raters`` format) and category labels."""
    table = rating_table(ratings, call_column=call_column, categories=categories)
    return table.counts(), table.categories


@dataclass(frozen=True)
class CategoryKappa(JsonResult):
    """Fleiss' kappa for one category against all others (``irr`` ``detail = TRUE``).

    ``se0`` is irr's standard error under H0 (kappa = 0); ``z = kappa / se0``.
    """

    category: str
    kappa: float
    se0: float
    z: float
    p_value: float

    JSON = (
        "category",
        "kappa",
        "se0",
        "z",
        "p_value",
    )


@dataclass(frozen=True)
class FleissKappa(JsonResult):
    """Fleiss' kappa with its null test and a confidence interval.

    Attributes
    ----------
    kappa : float
        (P_o - P_e) / (1 - P_e) with P_o the mean pairwise agreement per case and
        P_e = sum_j p_j^2 (Fleiss 1971).
    observed_agreement, chance_agreement : float
        P_o and P_e.
    se0 : float
        Standard error under H0 kappa = 0 (Fleiss, Nee & Landis 1979; irr ``kappam.fleiss``).
    z, p_value : float
        kappa / se0 and its two-sided normal p-value (irr's test).
    se : float
        Standard error without the null hypothesis (Gwet 2008 linearisation, as
        ``irrCAC::fleiss.kappa.raw``), or the bootstrap SD with ``ci_method="bootstrap"``.
    ci : tuple of float
        With ``ci_method="gwet"``: kappa +/- t_{N-1, 1-alpha/2} se, upper end capped at 1 (irrCAC);
        with ``"bootstrap"``: percentile interval from resampling cases.
    ci_method : str
    alpha : float
    n_cases, n_raters : int
    categories : list of str
    category_kappas : list of CategoryKappa
    kappa_conger : float or None
        Conger's (1980) exact kappa, when rater identity is known (not from a count table).
    kappa_randolph : float
        Free-marginal kappa, chance agreement 1/q.
    """

    kappa: float
    observed_agreement: float
    chance_agreement: float
    se0: float
    z: float
    p_value: float
    se: float
    ci: tuple[float, float]
    ci_method: str
    alpha: float
    n_cases: int
    n_raters: int
    categories: list[str]
    category_kappas: list[CategoryKappa]
    kappa_conger: float | None
    kappa_randolph: float

    JSON = (
        ("fleiss_kappa", "kappa"),
        "se",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        "ci_method",
        "se0",
        "z",
        "p_value",
        (
            "test",
            constant("z = kappa / se0, se0 under H0 kappa = 0 (Fleiss, Nee & Landis 1979; irr)"),
        ),
        "observed_agreement",
        "chance_agreement",
        "n_cases",
        ("n_readers", "n_raters"),
        "categories",
        "category_kappas",
        "kappa_conger",
        "kappa_randolph",
    )


def _fleiss_point(counts: np.ndarray) -> tuple[float, float, float]:
    n_raters = counts[0].sum()
    n_cases = counts.shape[0]
    observed = float(
        ((counts**2).sum(axis=1) - n_raters).sum() / (n_raters * (n_raters - 1) * n_cases)
    )
    proportions = counts.sum(axis=0) / (n_cases * n_raters)
    chance = float((proportions**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - chance) / (1.0 - chance)
    return float(kappa), observed, chance


def _check_counts(counts: Any) -> np.ndarray:
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
        raise AnalysisInputError(
            f"count table must be cases x categories with at least 2 categories, got {table.shape}"
        )
    if (table < 0).any() or not np.isfinite(table).all():
        raise AnalysisInputError("count table has negative or non-finite entries")
    totals = table.sum(axis=1)
    if not np.allclose(totals, totals[0]):
        row = int(np.flatnonzero(~np.isclose(totals, totals[0]))[0])
        raise AnalysisInputError(
            f"every case needs the same number of ratings: case {row} has {totals[row]:g}, "
            f"case 0 has {totals[0]:g}"
        )
    if totals[0] < 2:
        raise AnalysisInputError(
            f"Fleiss' kappa needs at least 2 raters per case, got {totals[0]:g}"
        )
    return table


def fleiss_kappa(
    counts: TableLike,
    *,
    categories: Sequence[Any] | None = None,
    alpha: float = 0.05,
    ci_method: str = "gwet",
    n_boot: int = 2000,
    seed: int = 0,
    rater_codes: np.ndarray | None = None,
) -> FleissKappa:
    """Fleiss' kappa from a cases x categories count table (each row sums to the raters per case).

    Parameters
    ----------
    counts : array-like, shape (N, q)
        ``counts[i, j]`` = raters who put case i in category j (as ``irr``/``statsmodels``).
    categories : sequence, optional
        Labels of the q columns (default "1".."q").
    alpha : float
        1 - confidence level.
    ci_method : {"gwet", "bootstrap"}
        Interval from Gwet's non-null SE (default) or a percentile bootstrap over cases.
    n_boot, seed : int
        Bootstrap replicates and seed (``ci_method="bootstrap"``).
    rater_codes : ndarray of int, shape (N, k), optional
        Each rater's category index per case; enables Conger's exact kappa.

    Notes
    -----
    Null variance (Fleiss, Nee & Landis 1979; irr 0.84), with q_j = 1 - p_j::

        var0 = 2 / (N n (n-1)) * ((sum_j p_j q_j)^2 - sum_j p_j q_j (q_j - p_j)) / (sum_j p_j q_j)^2

    and 2 / (N n (n-1)) for each category-wise kappa.

    Gwet's (2008) variance: with kappa_i = (P_i - P_e) / (1 - P_e),
    pe_i = sum_j x_ij p_j / n and kappa_i* = kappa_i - 2 (1 - kappa) (pe_i - P_e) / (1 - P_e),
    var = sum_i (kappa_i* - kappa)^2 / (N (N - 1)).

    Kappa is NaN when all ratings fall in one category (P_e = 1; statsmodels issue #4387).
    """
    alpha = check_alpha(alpha)
    if ci_method not in ("gwet", "bootstrap"):
        raise AnalysisInputError(f"ci_method must be 'gwet' or 'bootstrap', got {ci_method!r}")
    table = _check_counts(counts)
    n_cases, n_categories = table.shape
    labels = (
        [_label(category) for category in categories]
        if categories is not None
        else [str(index + 1) for index in range(n_categories)]
    )
    if len(labels) != n_categories:
        raise AnalysisInputError(f"{len(labels)} category labels for {n_categories} columns")
    n = float(table[0].sum())
    kappa, observed, chance = _fleiss_point(table)
    proportions = table.sum(axis=0) / (n_cases * n)

    complement = 1.0 - proportions
    spread = float((proportions * complement).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        var0 = (
            2.0
            / (n_cases * n * (n - 1))
            * (spread**2 - (proportions * complement * (complement - proportions)).sum())
            / spread**2
        )
        se0 = float(np.sqrt(var0)) if var0 >= 0 else float("nan")
        z = kappa / se0 if se0 > 0 else float("nan")
    p_value = float(2.0 * norm.sf(abs(z))) if np.isfinite(z) else float("nan")

    category_kappas = []
    for index, label in enumerate(labels):
        p_j = proportions[index]
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement_j = ((table[:, index] ** 2).sum() - n_cases * n * p_j) / (
                n_cases * n * (n - 1) * p_j
            )
            kappa_j = (agreement_j - p_j) / (1.0 - p_j)
            # Fleiss, Nee & Landis (1979): under H0 every category kappa has variance
            # 2 / (N n (n - 1)).
            var_j = 2.0 / (n_cases * n * (n - 1))
            se_j = float(np.sqrt(var_j))
            z_j = float(kappa_j / se_j)
        category_kappas.append(
            CategoryKappa(
                category=label,
                kappa=float(kappa_j),
                se0=se_j,
                z=z_j,
                p_value=float(2.0 * norm.sf(abs(z_j))) if np.isfinite(z_j) else float("nan"),
            )
        )

    if ci_method == "gwet":
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement_i = (table * (table - 1)).sum(axis=1) / (n * (n - 1))
            kappa_i = (agreement_i - chance) / (1.0 - chance)
            chance_i = table @ proportions / n
            linearised = kappa_i - 2.0 * (1.0 - kappa) * (chance_i - chance) / (1.0 - chance)
            variance = (
                ((linearised - kappa) ** 2).sum() / (n_cases * (n_cases - 1))
                if n_cases > 1
                else np.nan
            )
        se = float(np.sqrt(variance))
        if np.isfinite(se) and n_cases > 1:
            quantile = float(student_t.ppf(1.0 - alpha / 2.0, n_cases - 1))
            ci = (float(kappa - quantile * se), float(min(1.0, kappa + quantile * se)))
        else:
            ci = (float("nan"), float("nan"))
    else:
        rng = np.random.default_rng(seed)
        replicates = np.array(
            [_fleiss_point(table[rng.integers(0, n_cases, n_cases)])[0] for _ in range(n_boot)]
        )
        valid = replicates[np.isfinite(replicates)]
        if valid.size == 0:
            se, ci = float("nan"), (float("nan"), float("nan"))
        else:
            se = float(valid.std(ddof=1)) if valid.size > 1 else float("nan")
            lower, upper = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
            ci = (float(lower), float(upper))

    kappa_conger = None
    if rater_codes is not None:
        codes = np.asarray(rater_codes, dtype=int)
        k = codes.shape[1]
        # Per-rater category proportions (k x q); their between-rater variance is what Conger's
        # chance agreement removes from Fleiss' (irr: chanceP - sum(var * (k-1)/k) / (k-1)).
        per_rater = np.stack(
            [np.bincount(codes[:, r], minlength=n_categories) / n_cases for r in range(k)]
        )
        spread = per_rater.var(axis=0, ddof=0).sum() / (k - 1)
        conger_chance = chance - spread
        with np.errstate(invalid="ignore", divide="ignore"):
            kappa_conger = float((observed - conger_chance) / (1.0 - conger_chance))

    randolph_chance = 1.0 / n_categories
    return FleissKappa(
        kappa=float(kappa),
        observed_agreement=observed,
        chance_agreement=chance,
        se0=se0,
        z=float(z),
        p_value=p_value,
        se=se,
        ci=ci,
        ci_method="gwet_t" if ci_method == "gwet" else "bootstrap_percentile",
        alpha=alpha,
        n_cases=int(n_cases),
        n_raters=int(round(n)),
        categories=labels,
        category_kappas=category_kappas,
        kappa_conger=kappa_conger,
        kappa_randolph=float((observed - randolph_chance) / (1.0 - randolph_chance)),
    )


def fleiss_kappa_from_ratings(
    ratings: pd.DataFrame,
    *,
    call_column: str = "call",
    categories: Sequence[Any] | None = None,
    readers: Sequence[str] | None = None,
    alpha: float = 0.05,
    ci_method: str = "gwet",
    n_boot: int = 2000,
    seed: int = 0,
) -> FleissKappa:
    """Fleiss' kappa from a long table (``case``, ``reader``, calls); adds Conger's exact kappa."""
    table = rating_table(ratings, call_column=call_column, categories=categories, readers=readers)
    return fleiss_kappa(
        table.counts(),
        categories=table.categories,
        alpha=alpha,
        ci_method=ci_method,
        n_boot=n_boot,
        seed=seed,
        rater_codes=table.codes,
    )


@dataclass(frozen=True)
class CohenKappa(JsonResult):
    """Cohen's kappa (unweighted, linear or quadratic weights) between two readers.

    Attributes
    ----------
    a, b : str
    kappa : float
        (p_o - p_e) / (1 - p_e) with agreement weights w_ij (1 on the diagonal; linear
        1 - |i-j|/(q-1); quadratic 1 - (i-j)^2/(q-1)^2).
    se : float
        Large-sample SE (Fleiss, Cohen & Everitt 1969), used for the interval.
    se0 : float
        SE under H0 kappa = 0 (same paper), used for the z test.
    z, p_value : float
    ci : tuple of float
        kappa +/- z_{1-alpha/2} se, clipped to [-1, 1].
    weights : str
    n_cases : int
    categories : list of str
    """

    a: str
    b: str
    kappa: float
    se: float
    se0: float
    z: float
    p_value: float
    ci: tuple[float, float]
    weights: str
    alpha: float
    n_cases: int
    categories: list[str]

    JSON = (
        "a",
        "b",
        "kappa",
        "weights",
        "se",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        "se0",
        "z",
        "p_value",
        "n_cases",
        "categories",
    )


def _agreement_weights(n_categories: int, weights: str | None) -> np.ndarray:
    index = np.arange(n_categories)
    distance = np.abs(index[:, None] - index[None, :]) / max(n_categories - 1, 1)
    if weights in (None, "none", "unweighted"):
        return np.eye(n_categories)
    if weights == "linear":
        return 1.0 - distance
    if weights == "quadratic":
        return 1.0 - distance**2
    raise AnalysisInputError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def _cohen_from_table(
    table: np.ndarray, weights: str | None, alpha: float
) -> tuple[float, float, float, float, float, tuple[float, float]]:
    total = table.sum()
    w = _agreement_weights(table.shape[0], weights)
    p = table / total
    rows = p.sum(axis=1)
    columns = p.sum(axis=0)
    observed = float((w * p).sum())
    expected = float((w * np.outer(rows, columns)).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - expected) / (1.0 - expected)
        row_weight = w @ columns  # w-bar_i. = sum_j p_.j w_ij
        column_weight = rows @ w  # w-bar_.j = sum_i p_i. w_ij
        spread = row_weight[:, None] + column_weight[None, :]
        variance = (
            (p * (w - spread * (1.0 - kappa)) ** 2).sum() - (kappa - expected * (1.0 - kappa)) ** 2
        ) / (total * (1.0 - expected) ** 2)
        variance0 = ((np.outer(rows, columns) * (w - spread) ** 2).sum() - expected**2) / (
            total * (1.0 - expected) ** 2
        )
        se = float(np.sqrt(variance)) if variance >= 0 else float("nan")
        se0 = float(np.sqrt(variance0)) if variance0 >= 0 else float("nan")
        z = float(kappa / se0) if se0 > 0 else float("nan")
    p_value = float(2.0 * norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    half_width = normal_quantile(alpha) * se
    ci = (
        (float(max(-1.0, kappa - half_width)), float(min(1.0, kappa + half_width)))
        if np.isfinite(se)
        else (float("nan"), float("nan"))
    )
    return float(kappa), se, se0, z, p_value, ci


def cohen_kappa(
    calls_a: LabelsLike,
    calls_b: LabelsLike,
    *,
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    alpha: float = 0.05,
    names: tuple[str, str] = ("a", "b"),
) -> CohenKappa:
    """Cohen's kappa of two readers' calls on the same cases, optionally weighted.

    Categories are ordered as given, else 3-way calls by severity, numbers numerically, text
    alphabetically; weights use that order. Without ``categories`` the scale is the categories
    these two call lists use, as ``sklearn.metrics.cohen_kappa_score(a, b, weights=...)`` without
    ``labels`` and R irr's ``kappa2``; with ``categories`` it equals ``cohen_kappa_score(a, b,
    labels=categories, weights=...)``. Kappa, SE and null SE equal
    ``statsmodels.stats.inter_rater.cohens_kappa`` on the same table (Cohen 1960; weighted:
    Cohen 1968; SEs: Fleiss, Cohen & Everitt 1969). Unweighted kappa does not depend on unused
    categories; weighted kappa does (the weight of a disagreement is its distance on the scale).
    """
    alpha = check_alpha(alpha)
    first = [_label(value) for value in calls_a]
    second = [_label(value) for value in calls_b]
    if len(first) != len(second):
        raise AnalysisInputError(
            f"{len(first)} calls for {names[0]!r} but {len(second)} for {names[1]!r}"
        )
    if not first:
        raise AnalysisInputError("no calls to compare")
    category_list = (
        [_label(category) for category in categories]
        if categories is not None
        else _category_order(first + second)
    )
    lookup = {label: index for index, label in enumerate(category_list)}
    for name, values in zip(names, (first, second), strict=True):
        unknown = [value for value in values if value not in lookup]
        if unknown:
            raise AnalysisInputError(
                f"{name!r}: call {unknown[0]!r} is not one of the categories {category_list}"
            )
    q = len(category_list)
    table = np.zeros((q, q))
    np.add.at(table, ([lookup[v] for v in first], [lookup[v] for v in second]), 1.0)
    kappa, se, se0, z, p_value, ci = _cohen_from_table(table, weights, alpha)
    return CohenKappa(
        a=str(names[0]),
        b=str(names[1]),
        kappa=kappa,
        se=se,
        se0=se0,
        z=z,
        p_value=p_value,
        ci=ci,
        weights=weights or "unweighted",
        alpha=alpha,
        n_cases=len(first),
        categories=category_list,
    )


def pairwise_cohen_kappa(
    ratings: pd.DataFrame,
    *,
    call_column: str = "call",
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    readers: Sequence[str] | None = None,
    alpha: float = 0.05,
    category_scale: str = "table",
) -> list[CohenKappa]:
    """Cohen's kappa for every pair of readers (on the cases all readers rated).

    Parameters
    ----------
    ratings : DataFrame
        Long table with ``case``, ``reader`` and ``call_column``.
    call_column : str
        Column of the calls.
    weights : {None, "linear", "quadratic"}
        Disagreement weights (Cohen 1968) on the ordered category scale.
    categories : sequence, optional
        The category scale, in order (default: every category any reader used; 3-way calls are
        always benign / metastasis / ene).
    readers : sequence of str, optional
        Readers to include (default: all).
    alpha : float
        1 - confidence level of the intervals.
    category_scale : {"table", "pair"}
        Which categories a pair's weighted kappa is computed on. ``"table"`` (default): the whole
        table's scale (``categories``), the same for every pair, so that a benign-vs-ENE
        disagreement weighs the same in every pair and pairwise kappas are comparable; this equals
        ``sklearn.metrics.cohen_kappa_score(a, b, labels=categories, weights=...)``. ``"pair"``:
        the categories the two readers used, as irr's ``kappa2`` and ``cohen_kappa_score``
        without ``labels``; a pair that never used the middle category then gets different
        weights. Unweighted kappa is the same either way.

    Returns
    -------
    list of CohenKappa
        One per pair, in reader order: kappa, SE, null SE, z, p, CI (see :func:`cohen_kappa`).
    """
    if category_scale not in ("table", "pair"):
        raise AnalysisInputError(
            f"category_scale must be 'table' or 'pair', not {category_scale!r}"
        )
    table = rating_table(ratings, call_column=call_column, categories=categories, readers=readers)
    results = []
    for first, second in combinations(range(len(table.readers)), 2):
        calls_first = [table.categories[c] for c in table.codes[:, first]]
        calls_second = [table.categories[c] for c in table.codes[:, second]]
        if category_scale == "table":
            scale: list[str] | None = table.categories
        else:
            used = set(calls_first) | set(calls_second)
            scale = [category for category in table.categories if category in used]
        results.append(
            cohen_kappa(
                calls_first,
                calls_second,
                weights=weights,
                categories=scale,
                alpha=alpha,
                names=(table.readers[first], table.readers[second]),
            )
        )
    return results


@dataclass(frozen=True)
class ConfusionMatrix(JsonResult):
    """Reference (rows) x call (columns) counts for one reader or model.

    Attributes
    ----------
    reader : str
    labels : list of str
        Category labels, row and column order.
    matrix : ndarray of int, shape (q, q)
        ``matrix[i, j]`` = cases with reference ``labels[i]`` called ``labels[j]``.
    """

    reader: str
    labels: list[str]
    matrix: np.ndarray

    @property
    def accuracy(self) -> float:
        """Fraction of cases on the diagonal."""
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    JSON = (
        "reader",
        "labels",
        ("rows", constant("reference")),
        ("columns", constant("call")),
        ("matrix", lambda self: self.matrix.astype(int).tolist()),
        "accuracy",
    )


def confusion_matrix(
    calls: LabelsLike,
    reference: LabelsLike,
    *,
    labels: Sequence[Any] = THREE_WAY_LABELS,
    reader: str = "",
) -> ConfusionMatrix:
    """Reference x call confusion matrix (3x3 for benign / metastasis / ENE by default).

    3-way calls are accepted as codes 0/1/2 or as ``benign`` / ``metastasis`` / ``ene``; with other
    ``labels`` values are matched as text.
    """
    label_list = [_label(label) for label in labels]
    three_way = [label.lower() for label in label_list] == list(THREE_WAY_LABELS)

    seen: dict[tuple[type, Any], int] = {}

    def index_of(value: Any, what: str) -> int:
        # Calls repeat over thousands of nodes: each distinct value (of its type) is looked up once.
        key = (value.__class__, value)
        if key not in seen:
            seen[key] = _index_of(value, what)
        return seen[key]

    def _index_of(value: Any, what: str) -> int:
        text = _label(value)
        if three_way and text.lower() in CALL_CODES:
            return CALL_CODES[text.lower()]
        if text in label_list:
            return label_list.index(text)
        raise AnalysisInputError(f"{what} {text!r} is not one of {label_list}")

    call_list = list(calls)
    reference_list = list(reference)
    if len(call_list) != len(reference_list):
        raise AnalysisInputError(
            f"{len(call_list)} calls but {len(reference_list)} reference values"
        )
    q = len(label_list)
    matrix = np.zeros((q, q), dtype=int)
    for call, truth in zip(call_list, reference_list, strict=True):
        matrix[index_of(truth, "reference"), index_of(call, "call")] += 1
    return ConfusionMatrix(reader=reader, labels=label_list, matrix=matrix)


def confusion_matrices(
    ratings: pd.DataFrame,
    *,
    call_column: str = "call",
    reference_column: str = "reference",
    labels: Sequence[Any] = THREE_WAY_LABELS,
) -> list[ConfusionMatrix]:
    """One confusion matrix per reader of a long table with calls and the 3-way reference."""
    frame = load_ratings(ratings)
    for column in ("reader", call_column, reference_column):
        if column not in frame.columns:
            raise AnalysisInputError(f"missing column {column!r}; found {list(frame.columns)}")
    results = []
    for reader, group in frame.groupby("reader", sort=False):
        rows = group[group[call_column].notna()]
        if rows.empty:
            continue
        results.append(
            confusion_matrix(
                rows[call_column].tolist(),
                rows[reference_column].tolist(),
                labels=labels,
                reader=_label(reader),
            )
        )
    return results
