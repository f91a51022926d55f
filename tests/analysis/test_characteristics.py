"""Tests of analysis.characteristics (Tables 1-2 of seed 001).

Anchors: examples from R's documentation with their printed results (R 4.x ``?chisq.test``,
``?t.test`` on the ``sleep`` data, ``?wilcox.test``, ``?fisher.test``), SciPy, and brute-force
enumeration of contingency tables.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # allow `pytest -p no:django`
    sys.path.insert(0, str(REPO_ROOT))

from analysis.characteristics import characteristics_table, fisher_exact_rxc  # noqa: E402
from analysis.errors import AnalysisInputError  # noqa: E402


def long_from_table(table: np.ndarray, groups: list[str], levels: list[str], column="var"):
    rows = []
    for li, level in enumerate(levels):
        for gi, group in enumerate(groups):
            rows += [{"group": group, column: level}] * int(table[li, gi])
    return pd.DataFrame(rows)


def brute_fisher(table: np.ndarray) -> float:
    """Enumerate every table with the same margins (itertools, no shared code)."""
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    total = rows.sum()

    def logp(t):
        return (
            gammaln(rows + 1).sum()
            + gammaln(cols + 1).sum()
            - gammaln(total + 1)
            - gammaln(np.asarray(t) + 1).sum()
        )

    observed = logp(table)
    r, c = table.shape
    p = 0.0
    free = [range(min(rows[i], cols[j]) + 1) for i in range(r - 1) for j in range(c - 1)]
    for cells in itertools.product(*free):
        t = np.zeros((r, c), int)
        t[: r - 1, : c - 1] = np.reshape(cells, (r - 1, c - 1))
        t[: r - 1, c - 1] = rows[: r - 1] - t[: r - 1, : c - 1].sum(axis=1)
        t[r - 1, :] = cols - t[: r - 1, :].sum(axis=0)
        if (t < 0).any() or t[r - 1].sum() != rows[r - 1]:
            continue
        lp = logp(t)
        if lp <= observed + 1e-7:
            p += math.exp(lp)
    return p


# --------------------------------------------------------------------------------------------
# categorical tests
# --------------------------------------------------------------------------------------------


def test_chi_square_r_example():
    """R ``?chisq.test``: M <- as.table(rbind(c(762, 327, 468), c(484, 239, 477))) gives
    X-squared = 30.07, df = 2, p-value = 2.954e-07 (Agresti 2007, p. 39)."""
    table = np.array([[762, 327, 468], [484, 239, 477]]).T  # levels x groups
    frame = long_from_table(table, ["F", "M"], ["Democrat", "Independent", "Republican"])
    res = characteristics_table(frame, group="group", categorical=["var"])
    header = res.rows[0]
    assert header["test"] == "Pearson chi-square"
    assert header["statistic"] == pytest.approx(30.07, abs=0.005)
    assert header["p_value"] == pytest.approx(2.954e-07, abs=5e-11)


def test_chi_square_2x2_yates_and_uncorrected():
    table = np.array([[30, 20], [15, 35]])
    frame = long_from_table(table, ["a", "b"], ["x", "y"])
    corrected = characteristics_table(frame, group="group", categorical=["var"]).rows[0]
    plain = characteristics_table(frame, group="group", categorical=["var"], yates=False).rows[0]
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    x2 = ((table - expected) ** 2 / expected).sum()
    x2_yates = ((np.abs(table - expected) - 0.5) ** 2 / expected).sum()
    assert plain["statistic"] == pytest.approx(x2, rel=1e-12)
    assert plain["p_value"] == pytest.approx(stats.chi2.sf(x2, 1), rel=1e-12)
    assert corrected["statistic"] == pytest.approx(x2_yates, rel=1e-12)
    assert corrected["test"] == "Pearson chi-square (Yates)"


def test_fisher_used_when_expected_below_five():
    table = np.array([[8, 2], [1, 5]])
    frame = long_from_table(table, ["a", "b"], ["x", "y"])
    header = characteristics_table(frame, group="group", categorical=["var"]).rows[0]
    assert header["test"] == "Fisher exact"
    assert header["p_value"] == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-12)
    forced = characteristics_table(frame, group="group", categorical=["var"], fisher="never").rows[
        0
    ]
    assert forced["test"].startswith("Pearson")


@pytest.mark.parametrize(
    "table",
    [
        [[3, 1, 5], [2, 6, 1]],
        [[0, 3, 2], [4, 1, 1], [2, 2, 5]],
        [[5, 0], [1, 4], [2, 3], [0, 6]],
        [[1, 2, 0, 3], [4, 0, 2, 1]],
    ],
)
def test_fisher_rxc_equals_brute_force(table):
    table = np.asarray(table)
    p, method = fisher_exact_rxc(table)
    assert method == "exact"
    assert p == pytest.approx(brute_fisher(table), rel=1e-10)
    # transposing the table does not change the test
    assert fisher_exact_rxc(table.T)[0] == pytest.approx(p, rel=1e-10)


def test_fisher_rxc_2x2_equals_scipy():
    for table in ([[3, 1], [2, 6]], [[10, 2], [3, 15]], [[0, 5], [5, 0]]):
        assert fisher_exact_rxc(np.array(table))[0] == pytest.approx(
            stats.fisher_exact(table).pvalue, rel=1e-10
        )


def test_fisher_monte_carlo_fallback_is_deterministic_and_close():
    table = np.array([[3, 4, 5], [6, 2, 4], [1, 5, 2]])
    exact, method = fisher_exact_rxc(table)
    assert method == "exact"
    mc1, method1 = fisher_exact_rxc(table, max_tables=10, mc_samples=20_000)
    mc2, _ = fisher_exact_rxc(table, max_tables=10, mc_samples=20_000)
    assert method1.startswith("monte carlo")
    assert mc1 == mc2
    assert mc1 == pytest.approx(exact, abs=0.015)


@pytest.mark.slow
def test_fisher_rxc_r_job_satisfaction():
    """R ``?fisher.test``: Job satisfaction 4 x 4 table, p-value = 0.7827 (exact; > 20 million
    tables, several seconds)."""
    job = np.array([[1, 2, 1, 0], [3, 3, 6, 1], [10, 10, 14, 9], [6, 7, 12, 11]])
    p, method = fisher_exact_rxc(job, max_tables=10**9)
    assert method == "exact"
    assert p == pytest.approx(0.7827, abs=5e-5)


# --------------------------------------------------------------------------------------------
# continuous tests
# --------------------------------------------------------------------------------------------

SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def sleep_frame():
    return pd.DataFrame(
        {"group": ["1"] * 10 + ["2"] * 10, "extra": SLEEP_1 + SLEEP_2, "sex": ["F", "M"] * 10}
    )


def test_student_and_welch_t_r_sleep():
    """R ``t.test(extra ~ group, data = sleep)``: Welch t = -1.8608, df = 17.776,
    p-value = 0.07939; with var.equal = TRUE: t = -1.8608, df = 18, p-value = 0.07919."""
    student = characteristics_table(sleep_frame(), group="group", continuous=["extra"]).rows[0]
    assert student["test"] == "Student t"
    assert student["statistic"] == pytest.approx(-1.8608, abs=5e-5)
    assert student["p_value"] == pytest.approx(0.07919, abs=5e-6)
    welch = characteristics_table(
        sleep_frame(), group="group", continuous=["extra"], t_test="welch"
    ).rows[0]
    assert welch["test"] == "Welch t"
    assert welch["p_value"] == pytest.approx(0.07939, abs=5e-6)
    cells = student["cells"]
    assert cells["1"]["mean"] == pytest.approx(0.75)
    assert cells["2"]["mean"] == pytest.approx(2.33)
    assert cells["1"]["sd"] == pytest.approx(np.std(SLEEP_1, ddof=1))


def test_mann_whitney_r_example():
    """R ``?wilcox.test``: x <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46),
    y <- c(1.15, 0.88, 0.90, 0.74, 1.21): W = 35, one-sided ("greater") p-value = 0.1272, so
    two-sided p = 0.2544 (exact, no ties)."""
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    frame = pd.DataFrame({"group": ["x"] * 10 + ["y"] * 5, "v": x + y})
    row = characteristics_table(frame, group="group", continuous=["v"], nonparametric=["v"]).rows[0]
    assert row["test"] == "Mann-Whitney U"
    assert row["statistic"] == 35
    assert row["p_value"] == pytest.approx(0.2544, abs=5e-5)
    assert row["cells"]["x"]["median"] == pytest.approx(np.median(x))


def test_mann_whitney_ties_use_normal_approximation():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 30).astype(float)
    b = rng.integers(1, 6, 25).astype(float)
    frame = pd.DataFrame({"group": ["a"] * 30 + ["b"] * 25, "v": np.r_[a, b]})
    row = characteristics_table(frame, group="group", continuous=["v"], nonparametric=["v"]).rows[0]
    expected = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)


def test_three_groups_anova_and_kruskal():
    rng = np.random.default_rng(2)
    samples = [rng.normal(m, 1, 15) for m in (0.0, 0.3, 0.9)]
    frame = pd.DataFrame(
        {
            "group": np.repeat(["a", "b", "c"], 15),
            "v": np.concatenate(samples),
            "w": np.concatenate(samples),
        }
    )
    res = characteristics_table(frame, group="group", continuous=["v", "w"], nonparametric=["w"])
    anova, kruskal = res.rows
    assert anova["test"] == "one-way ANOVA"
    assert anova["p_value"] == pytest.approx(stats.f_oneway(*samples).pvalue, rel=1e-12)
    assert kruskal["test"] == "Kruskal-Wallis"
    assert kruskal["p_value"] == pytest.approx(stats.kruskal(*samples).pvalue, rel=1e-12)


# --------------------------------------------------------------------------------------------
# table layout
# --------------------------------------------------------------------------------------------


def node_table():
    """Node-level table of two cohorts; patient columns repeat on every node of a patient."""
    rows = []
    rng = np.random.default_rng(4)
    for cohort, n_patients in (("internal", 12), ("external", 8)):
        for p in range(n_patients):
            age = float(rng.integers(45, 80))
            sex = "M" if rng.random() < 0.8 else "F"
            site = ["larynx", "hypopharynx"][p % 2]
            for node in range(int(rng.integers(1, 5))):
                rows.append(
                    {
                        "cohort": cohort,
                        "patient": f"{cohort}-{p}",
                        "age": age,
                        "sex": sex,
                        "site": site,
                        "finding": ["benign", "meta", "ene"][(p + node) % 3],
                        "size_cm": round(float(rng.gamma(2, 0.4)), 1),
                    }
                )
    return pd.DataFrame(rows)


def test_counts_percentages_missing_and_unique_by():
    frame = node_table()
    frame.loc[frame.index[0], "finding"] = None
    nodes = characteristics_table(
        frame,
        group="cohort",
        categorical=["finding"],
        continuous=["size_cm"],
        nonparametric=["size_cm"],
        group_order=["internal", "external"],
        overall=True,
    )
    assert nodes.groups == ["internal", "external"]
    assert nodes.group_sizes["internal"] == int((frame.cohort == "internal").sum())
    levels = [row for row in nodes.rows if row["variable"] == "finding" and row["level"]]
    assert [row["level"] for row in levels] == ["benign", "ene", "meta", "Missing"]
    for group in nodes.groups:
        percents = [row["cells"][group]["percent"] for row in levels[:-1]]
        assert sum(percents) == pytest.approx(100.0)
    assert levels[-1]["cells"]["internal"]["n"] == 1
    patients = characteristics_table(
        frame, group="cohort", categorical=["sex", "site"], continuous=["age"], unique_by="patient"
    )
    assert patients.group_sizes == {"external": 8, "internal": 12}
    with pytest.raises(AnalysisInputError, match="'finding' is not constant within 'patient'"):
        characteristics_table(frame, group="cohort", categorical=["finding"], unique_by="patient")


def test_outputs_frame_markdown_and_json():
    frame = node_table()
    res = characteristics_table(
        frame,
        group="cohort",
        categorical=["site"],
        continuous=["size_cm", "age"],
        nonparametric=["size_cm"],
        labels={"age": "Age (y)", "site": "Primary site"},
        overall=True,
    )
    table = res.to_frame()
    assert list(table.columns)[0] == "Characteristic"
    assert list(table.columns)[-2:] == ["P value", "Test"]
    assert table.columns[1].startswith("Overall (n = ")
    assert "Primary site" in table["Characteristic"].tolist()
    assert "Age (y), mean ± SD" in table["Characteristic"].tolist()
    assert "size_cm, median [IQR]" in table["Characteristic"].tolist()
    cell = table.loc[table["Characteristic"] == "  larynx"].iloc[0, 2]
    assert cell.endswith(")") and "(" in cell
    markdown = res.to_markdown()
    lines = markdown.strip().splitlines()
    assert lines[0].startswith("| Characteristic |")
    assert len(lines) == len(table) + 2
    json.dumps(res.to_dict(), allow_nan=False)


def test_input_errors():
    frame = node_table()
    with pytest.raises(AnalysisInputError, match=r"\['nope'\] not found"):
        characteristics_table(frame, group="cohort", categorical=["nope"])
    bad = frame.astype({"age": object})
    bad.loc[bad.index[3], "age"] = "sixty"
    with pytest.raises(AnalysisInputError, match="'age': 'sixty' at data row 4"):
        characteristics_table(bad, group="cohort", continuous=["age"])
    with pytest.raises(AnalysisInputError, match="only 1 group"):
        characteristics_table(frame[frame.cohort == "internal"], group="cohort", continuous=["age"])
    with pytest.raises(AnalysisInputError, match="not listed in continuous"):
        characteristics_table(frame, group="cohort", continuous=["age"], nonparametric=["size_cm"])
    with pytest.raises(AnalysisInputError, match="t_test"):
        characteristics_table(frame, group="cohort", continuous=["age"], t_test="paired")
    with pytest.raises(AnalysisInputError, match=r"group\(s\) \['x'\] not found"):
        characteristics_table(frame, group="cohort", continuous=["age"], group_order=["x"])


def test_untestable_variables_give_no_p_value():
    frame = pd.DataFrame({"group": ["a", "a", "b", "b"], "v": [1.0, 1.0, 1.0, 1.0], "c": ["x"] * 4})
    res = characteristics_table(frame, group="group", categorical=["c"], continuous=["v"])
    assert all(row["p_value"] is None for row in res.rows)
    json.dumps(res.to_dict(), allow_nan=False)
