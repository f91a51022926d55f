"""Patient and lymph-node characteristics tables (seed 001, Tables 1-2) with group comparisons.

:func:`characteristics_table` summarises categorical variables as counts and percentages and
continuous variables as mean +- SD and median [IQR] per group (e.g. per data set), with a
p-value comparing the groups:

Categorical (levels x groups contingency table of non-missing values)
    Pearson chi-square test (``scipy.stats.chi2_contingency``); Yates' continuity correction is
    applied to 2 x 2 tables only (as R's ``chisq.test`` and SciPy by default; switch off with
    ``yates=False``). When an expected count is < 5 (``fisher="auto"``, the rule of seed 001:
    "Pearson chi-square test or Fisher exact test") Fisher's exact test is used instead:
    2 x 2 with ``scipy.stats.fisher_exact``; larger tables exactly, by enumerating all tables
    with the observed margins (Freeman-Halton; two-sided p = sum of the probabilities of
    tables no more likely than the observed one, relative tolerance 1e-7 as R's
    ``fisher.test``), or, when there are more than ``fisher_max_tables`` such tables, by a
    Monte Carlo estimate from ``fisher_mc_samples`` random tables with fixed seed (as R's
    ``simulate.p.value``); the test name says which.
Continuous
    Two groups: Student's t test (equal variances; seed 001 says Student) or Welch's
    (``t_test="welch"``); variables listed in ``nonparametric``: Mann-Whitney U test (two-sided;
    exact when both groups have < 50 values and there are no ties, else normal approximation
    with tie and continuity correction, as R's ``wilcox.test``). More than two groups: one-way
    ANOVA, or Kruskal-Wallis for ``nonparametric`` variables.

Percentages are of the non-missing values of each group; missing values are counted in a
``Missing`` row and left out of the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from analysis._jsonable import show_value as _show

from ._jsonable import JsonResult
from ._types import TableLike
from .errors import AnalysisInputError

__all__ = [
    "CharacteristicsTable",
    "characteristics_table",
    "fisher_exact_rxc",
]


def _row_label(frame: pd.DataFrame, index: Any) -> str:
    """Data row number (1-based, header excluded) for a default index, else the index label."""
    if isinstance(frame.index, pd.RangeIndex):
        return f"data row {frame.index.get_loc(index) + 1}"  # as analysis.data names rows
    return f"row with index {_show(index)}"


# --------------------------------------------------------------------------------------------
# Fisher's exact test for r x c tables
# --------------------------------------------------------------------------------------------


class _TooManyTables(Exception):
    pass


def _compositions(total: int, caps: np.ndarray) -> np.ndarray:
    """All vectors v with 0 <= v <= caps and sum(v) == total, as rows of an int array."""
    parts = np.zeros((1, 0), dtype=int)
    sums = np.zeros(1, dtype=int)
    caps = np.asarray(caps, dtype=int)
    for i, cap in enumerate(caps):
        rest = int(caps[i + 1 :].sum())
        lo = np.maximum(0, total - sums - rest)
        hi = np.minimum(cap, total - sums)
        counts = np.maximum(hi - lo + 1, 0)
        idx = np.repeat(np.arange(len(parts)), counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        values = lo[idx] + offsets
        parts = np.column_stack([parts[idx], values])
        sums = sums[idx] + values
    return parts


def _last_two_columns_log_factorials(
    total: int, remaining: np.ndarray, acc: np.ndarray, log_fact: np.ndarray
) -> np.ndarray:
    """Sum of log cell factorials of every completion of B partial tables, vectorised.

    The tables' last two columns are open: ``remaining`` (B, r) holds each table's row totals
    left for them, ``total`` the last-but-one column's total, ``acc`` (B,) the log-factorial sum
    of the cells filled so far. Each completion is a composition v of ``total`` with
    0 <= v <= remaining (the last column is then remaining - v); the result holds, per
    completion, acc + sum(log v_i!) + sum(log (remaining_i - v_i)!). The compositions are never
    stored, only these running sums: the enumeration can run to tens of millions of tables.
    """
    n_rows = remaining.shape[1]
    rest_after = remaining[:, ::-1].cumsum(axis=1)[:, ::-1]  # rest_after[:, i] = sum from i on
    owner = np.arange(remaining.shape[0])
    sums = np.zeros(remaining.shape[0], dtype=int)
    logacc = np.asarray(acc, dtype=float)
    for i in range(n_rows - 1):
        rest = rest_after[owner, i + 1]
        cap = remaining[owner, i]
        lo = np.maximum(0, total - sums - rest)
        hi = np.minimum(cap, total - sums)
        counts = np.maximum(hi - lo + 1, 0)
        idx = np.repeat(np.arange(len(owner)), counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        values = lo[idx] + offsets
        owner = owner[idx]
        sums = sums[idx] + values
        logacc = logacc[idx] + log_fact[values] + log_fact[cap[idx] - values]
    # The last row's cell is what is left of the column total: keep it where it fits.
    cap = remaining[owner, n_rows - 1]
    values = total - sums
    fits = (values >= 0) & (values <= cap)
    return (
        logacc + log_fact[np.where(fits, values, 0)] + log_fact[np.where(fits, cap - values, 0)]
    )[fits]


def fisher_exact_rxc(
    table: TableLike,
    *,
    max_tables: int = 20_000_000,
    mc_samples: int = 100_000,
    seed: int = 20240601,
) -> tuple[float, str]:
    """Two-sided Fisher(-Freeman-Halton) exact test of independence for an r x c table.

    p = sum of P(T) over all tables T with the observed margins and P(T) <= P(observed)
    (1 + 1e-7), P the multivariate hypergeometric probability (Freeman GH, Halton JH.
    Biometrika 1951;38:141-149), as R's ``fisher.test``. When more than ``max_tables`` tables
    would have to be enumerated, a Monte Carlo estimate from ``mc_samples`` tables drawn with
    the margins fixed (``scipy.stats.random_table``, fixed seed) is returned instead, counting
    the observed table as R's ``simulate.p.value`` does: (1 + #{P(T) <= P(obs)}) / (B + 1).

    Parameters
    ----------
    table : array of non-negative ints, shape (r, c)
    max_tables, mc_samples, seed : int

    Returns
    -------
    p_value : float
    method : str
        ``exact`` or ``monte carlo (B tables)``.
    """
    table = np.asarray(table)
    if table.ndim != 2 or (table < 0).any() or not np.all(np.equal(np.mod(table, 1), 0)):
        raise AnalysisInputError(f"not a contingency table of counts: {table.tolist()}")
    table = table.astype(int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return 1.0, "exact"
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    total = int(rows.sum())
    const = gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(total + 1)
    observed = const - gammaln(table + 1).sum()
    # P(T) <= P(observed) * (1 + 1e-7), on the log scale
    limit = observed + math.log1p(1e-7)
    log_fact = gammaln(np.arange(total + 1) + 1)
    # put the column with most compositions last (it is vectorised with the last-but-one)
    order = np.argsort(cols)
    cols = cols[order]
    count = 0
    p_sum = 0.0

    def add_last_columns(remaining: np.ndarray, acc: np.ndarray) -> None:
        """Add P(T) <= P(observed) of every completion of B partial tables (two columns open)."""
        nonlocal count, p_sum
        logacc = _last_two_columns_log_factorials(int(cols[-2]), remaining, acc, log_fact)
        count += len(logacc)
        if count > max_tables:
            raise _TooManyTables
        logp = const - logacc
        p_sum += float(np.exp(logp[logp <= limit]).sum())

    def recurse(j: int, remaining: np.ndarray, acc: float) -> None:
        options = _compositions(int(cols[j]), remaining)
        if j == len(cols) - 3:
            # The last three columns at once: this column's options in chunks (bounded memory).
            for start in range(0, len(options), 256):
                chunk = options[start : start + 256]
                add_last_columns(remaining[None, :] - chunk, acc + log_fact[chunk].sum(axis=1))
            return
        for vec in options:
            recurse(j + 1, remaining - vec, acc + log_fact[vec].sum())

    try:
        if len(cols) == 2:
            add_last_columns(rows[None, :].copy(), np.zeros(1))
        else:
            recurse(0, rows.copy(), 0.0)
        return min(1.0, p_sum), "exact"
    except _TooManyTables:
        pass
    rng = np.random.default_rng(seed)
    draws = stats.random_table(rows, cols).rvs(size=mc_samples, random_state=rng)
    logp = const - gammaln(draws + 1).sum(axis=(1, 2))
    extreme = int(np.sum(logp <= limit))
    return (1 + extreme) / (mc_samples + 1), f"monte carlo ({mc_samples} tables)"


# --------------------------------------------------------------------------------------------
# table
# --------------------------------------------------------------------------------------------


@dataclass
class CharacteristicsTable(JsonResult):
    """Characteristics per group with between-group tests.

    Attributes
    ----------
    group : str
        The grouping column.
    groups : list of str
        Group labels in output order.
    group_sizes : dict
        Rows (or units, with ``unique_by``) per group.
    rows : list of dict
        One entry per variable header, level, ``Missing`` row and continuous variable:
        ``variable``, ``level`` (None for headers and continuous variables), ``kind``
        (``categorical`` / ``continuous``), ``cells`` ({group: {...}}: for categorical levels
        ``n`` and ``percent``; for continuous ``n``, ``mean``, ``sd``, ``median``, ``q1``,
        ``q3``, ``min``, ``max``; for ``Missing`` rows ``n``), ``overall`` (same, all groups
        pooled, when requested), ``test``, ``statistic``, ``p_value`` (on the header row of a
        categorical variable and on the continuous variable's row).
    """

    group: str
    groups: list[str]
    group_sizes: dict[str, int]
    overall: bool
    rows: list[dict[str, Any]]
    percent_decimals: int = 1
    decimals: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    nonparametric: list[str] = field(default_factory=list)

    JSON = (
        "group",
        "groups",
        "group_sizes",
        "rows",
    )

    def _cell_text(self, row: dict[str, Any], cell: dict[str, Any] | None) -> str:
        if cell is None:
            return ""
        if row["kind"] == "categorical" or row["level"] == "Missing":
            if row["level"] is None:
                return ""
            if row["level"] == "Missing":
                return str(cell["n"])
            percent = cell["percent"]
            shown = "NA" if percent is None else f"{percent:.{self.percent_decimals}f}"
            return f"{cell['n']} ({shown})"
        if cell["n"] == 0:
            return "NA"
        d = self.decimals
        if row["variable"] in self.nonparametric:
            return f"{cell['median']:.{d}f} [{cell['q1']:.{d}f}, {cell['q3']:.{d}f}]"
        sd = "NA" if cell["sd"] is None else f"{cell['sd']:.{d}f}"
        return f"{cell['mean']:.{d}f} ± {sd}"

    def to_frame(self) -> pd.DataFrame:
        """Display table: ``Characteristic``, one column per group (``name (n = N)``),
        ``Overall`` when requested, ``P value`` and ``Test``."""
        headers = [f"{g} (n = {self.group_sizes[g]})" for g in self.groups]
        records = []
        for row in self.rows:
            label = self.labels.get(row["variable"], row["variable"])
            if row["level"] is not None:
                name = f"  {row['level']}"
            elif row["kind"] == "continuous":
                suffix = (
                    ", median [IQR]" if row["variable"] in self.nonparametric else ", mean ± SD"
                )
                name = f"{label}{suffix}"
            else:
                name = label
            record = {"Characteristic": name}
            if self.overall:
                total = sum(self.group_sizes.values())
                record[f"Overall (n = {total})"] = self._cell_text(row, row.get("overall"))
            for g, header in zip(self.groups, headers, strict=True):
                record[header] = self._cell_text(row, row["cells"].get(g))
            record["P value"] = _format_p(row.get("p_value"))
            record["Test"] = row.get("test") or ""
            records.append(record)
        return pd.DataFrame.from_records(records)

    def to_markdown(self) -> str:
        """GitHub-flavoured markdown of :meth:`to_frame`."""
        frame = self.to_frame()
        columns = list(frame.columns)

        def esc(text: object) -> str:
            return str(text).replace("|", "\\|")

        lines = [
            "| " + " | ".join(esc(c) for c in columns) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(columns) - 2) + ["---"]) + "|",
        ]
        for record in frame.itertuples(index=False):
            lines.append("| " + " | ".join(esc(value) for value in record) + " |")
        return "\n".join(lines) + "\n"


def _format_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return ""
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def _continuous_summary(values: np.ndarray) -> dict[str, Any]:
    n = len(values)
    if n == 0:
        return {k: None for k in ("mean", "sd", "median", "q1", "q3", "min", "max")} | {"n": 0}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "n": n,
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if n > 1 else None,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _categorical_test(
    table: np.ndarray, *, fisher: str, yates: bool, max_tables: int, mc_samples: int
) -> tuple[str | None, float | None, float | None]:
    """(test name, statistic, p) for a levels x groups table; None when not testable."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None, None, None
    expected = stats.contingency.expected_freq(table)
    use_fisher = fisher == "always" or (fisher == "auto" and bool((expected < 5).any()))
    if use_fisher:
        if table.shape == (2, 2):
            result = stats.fisher_exact(table)
            return "Fisher exact", None, float(result.pvalue)
        p, method = fisher_exact_rxc(table, max_tables=max_tables, mc_samples=mc_samples)
        name = "Fisher exact" if method == "exact" else f"Fisher exact, {method}"
        return name, None, float(p)
    correct = yates and table.shape == (2, 2)
    statistic, p, dof, _ = stats.chi2_contingency(table, correction=correct)
    name = "Pearson chi-square" + (" (Yates)" if correct else "")
    return name, float(statistic), float(p)


def _continuous_test(
    samples: list[np.ndarray], *, nonparametric: bool, t_test: str
) -> tuple[str | None, float | None, float | None]:
    samples = [s for s in samples if len(s) > 0]
    if len(samples) < 2 or (any(len(s) < 2 for s in samples) and not nonparametric):
        return None, None, None
    if len(samples) == 2:
        a, b = samples
        if nonparametric:
            ties = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
            exact = len(a) < 50 and len(b) < 50 and not ties
            result = stats.mannwhitneyu(
                a,
                b,
                alternative="two-sided",
                method="exact" if exact else "asymptotic",
                use_continuity=True,
            )
            return "Mann-Whitney U", float(result.statistic), float(result.pvalue)
        equal = t_test == "student"
        if np.ptp(np.concatenate([a, b])) == 0:
            return None, None, None
        result = stats.ttest_ind(a, b, equal_var=equal)
        return ("Student t" if equal else "Welch t"), float(result.statistic), float(result.pvalue)
    if nonparametric:
        if np.ptp(np.concatenate(samples)) == 0:
            return None, None, None
        result = stats.kruskal(*samples)
        return "Kruskal-Wallis", float(result.statistic), float(result.pvalue)
    if np.ptp(np.concatenate(samples)) == 0:
        return None, None, None
    result = stats.f_oneway(*samples)
    return "one-way ANOVA", float(result.statistic), float(result.pvalue)


def characteristics_table(
    df: pd.DataFrame,
    *,
    group: str,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    nonparametric: Sequence[str] = (),
    t_test: str = "student",
    fisher: str = "auto",
    yates: bool = True,
    overall: bool = False,
    unique_by: str | None = None,
    group_order: Sequence[str] | None = None,
    level_order: Mapping[str, Sequence[Any]] | None = None,
    labels: Mapping[str, str] | None = None,
    percent_decimals: int = 1,
    decimals: int = 1,
    fisher_max_tables: int = 20_000_000,
    fisher_mc_samples: int = 100_000,
) -> CharacteristicsTable:
    """Characteristics table (counts, percentages, mean +- SD, median [IQR]) with p-values.

    Tests (see the module docstring for details): categorical variables by Pearson
    chi-square (Yates for 2 x 2 only) or Fisher's exact test when an expected count is < 5;
    continuous variables by Student's (or Welch's) t test or Mann-Whitney U for two groups,
    one-way ANOVA or Kruskal-Wallis for more.

    Parameters
    ----------
    df : DataFrame
        One row per unit (patient or lymph node).
    group : str
        Column defining the groups compared (e.g. data set, or benign / malignant).
    categorical, continuous : sequence of str
        Columns summarised as counts (%) and as mean +- SD / median [IQR].
    nonparametric : sequence of str
        Continuous columns shown as median [IQR] and tested with Mann-Whitney U /
        Kruskal-Wallis.
    t_test : {"student", "welch"}
        Two-group t test for the other continuous columns.
    fisher : {"auto", "always", "never"}
        When to use Fisher's exact test instead of chi-square (``auto``: an expected count < 5).
    yates : bool
        Continuity correction of the chi-square test of 2 x 2 tables.
    overall : bool
        Add an ``Overall`` column (all groups pooled).
    unique_by : str, optional
        Count each value of this column once (e.g. ``patient_id`` to describe patients from a
        node-level table). Every summarised column must then be constant within a unit.
    group_order : sequence, optional
        Order of the groups (default: sorted).
    level_order : mapping, optional
        Order of the levels of categorical columns (default: sorted); levels listed but absent
        are shown with 0.
    labels : mapping, optional
        Display names of the columns.
    percent_decimals, decimals : int
        Decimals of percentages and of continuous summaries in the display table.
    fisher_max_tables, fisher_mc_samples : int
        Limits of the exact r x c Fisher test (see :func:`fisher_exact_rxc`).

    Returns
    -------
    CharacteristicsTable
        ``.to_frame()``, ``.to_dict()``, ``.to_markdown()``.

    Raises
    ------
    AnalysisInputError
        A missing column (named), a non-numeric value in a continuous column (column, row and
        value named), fewer than two groups, bad options, or a column that is not constant
        within a ``unique_by`` unit.
    """
    if not isinstance(df, pd.DataFrame):
        raise AnalysisInputError(f"expected a DataFrame, got {type(df).__name__}")
    if t_test not in ("student", "welch"):
        raise AnalysisInputError(f"t_test must be 'student' or 'welch', got {t_test!r}")
    if fisher not in ("auto", "always", "never"):
        raise AnalysisInputError(f"fisher must be 'auto', 'always' or 'never', got {fisher!r}")
    categorical = list(categorical)
    continuous = list(continuous)
    nonparametric = list(nonparametric)
    wanted = [group, *categorical, *continuous] + ([unique_by] if unique_by else [])
    missing = [column for column in dict.fromkeys(wanted) if column not in df.columns]
    if missing:
        raise AnalysisInputError(f"column(s) {missing} not found; columns are {list(df.columns)}")
    stray = [column for column in nonparametric if column not in continuous]
    if stray:
        raise AnalysisInputError(
            f"nonparametric column(s) {stray} are not listed in continuous={continuous}"
        )
    both = set(categorical) & set(continuous)
    if both:
        raise AnalysisInputError(f"column(s) {sorted(both)} listed as categorical and continuous")
    frame = df.copy()
    if frame[group].isna().any():
        index = frame.index[frame[group].isna()][0]
        raise AnalysisInputError(f"column {group!r}: missing group at {_row_label(frame, index)}")
    frame[group] = frame[group].astype(str)
    if unique_by is not None:
        for column in [group, *categorical, *continuous]:
            per_unit = frame.groupby(unique_by, dropna=False)[column].nunique(dropna=False)
            varying = per_unit[per_unit > 1]
            if len(varying):
                raise AnalysisInputError(
                    f"column {column!r} is not constant within {unique_by!r} "
                    f"{_show(varying.index[0])} (counting each {unique_by} once needs one value per "
                    f"unit; {len(varying)} such units)"
                )
        frame = frame.drop_duplicates(subset=[unique_by])
    for column in continuous:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            index = frame.index[bad][0]
            raise AnalysisInputError(
                f"column {column!r}: {_show(frame.at[index, column])} at {_row_label(frame, index)} is not a "
                "number"
            )
        frame[column] = converted.astype(float)
    present = sorted(pd.unique(frame[group]))
    if group_order is not None:
        order = [str(g) for g in group_order]
        unknown = [g for g in order if g not in present]
        if unknown:
            raise AnalysisInputError(f"group(s) {unknown} not found in {group!r}; found {present}")
        groups = order + [g for g in present if g not in order]
    else:
        groups = present
    if len(groups) < 2:
        raise AnalysisInputError(
            f"column {group!r} has only {len(groups)} group(s) {groups}; need two or more to compare"
        )
    sizes = {g: int((frame[group] == g).sum()) for g in groups}
    rows: list[dict[str, Any]] = []
    level_order = dict(level_order or {})
    for column in categorical:
        values = frame[column]
        observed = [v for v in pd.unique(values.dropna())]
        if column in level_order:
            levels = list(level_order[column]) + [
                v for v in sorted(observed, key=str) if v not in list(level_order[column])
            ]
        else:
            try:
                levels = sorted(observed)
            except TypeError:
                levels = sorted(observed, key=str)
        counts = np.array(
            [
                [int(((frame[group] == g) & (values == level)).sum()) for g in groups]
                for level in levels
            ],
            dtype=int,
        ).reshape(len(levels), len(groups))
        test, statistic, p = _categorical_test(
            counts,
            fisher=fisher,
            yates=yates,
            max_tables=fisher_max_tables,
            mc_samples=fisher_mc_samples,
        )
        non_missing = counts.sum(axis=0)
        rows.append(
            {
                "variable": column,
                "level": None,
                "kind": "categorical",
                "cells": {},
                "overall": None,
                "test": test,
                "statistic": statistic,
                "p_value": p,
            }
        )
        for li, level in enumerate(levels):
            cells = {
                g: {
                    "n": int(counts[li, gi]),
                    "percent": 100 * counts[li, gi] / non_missing[gi] if non_missing[gi] else None,
                }
                for gi, g in enumerate(groups)
            }
            total = int(non_missing.sum())
            rows.append(
                {
                    "variable": column,
                    "level": str(level),
                    "kind": "categorical",
                    "cells": cells,
                    "overall": {
                        "n": int(counts[li].sum()),
                        "percent": 100 * counts[li].sum() / total if total else None,
                    },
                    "test": None,
                    "statistic": None,
                    "p_value": None,
                }
            )
        n_missing = {g: int(((frame[group] == g) & values.isna()).sum()) for g in groups}
        if any(n_missing.values()):
            rows.append(
                {
                    "variable": column,
                    "level": "Missing",
                    "kind": "categorical",
                    "cells": {g: {"n": n_missing[g]} for g in groups},
                    "overall": {"n": sum(n_missing.values())},
                    "test": None,
                    "statistic": None,
                    "p_value": None,
                }
            )
    for column in continuous:
        samples = [frame.loc[frame[group] == g, column].dropna().to_numpy(float) for g in groups]
        test, statistic, p = _continuous_test(
            samples, nonparametric=column in nonparametric, t_test=t_test
        )
        rows.append(
            {
                "variable": column,
                "level": None,
                "kind": "continuous",
                "cells": {g: _continuous_summary(s) for g, s in zip(groups, samples, strict=True)},
                "overall": _continuous_summary(frame[column].dropna().to_numpy(float)),
                "test": test,
                "statistic": statistic,
                "p_value": p,
            }
        )
        n_missing = {g: int(((frame[group] == g) & frame[column].isna()).sum()) for g in groups}
        if any(n_missing.values()):
            rows.append(
                {
                    "variable": column,
                    "level": "Missing",
                    "kind": "continuous",
                    "cells": {g: {"n": n_missing[g]} for g in groups},
                    "overall": {"n": sum(n_missing.values())},
                    "test": None,
                    "statistic": None,
                    "p_value": None,
                }
            )
    return CharacteristicsTable(
        group=group,
        groups=groups,
        group_sizes=sizes,
        overall=overall,
        rows=rows,
        percent_decimals=percent_decimals,
        decimals=decimals,
        labels=dict(labels or {}),
        nonparametric=nonparametric,
    )
