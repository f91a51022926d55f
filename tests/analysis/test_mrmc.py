"""Tests of analysis.mrmc: OR / DBM / iMRMC MRMC analysis and standalone model vs readers.

Reference values: ``tests/data/reference/expected.json`` (R MRMCaov 0.3.0, RJafroc
2.1.3, iMRMC 2.1.2, Iowa OR-DBM MRMC 2.51 on the Van Dyke and Franken data sets); each test
names the case and the source that case gives. Tolerances are the case's tolerance class
(pass if |a - b| <= max(abs, rel |b|)).
"""

from __future__ import annotations

import json
import math
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # allow `pytest -p no:django`
    sys.path.insert(0, str(REPO_ROOT))

from analysis.errors import AnalysisInputError  # noqa: E402
from analysis.mrmc import (  # noqa: E402
    auc_covariance,
    dbm_analysis,
    imrmc_analysis,
    leave_one_out_aucs,
    or_analysis,
    or_from_aucs,
    standalone_vs_readers,
)


@pytest.fixture(scope="module")
def case(reference):
    """Function ``case id -> expected.json case`` (tests/data/reference, via conftest)."""
    return reference.__getitem__


@pytest.fixture(scope="module")
def tolerance(reference):
    """Function ``(case, field) -> (abs, rel)``: the field's tolerance class of that case."""

    def lookup(case_: dict, key: str = "default") -> tuple[float, float]:
        spec = case_["tolerance"].get(key, case_["tolerance"]["default"])
        if isinstance(spec, str):
            spec = reference.named_tolerances[spec]
        return float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0))

    return lookup


def assert_close(actual, expected, tol: tuple[float, float], what: str) -> None:
    abs_tol, rel_tol = tol
    assert actual is not None, f"{what}: got None, expected {expected}"
    bound = max(abs_tol, rel_tol * abs(expected))
    assert abs(actual - expected) <= bound, (
        f"{what}: {actual!r} vs expected {expected!r} (|diff| {abs(actual - expected):.3g} > {bound:.3g})"
    )


@pytest.fixture(scope="module")
def ratings(reference_frame):
    """Function ``name -> long table`` of ``mrmc_<name>_long.csv`` with the column ``score``."""

    def load(name: str) -> pd.DataFrame:
        return reference_frame(f"mrmc_{name}_long.csv").rename(columns={"rating": "score"})

    return load


@pytest.fixture(scope="module")
def vandyke(ratings) -> pd.DataFrame:
    return ratings("vandyke")


@pytest.fixture(scope="module")
def franken(ratings) -> pd.DataFrame:
    return ratings("franken")


def frame_from_array(scores: np.ndarray, truth: np.ndarray, modalities=None, readers=None):
    """(t, r, n) score array -> long table (modality-major, then reader, then case)."""
    t, r, n = scores.shape
    modalities = modalities or [f"m{i}" for i in range(t)]
    readers = readers or [f"r{j}" for j in range(r)]
    return pd.DataFrame(
        {
            "case": np.tile([f"c{k}" for k in range(n)], t * r),
            "reader": np.tile(np.repeat(readers, n), t),
            "modality": np.repeat(modalities, r * n),
            "score": scores.reshape(-1),
            "truth": np.tile(truth, t * r),
        }
    )


def simulate(t=2, r=4, n_pos=12, n_neg=15, levels=None, seed=0, effect=1.0):
    """Correlated reader scores (optionally rounded to ordinal levels, for ties)."""
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    case_effect = rng.normal(size=truth.size)
    scores = np.empty((t, r, truth.size))
    for i in range(t):
        for j in range(r):
            scores[i, j] = (
                effect * truth * (1 + 0.3 * i) + 0.7 * case_effect + rng.normal(size=truth.size)
            )
    if levels:
        scores = np.digitize(scores, np.quantile(scores, np.linspace(0, 1, levels + 1)[1:-1]))
    return scores.astype(float), truth


# --------------------------------------------------------------------------------------------
# naive reference implementations (slow, obvious)
# --------------------------------------------------------------------------------------------


def naive_auc(x: np.ndarray, truth: np.ndarray) -> float:
    pos = x[truth == 1]
    neg = x[truth == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(psi.mean())


def naive_psi(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    pos = x[truth == 1]
    neg = x[truth == 0]
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def naive_jackknife_cov(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    k, c = scores.shape
    loo = np.empty((k, c))
    keep = np.ones(c, bool)
    for case_ in range(c):
        keep[:] = True
        keep[case_] = False
        for a in range(k):
            loo[a, case_] = naive_auc(scores[a, keep], truth[keep])
    centred = loo - loo.mean(axis=1, keepdims=True)
    return (c - 1) / c * centred @ centred.T


def naive_delong_cov(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    psis = [naive_psi(x, truth) for x in scores]
    v10 = np.array([p.mean(axis=1) for p in psis])
    v01 = np.array([p.mean(axis=0) for p in psis])
    m, n = v10.shape[1], v01.shape[1]
    return np.cov(v10) / m + np.cov(v01) / n


def naive_unbiased_cov(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """theta_a theta_b minus the mean of psi_a(i, j) psi_b(i', j') over i != i', j != j'."""
    psis = [naive_psi(x, truth) for x in scores]
    k = len(psis)
    m, n = psis[0].shape
    out = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            pa, pb = psis[a], psis[b]
            total = 0.0
            for i in range(m):
                for i2 in range(m):
                    if i == i2:
                        continue
                    prod = np.outer(pa[i], pb[i2])
                    total += prod.sum() - np.trace(prod)
            out[a, b] = pa.mean() * pb.mean() - total / (m * (m - 1) * n * (n - 1))
    return out


# --------------------------------------------------------------------------------------------
# reader AUCs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vandyke", "franken"])
def test_reader_aucs(name, case, tolerance, ratings):
    """mrmc.{vandyke,franken}.reader_aucs: MRMCaov 0.3.0 (brian-j-smith/MRMCaov @ d79e49b) and
    RJafroc 2.1.3 (dpc10ster/RJafroc @ 44b0e39) empirical AUC per reader x modality."""
    ref = case(f"mrmc.{name}.reader_aucs")
    result = or_analysis(ratings(name)).to_dict()
    tol = tolerance(ref)
    for row in ref["expected"]["reader_auc"]:
        assert_close(
            result["reader_auc"][row["treatment"]][row["reader"]],
            row["empirical_auc"],
            tol,
            f"reader {row['reader']} modality {row['treatment']}",
        )
    for modality, value in ref["expected"].get("modality_mean_auc", {}).items():
        assert_close(result["modalities"][modality], value, tol, f"mean AUC {modality}")


# --------------------------------------------------------------------------------------------
# Obuchowski-Rockette
# --------------------------------------------------------------------------------------------

OR_CASES = [
    ("mrmc.vandyke.OR_RRRC_jackknife", "vandyke", "jackknife", "RRRC"),
    ("mrmc.vandyke.OR_RRRC_DeLong", "vandyke", "DeLong", "RRRC"),
    ("mrmc.vandyke.OR_RRRC_unbiased", "vandyke", "unbiased", "RRRC"),
    ("mrmc.vandyke.OR_FRRC_jackknife", "vandyke", "jackknife", "FRRC"),
    ("mrmc.vandyke.OR_RRFC", "vandyke", "jackknife", "RRFC"),
    ("mrmc.franken.OR_RRRC_jackknife", "franken", "jackknife", "RRRC"),
    ("mrmc.franken.OR_RRRC_DeLong", "franken", "DeLong", "RRRC"),
    ("mrmc.franken.OR_FRRC_jackknife", "franken", "jackknife", "FRRC"),
    ("mrmc.franken.OR_RRFC", "franken", "jackknife", "RRFC"),
]

COMPONENT_NAMES = {
    "reader": "var_R",
    "treatment:reader": "var_TR",
    "Error": "var_error",
    "Cov1": "cov1",
    "Cov2": "cov2",
    "Cov3": "cov3",
}


@pytest.mark.parametrize(("case_id", "dataset", "covariance", "analysis"), OR_CASES)
def test_or_against_reference(case_id, dataset, covariance, analysis, case, tolerance, ratings):
    """OR cases of expected.json. Source per case: MRMCaov 0.3.0 ``mrmc() |> summary()``
    (brian-j-smith/MRMCaov @ d79e49b); for Franken FRRC the global test and difference follow
    RJafroc 2.1.3 ``St(dataset03, method="OR", analysisOption="FRRC")`` (dpc10ster/RJafroc @
    44b0e39) = Iowa OR-DBM MRMC 2.51 (truncated max(Cov2 - Cov3, 0))."""
    ref = case(case_id)
    expected = ref["expected"]
    tol = tolerance(ref)
    result = or_analysis(ratings(dataset), covariance=covariance, analysis=analysis)
    out = result.to_dict()
    assert out["method"] == "OR"
    assert out["covariance"] == covariance
    assert out["analysis"] == analysis
    json.dumps(out, allow_nan=False)

    for row in expected["variance_components"]:
        name = COMPONENT_NAMES[row["component"]]
        assert_close(out["variance_components"][name], row["Estimate"], tol, name)
        if row["Correlation"] is not None:
            key = {"cov1": "r1", "cov2": "r2", "cov3": "r3"}[name]
            assert_close(out["variance_components"][key], row["Correlation"], tol, key)

    g = expected["global_test"]
    assert_close(out["anova"]["ms_t"], g["MS(T)"], tol, "MS(T)")
    if "MS(T:R)" in g:
        assert_close(out["anova"]["ms_tr"], g["MS(T:R)"], tol, "MS(T:R)")
    if "Denominator" in g:
        assert_close(out["anova"]["denominator"], g["Denominator"], tol, "denominator")
    if analysis == "FRRC":
        assert_close(result.chi2, g["X2"], tol, "X2")
        assert_close(out["f"] * out["df1"], g["X2"], tol, "F * df1")
        assert out["df2"] is None
    else:
        assert_close(out["f"], g["F"], tol, "F")
        assert out["df1"] == g["df1"]
        assert_close(out["df2"], g["df2"], tol, "df2")
    assert_close(out["p_value"], g["p-value"], tol, "p")

    (diff,) = out["differences"]
    (ref_diff,) = expected["diff_1_minus_2"]
    assert (diff["a"], diff["b"]) == ("1", "2")
    assert_close(diff["estimate"], ref_diff["Estimate"], tol, "difference")
    assert_close(diff["se"], ref_diff["StdErr"], tol, "difference SE")
    assert_close(diff["ci95"][0], ref_diff["CI_lower"], tol, "difference CI lower")
    assert_close(diff["ci95"][1], ref_diff["CI_upper"], tol, "difference CI upper")
    assert_close(diff["statistic"], ref_diff["stat"], tol, "difference statistic")
    assert_close(diff["p_value"], ref_diff["p"], tol, "difference p")
    if ref_diff.get("df") is not None:
        assert_close(diff["df"], ref_diff["df"], tol, "difference df")
    else:
        assert diff["df"] is None

    for modality, row in zip(["1", "2"], expected["single_modality"], strict=True):
        single = out["modality_ci"][modality]
        assert_close(single["estimate"], row["Estimate"], tol, f"{modality} estimate")
        assert_close(single["se"], row["StdErr"], tol, f"{modality} SE")
        assert_close(single["ci95"][0], row["CI_lower"], tol, f"{modality} CI lower")
        assert_close(single["ci95"][1], row["CI_upper"], tol, f"{modality} CI upper")
        by_mod = out["anova"]["by_modality"][modality]
        if "MS(R)" in row:
            assert_close(by_mod["ms_r"], row["MS(R)"], tol, f"{modality} MS(R)")
        if "Cov2" in row:
            assert_close(by_mod["cov2"], row["Cov2"], tol, f"{modality} Cov2")
        if "Var(Error)" in row:
            assert_close(by_mod["var_error"], row["Var(Error)"], tol, f"{modality} Var(Error)")
        if "df" in row:
            assert_close(single["df"], row["df"], tol, f"{modality} df")

    if analysis == "FRRC":
        rows = out["reader_tests"]["differences"]
        for mine, theirs in zip(rows, expected["per_reader_diff"], strict=True):
            assert mine["reader"] == theirs["Reader"]
            assert_close(mine["estimate"], theirs["Estimate"], tol, "per-reader difference")
            assert_close(mine["se"], theirs["StdErr"], tol, "per-reader SE")
            assert_close(mine["statistic"], theirs["z"], tol, "per-reader z")
            assert_close(mine["p_value"], theirs["p-value"], tol, "per-reader p")
            assert_close(mine["ci95"][0], theirs["CI_lower"], tol, "per-reader CI lower")
            assert_close(mine["ci95"][1], theirs["CI_upper"], tol, "per-reader CI upper")
        for row in expected["per_reader_auc_ci"]:
            mine = out["reader_tests"]["auc_ci"][row["treatment"]][row["reader"]]
            assert_close(mine["auc"], row["empirical_auc"], tol, "reader AUC")
            assert_close(mine["se"], row["StdErr"], tol, "reader AUC SE")
            assert_close(mine["ci95"][0], row["CI_lower"], tol, "reader AUC CI lower")
            assert_close(mine["ci95"][1], row["CI_upper"], tol, "reader AUC CI upper")
    else:
        assert out["reader_tests"] is None


def test_franken_cov2_below_cov3_truncation_and_warnings(franken, case, tolerance):
    """mrmc.franken.OR_RRRC_jackknife / OR_FRRC_jackknife (MRMCaov 0.3.0; RJafroc 2.1.3; Iowa
    OR-DBM MRMC 2.51 Franken1.txt): Cov2 < Cov3 truncates to ddf = (t-1)(r-1) = 3 and var_TR
    is negative; both are reported as warnings, no crash. The FRRC X2 uses the truncated
    formula (0.32101), not MRMCaov's untruncated 0.36396."""
    rrrc = or_analysis(franken, analysis="RRRC")
    assert rrrc.df2 == 3.0
    assert any("Cov2" in w and "Cov3" in w for w in rrrc.warnings)
    assert any("var_TR" in w and "negative" in w for w in rrrc.warnings)
    frrc = or_analysis(franken, analysis="FRRC")
    ref = case("mrmc.franken.OR_FRRC_jackknife")
    assert_close(frrc.chi2, ref["expected_primary"]["X2"], tolerance(ref), "X2")
    untruncated = ref["alternative_MRMCaov_0.3.0_untruncated"]["global_test"]["X2"]
    assert abs(frrc.chi2 - untruncated) > 0.01


def test_vandyke_published_iowa_values(vandyke, case):
    """mrmc.vandyke.OR_RRRC_jackknife published_values: OR-DBM MRMC 2.51 printed output
    (dpc10ster/RJafroc tests/testthat/goodValues361/Iowa/VanDyke.txt), abs tol 5e-9 (half a
    unit of the last printed digit)."""
    pub = case("mrmc.vandyke.OR_RRRC_jackknife")["published_values"]["OR-DBM MRMC 2.51"]
    out = or_analysis(vandyke).to_dict()
    tol = (pub["anova_MS"]["abs_tol"], 0.0)
    assert_close(out["anova"]["ms_t"], pub["anova_MS"]["T"], tol, "MS(T)")
    assert_close(out["anova"]["ms_r"], pub["anova_MS"]["R"], tol, "MS(R)")
    assert_close(out["anova"]["ms_tr"], pub["anova_MS"]["TR"], tol, "MS(TR)")
    assert_close(
        out["anova"]["by_modality"]["1"]["ms_r"], pub["anova_MS"]["R_within_mod1"], tol, ""
    )
    comps = pub["OR_components"]
    vc = out["variance_components"]
    for mine, theirs in [
        ("var_R", "Var_R"),
        ("var_TR", "Var_TR"),
        ("cov1", "Cov1"),
        ("cov2", "Cov2"),
        ("cov3", "Cov3"),
        ("var_error", "Var_Error"),
        ("r1", "r1"),
        ("r2", "r2"),
        ("r3", "r3"),
    ]:
        # printed with 8 significant digits after the point; Var_R printed as 0.001535
        digits_tol = 5e-7 if theirs in ("Var_R", "Var_TR") else comps["abs_tol"]
        assert_close(vc[mine], comps[theirs], (digits_tol, 0.0), theirs)


def test_modality_order_and_labels(vandyke):
    """Modality order follows the table: with modality 2 first, the difference is 2 - 1."""
    swapped = pd.concat([vandyke[vandyke.modality == 2], vandyke[vandyke.modality == 1]])
    res = or_analysis(swapped)
    base = or_analysis(vandyke)
    assert list(res.modalities) == ["2", "1"]
    assert res.differences[0]["estimate"] == pytest.approx(
        -base.differences[0]["estimate"], abs=1e-15
    )
    assert res.f == pytest.approx(base.f, rel=1e-12)
    assert res.differences[0]["ci95"][0] == pytest.approx(
        -base.differences[0]["ci95"][1], abs=1e-12
    )


def test_or_to_dict_schema_and_strict_json():
    scores, truth = simulate(t=3, r=3, seed=5)
    out = or_analysis(frame_from_array(scores, truth)).to_dict()
    required = {
        "method",
        "covariance",
        "analysis",
        "modalities",
        "reader_auc",
        "f",
        "df1",
        "df2",
        "p_value",
        "differences",
        "variance_components",
    }
    assert required <= set(out)
    assert set(out) - required == {"alpha", "modality_ci", "anova", "reader_tests", "warnings"}
    assert len(out["differences"]) == 3
    for diff in out["differences"]:
        assert {"a", "b", "estimate", "se", "ci95", "p_value"} <= set(diff)
    assert {"var_R", "var_TR", "cov1", "cov2", "cov3", "var_error"} <= set(
        out["variance_components"]
    )
    text = json.dumps(out, allow_nan=False)
    assert "NaN" not in text


def test_three_modalities_dbm_equals_or_jackknife():
    """Hillis et al. (2005): the DBM RRRC F (jackknife pseudovalues, Hillis ddf) equals the OR F
    with jackknife covariance, for any number of modalities; checked with t = 3."""
    scores, truth = simulate(t=3, r=5, n_pos=20, n_neg=25, levels=5, seed=11)
    frame = frame_from_array(scores, truth)
    or_res = or_analysis(frame, covariance="jackknife")
    dbm_res = dbm_analysis(frame)
    assert dbm_res.f == pytest.approx(or_res.f, rel=1e-10)
    assert dbm_res.df2 == pytest.approx(or_res.df2, rel=1e-10)
    assert dbm_res.p_value == pytest.approx(or_res.p_value, rel=1e-9)
    for a, b in zip(or_res.differences, dbm_res.differences, strict=True):
        assert a["se"] == pytest.approx(b["se"], rel=1e-10)
        assert a["ci95"] == pytest.approx(b["ci95"], rel=1e-9)
    for name in or_res.modality_ci:
        assert or_res.modality_ci[name]["se"] == pytest.approx(
            dbm_res.modality_ci[name]["se"], rel=1e-10
        )
        assert or_res.modality_ci[name]["df"] == pytest.approx(
            dbm_res.modality_ci[name]["df"], rel=1e-10
        )


def test_or_from_aucs_by_hand_formulas():
    """Hillis (2007) RRRC formulas evaluated by hand from an AUC table and covariance matrix."""
    rng = np.random.default_rng(3)
    t, r = 2, 4
    theta = 0.8 + 0.05 * rng.random((t, r))
    a = rng.normal(size=(t * r, t * r)) * 0.01
    cov = a @ a.T + np.eye(t * r) * 1e-4
    res = or_from_aucs(theta, cov, modalities=["A", "B"], readers=list("wxyz"))
    mod = np.repeat(np.arange(t), r)
    rdr = np.tile(np.arange(r), t)
    pairs = [(p, q) for p in range(t * r) for q in range(t * r) if p != q]
    cov2 = np.mean([cov[p, q] for p, q in pairs if mod[p] == mod[q] and rdr[p] != rdr[q]])
    cov3 = np.mean([cov[p, q] for p, q in pairs if mod[p] != mod[q] and rdr[p] != rdr[q]])
    ms_t = r * np.var(theta.mean(axis=1), ddof=1)
    inter = theta - theta.mean(1, keepdims=True) - theta.mean(0, keepdims=True) + theta.mean()
    ms_tr = (inter**2).sum() / ((t - 1) * (r - 1))
    den = ms_tr + r * max(cov2 - cov3, 0)
    assert res.f == pytest.approx(ms_t / den, rel=1e-12)
    assert res.df2 == pytest.approx(den**2 / ms_tr**2 * (t - 1) * (r - 1), rel=1e-12)
    assert res.p_value == pytest.approx(stats.f.sf(ms_t / den, t - 1, res.df2), rel=1e-12)


# --------------------------------------------------------------------------------------------
# covariance estimators against brute force
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [None, 4])
def test_leave_one_out_aucs_equal_recomputation(levels):
    scores, truth = simulate(t=1, r=3, n_pos=9, n_neg=11, levels=levels, seed=2)
    flat = scores[0]
    auc, loo = leave_one_out_aucs(flat, truth)
    for a in range(flat.shape[0]):
        assert auc[a] == pytest.approx(naive_auc(flat[a], truth), abs=1e-15)
        for c in range(flat.shape[1]):
            keep = np.arange(flat.shape[1]) != c
            assert loo[a, c] == pytest.approx(naive_auc(flat[a, keep], truth[keep]), abs=1e-14)


@pytest.mark.parametrize("levels", [None, 3])
def test_covariances_equal_brute_force(levels):
    scores, truth = simulate(t=2, r=2, n_pos=7, n_neg=9, levels=levels, seed=4)
    flat = scores.reshape(4, -1)
    _, jack = auc_covariance(flat, truth, method="jackknife")
    np.testing.assert_allclose(jack, naive_jackknife_cov(flat, truth), rtol=1e-10, atol=1e-15)
    _, delong = auc_covariance(flat, truth, method="DeLong")
    np.testing.assert_allclose(delong, naive_delong_cov(flat, truth), rtol=1e-10, atol=1e-15)
    _, unbiased = auc_covariance(flat, truth, method="unbiased")
    np.testing.assert_allclose(unbiased, naive_unbiased_cov(flat, truth), rtol=1e-9, atol=1e-15)


def test_unbiased_covariance_blocks_do_not_change_result():
    """The kernel Gram matrix is accumulated in blocks of positive cases; block size is irrelevant."""
    from analysis.mrmc import covariance as mrmc

    scores, truth = simulate(t=2, r=3, n_pos=30, n_neg=20, levels=5, seed=8)
    flat = scores.reshape(6, -1)
    full = mrmc._kernel_gram(flat, truth, block_elements=10**9)
    tiny = mrmc._kernel_gram(flat, truth, block_elements=1)
    np.testing.assert_array_equal(full, tiny)


# --------------------------------------------------------------------------------------------
# property tests
# --------------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def mrmc_arrays(draw):
    t = draw(st.integers(2, 3))
    r = draw(st.integers(2, 4))
    n_pos = draw(st.integers(3, 8))
    n_neg = draw(st.integers(3, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    levels = draw(st.sampled_from([None, 3, 5]))
    return simulate(t=t, r=r, n_pos=n_pos, n_neg=n_neg, levels=levels, seed=seed)


def _same(a, b, rel=1e-9, abs_=1e-12):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@PROPERTY_SETTINGS
@given(data=mrmc_arrays(), covariance=st.sampled_from(["jackknife", "DeLong", "unbiased"]))
def test_or_invariant_to_monotone_transforms(data, covariance):
    """AUCs and their covariances are rank statistics: a strictly increasing transform of each
    reader's scores (a different one per reader and modality) changes nothing."""
    scores, truth = data
    base = or_analysis(frame_from_array(scores, truth), covariance=covariance)
    transformed = scores.copy()
    t, r, _ = scores.shape
    for i in range(t):
        for j in range(r):
            k = (i + 1) * (j + 2)
            transformed[i, j] = np.exp(scores[i, j] / k) * k + np.arctan(scores[i, j]) + i - j
    other = or_analysis(frame_from_array(transformed, truth), covariance=covariance)
    assert _same(base.f, other.f)
    assert _same(base.df2, other.df2)
    assert _same(base.p_value, other.p_value)


@PROPERTY_SETTINGS
@given(data=mrmc_arrays(), analysis=st.sampled_from(["RRRC", "FRRC", "RRFC"]))
def test_or_invariant_to_modality_reader_and_case_order(data, analysis):
    scores, truth = data
    base = or_analysis(frame_from_array(scores, truth), analysis=analysis)
    t, r, n = scores.shape
    perm_t = np.arange(t)[::-1]
    perm_r = np.roll(np.arange(r), 1)
    perm_c = np.random.default_rng(0).permutation(n)
    mods = [f"m{i}" for i in perm_t]
    rdrs = [f"r{j}" for j in perm_r]
    shuffled = frame_from_array(
        scores[perm_t][:, perm_r][:, :, perm_c], truth[perm_c], modalities=mods, readers=rdrs
    )
    other = or_analysis(shuffled, analysis=analysis)
    assert _same(base.f, other.f)
    assert _same(base.p_value, other.p_value)
    base_diffs = {(d["a"], d["b"]): d for d in base.differences}
    for d in other.differences:
        key, sign = (
            ((d["a"], d["b"]), 1) if (d["a"], d["b"]) in base_diffs else ((d["b"], d["a"]), -1)
        )
        assert _same(d["estimate"], sign * base_diffs[key]["estimate"], abs_=1e-14)
        assert _same(d["se"], base_diffs[key]["se"])


# --------------------------------------------------------------------------------------------
# edge cases and errors
# --------------------------------------------------------------------------------------------


def test_degenerate_perfect_readers_do_not_crash():
    """All readers perfect: every AUC is 1, all mean squares and covariances 0. The tests are
    undefined: nulls and warnings, valid strict JSON."""
    truth = np.r_[np.ones(5, int), np.zeros(5, int)]
    scores = np.tile(truth * 10.0 + np.arange(10) * 0.01, (2, 3, 1))
    for analysis in ("RRRC", "FRRC", "RRFC"):
        for covariance in ("jackknife", "DeLong", "unbiased"):
            res = or_analysis(
                frame_from_array(scores, truth), covariance=covariance, analysis=analysis
            )
            out = res.to_dict()
            json.dumps(out, allow_nan=False)
            assert out["f"] is None and out["p_value"] is None
            assert out["differences"][0]["ci95"] == [None, None]
            assert res.warnings


def test_negative_covariance_estimates_are_reported():
    """With few cases the unbiased covariance may be negative; single-modality CIs then use
    max(Cov2, 0) and say so."""
    found = False
    for seed in range(60):
        scores, truth = simulate(t=2, r=3, n_pos=3, n_neg=3, seed=seed, effect=0.2)
        res = or_analysis(frame_from_array(scores, truth), covariance="unbiased", analysis="FRRC")
        json.dumps(res.to_dict(), allow_nan=False)
        if any("negative" in w for w in res.warnings):
            found = True
            break  # one such study is what this test needs
    assert found


def test_error_reader_missing_in_one_modality():
    scores, truth = simulate(t=2, r=3)
    frame = frame_from_array(scores, truth)
    frame = frame[~((frame.reader == "r1") & (frame.modality == "m1"))]
    with pytest.raises(AnalysisInputError, match=r"\['r1'\].*modality 'm1'"):
        or_analysis(frame)


def test_error_reader_missing_some_cases():
    scores, truth = simulate(t=2, r=3)
    frame = frame_from_array(scores, truth)
    frame = frame.drop(index=frame.index[(frame.reader == "r2") & (frame.case == "c3")][:1])
    with pytest.raises(AnalysisInputError, match="r2"):
        or_analysis(frame)


def test_error_one_modality_only():
    scores, truth = simulate(t=1, r=3)
    with pytest.raises(AnalysisInputError, match="at least 2 modalities"):
        or_analysis(frame_from_array(scores, truth))
    with pytest.raises(AnalysisInputError, match="modality"):
        or_analysis(frame_from_array(scores, truth).drop(columns=["modality"]))


def test_error_single_reader():
    scores, truth = simulate(t=2, r=1)
    with pytest.raises(AnalysisInputError, match="at least 2 readers.*'r0'"):
        or_analysis(frame_from_array(scores, truth))


def test_error_modalities_with_different_cases():
    scores, truth = simulate(t=2, r=2)
    frame = frame_from_array(scores, truth)
    frame.loc[frame.modality == "m1", "case"] = frame.loc[frame.modality == "m1", "case"] + "x"
    with pytest.raises(AnalysisInputError, match="same cases"):
        or_analysis(frame)


def test_error_bad_options_and_too_few_cases():
    scores, truth = simulate(t=2, r=2)
    frame = frame_from_array(scores, truth)
    with pytest.raises(AnalysisInputError, match="bootstrap"):
        or_analysis(frame, covariance="bootstrap")
    with pytest.raises(AnalysisInputError, match="RRXX"):
        or_analysis(frame, analysis="RRXX")
    with pytest.raises(AnalysisInputError, match="alpha"):
        or_analysis(frame, alpha=1.5)
    few = frame_from_array(scores[:, :, :13], np.r_[np.ones(1, int), np.zeros(12, int)])
    with pytest.raises(AnalysisInputError, match="1 positive"):
        or_analysis(few)


def test_alpha_changes_interval_width():
    scores, truth = simulate(t=2, r=4, seed=9)
    frame = frame_from_array(scores, truth)
    wide = or_analysis(frame, alpha=0.01).differences[0]["ci95"]
    narrow = or_analysis(frame, alpha=0.2).differences[0]["ci95"]
    assert wide[1] - wide[0] > narrow[1] - narrow[0]


# --------------------------------------------------------------------------------------------
# DBM
# --------------------------------------------------------------------------------------------


def test_dbm_against_reference(vandyke, case, tolerance):
    """mrmc.vandyke.DBM_RRRC_pseudovalue_anova: RJafroc 2.1.3 ``St(dataset02, FOM="Wilcoxon",
    method="DBM")`` (dpc10ster/RJafroc @ 44b0e39); components also Iowa OR-DBM MRMC 2.51."""
    ref = case("mrmc.vandyke.DBM_RRRC_pseudovalue_anova")
    expected = ref["expected"]
    tol = tolerance(ref)
    out = dbm_analysis(vandyke).to_dict()
    json.dumps(out, allow_nan=False)
    for source, row in zip(
        ["T", "R", "C", "TR", "TC", "RC", "TRC", "Total"], expected["TRC_anova"], strict=True
    ):
        assert_close(out["anova"][source]["ss"], row["SS"], tol, f"SS {source}")
        assert out["anova"][source]["df"] == row["DF"]
        if row["MS"] is not None:
            assert_close(out["anova"][source]["ms"], row["MS"], tol, f"MS {source}")
    for name, row in zip(
        ["var_R", "var_C", "var_TR", "var_TC", "var_RC", "var_error"],
        expected["variance_components"],
        strict=True,
    ):
        assert_close(out["variance_components"][name], row["Estimates"], tol, name)
    assert_close(out["f"], expected["F"], tol, "F")
    assert_close(out["df2"], expected["ddf"], tol, "ddf")
    assert_close(out["p_value"], expected["p"], tol, "p")
    (diff,) = out["differences"]
    (ref_diff,) = expected["diff_ci"]
    for mine, theirs in [
        (diff["estimate"], ref_diff["Estimate"]),
        (diff["se"], ref_diff["StdErr"]),
        (diff["df"], ref_diff["DF"]),
        (diff["statistic"], ref_diff["t"]),
        (diff["p_value"], ref_diff["PrGTt"]),
        (diff["ci95"][0], ref_diff["CILower"]),
        (diff["ci95"][1], ref_diff["CIUpper"]),
    ]:
        assert_close(mine, theirs, tol, "DBM difference")
    for modality, row in zip(["1", "2"], expected["single_modality_ci"], strict=True):
        single = out["modality_ci"][modality]
        assert_close(single["estimate"], row["Estimate"], tol, "estimate")
        assert_close(single["se"], row["StdErr"], tol, "SE")
        assert_close(single["df"], row["DF"], tol, "df")
        assert_close(single["ci95"][0], row["CILower"], tol, "CI lower")
        assert_close(single["ci95"][1], row["CIUpper"], tol, "CI upper")
    frrc = dbm_analysis(vandyke, analysis="FRRC")
    assert_close(frrc.f, expected["FRRC_DBM"]["F"], tol, "FRRC F")
    assert frrc.df2 == expected["FRRC_DBM"]["df"][1]
    assert_close(frrc.p_value, expected["FRRC_DBM"]["p"], tol, "FRRC p")
    rrfc = dbm_analysis(vandyke, analysis="RRFC")
    assert_close(rrfc.f, expected["RRFC_DBM"]["F"], tol, "RRFC F")
    assert_close(rrfc.p_value, expected["RRFC_DBM"]["p"], tol, "RRFC p")


# --------------------------------------------------------------------------------------------
# iMRMC
# --------------------------------------------------------------------------------------------

IMRMC_FIELDS = [
    ("auc_a", "AUCA"),
    ("var_a", "varAUCA"),
    ("auc_b", "AUCB"),
    ("var_b", "varAUCB"),
    ("difference", "AUCAminusAUCB"),
    ("var_difference", "varAUCAminusAUCB"),
    ("df_bdg", "dfBDG"),
    ("p_normal", "pValueNormal"),
    ("p_bdg", "pValueBDG"),
]


def _check_imrmc_row(mine: dict, theirs: dict, tol, what: str) -> None:
    for key, ref_key in IMRMC_FIELDS:
        if ref_key not in theirs:
            continue
        if theirs[ref_key] is None:
            assert mine[key] is None, f"{what} {key}: expected None, got {mine[key]}"
        else:
            assert_close(mine[key], theirs[ref_key], tol, f"{what} {key}")
    for key, lo, hi in (
        ("ci_normal", "botCInormal", "topCInormal"),
        ("ci_bdg", "botCIBDG", "topCIBDG"),
    ):
        if lo not in theirs:
            continue
        if theirs[lo] is None:
            assert mine[key] == [None, None]
        else:
            assert_close(mine[key][0], theirs[lo], tol, f"{what} {key} lower")
            assert_close(mine[key][1], theirs[hi], tol, f"{what} {key} upper")
    for key, ref_key in (("reject_normal", "rejectNormal"), ("reject_bdg", "rejectBDG")):
        if ref_key in theirs:
            expected = None if theirs[ref_key] is None else bool(theirs[ref_key])
            assert mine[key] == expected, f"{what} {key}"


@pytest.mark.parametrize("name", ["vandyke", "franken"])
def test_imrmc_against_reference(name, case, tolerance, ratings):
    """mrmc.{vandyke,franken}.iMRMC: R iMRMC 2.1.2 ``doIMRMC`` (DIDSR/iMRMC @ ad589e5, all-R).
    Franken: the U-statistic variance of the difference is negative -> None CI/p/df."""
    ref = case(f"mrmc.{name}.iMRMC")
    tol = tolerance(ref)
    result = imrmc_analysis(ratings(name))
    out = result.to_dict()
    json.dumps(out, allow_nan=False)
    for kind, ref_kind in (("ustat", "Ustat"), ("mle", "MLEstat")):
        for mine, theirs in zip(out[kind], ref["expected"][ref_kind], strict=True):
            assert mine["modality_a"] == theirs["modalityA"].removeprefix("mod")
            expected_b = (
                None if theirs["modalityB"] == "NO_MOD" else theirs["modalityB"].removeprefix("mod")
            )
            assert mine["modality_b"] == expected_b
            _check_imrmc_row(
                mine, theirs, tol, f"{kind} {theirs['modalityA']}/{theirs['modalityB']}"
            )
    for mine, theirs in zip(out["per_reader"], ref["expected"]["per_reader"], strict=True):
        assert "reader" + mine["reader"] == theirs["readerID"]
        _check_imrmc_row(mine, theirs, tol, f"reader {theirs['readerID']}")
    if name == "franken":
        assert out["ustat"][2]["var_difference"] < 0
        assert any("negative" in w for w in out["warnings"])
    else:
        assert out["warnings"] == []


def test_imrmc_per_reader_variance_is_the_unbiased_covariance(vandyke):
    """iMRMC's per-reader variance (4 moments) and MRMCaov's ``unbiased`` covariance are the same
    estimator (Gallas et al. 2007): the mean variance equals the unbiased OR Var(error)."""
    imrmc = imrmc_analysis(vandyke)
    singles = [row["var_a"] for row in imrmc.per_reader if row["modality_b"] is None]
    unbiased = or_analysis(vandyke, covariance="unbiased")
    assert np.mean(singles) == pytest.approx(unbiased.variance_components["var_error"], rel=1e-12)


# --------------------------------------------------------------------------------------------
# standalone model vs readers
# --------------------------------------------------------------------------------------------


def _two_modality_copy(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """Kooi et al. (2016) / RJafroc 2T-RRRC: the model duplicated as a second modality for every
    reader, the readers as the other modality."""
    readers = frame[frame.reader != model].assign(modality="readers")
    model_rows = frame[frame.reader == model]
    copies = [
        model_rows.assign(reader=reader, modality="model") for reader in readers.reader.unique()
    ]
    return pd.concat([readers, *copies], ignore_index=True)


def _model_frame(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    frame = frame_from_array(scores[None], truth).drop(columns=["modality"])
    frame.loc[frame.reader == "r0", "reader"] = "model"
    return frame


@pytest.mark.parametrize("covariance", ["jackknife", "DeLong", "unbiased"])
@pytest.mark.parametrize("seed", [0, 1])
def test_standalone_equals_two_modality_or(covariance, seed):
    """Independent re-derivation: the single-modality analysis of reader - model differences
    (Hillis 2007 sec. 5.3, RJafroc 1T-RRRC) equals OR RRRC with the model duplicated as a second
    modality (RJafroc 2T-RRRC, Kooi et al. 2016): t^2 = F, same ddf and p."""
    scores, truth = simulate(t=1, r=6, n_pos=25, n_neg=30, levels=None if seed else 6, seed=seed)
    frame = _model_frame(scores[0], truth)
    res = standalone_vs_readers(frame, model="model", covariance=covariance)
    two = or_analysis(_two_modality_copy(frame, "model"), covariance=covariance)
    assert res.f == pytest.approx(two.f, rel=1e-10)
    assert res.df == pytest.approx(two.df2, rel=1e-10)
    assert res.p_value == pytest.approx(two.p_value, rel=1e-9)
    (diff,) = two.differences  # readers - model (table order)
    assert res.difference == pytest.approx(-diff["estimate"], abs=1e-14)
    assert res.se == pytest.approx(diff["se"], rel=1e-10)
    assert res.ci95 == pytest.approx([-diff["ci95"][1], -diff["ci95"][0]], rel=1e-9)
    json.dumps(res.to_dict(), allow_nan=False)


def test_standalone_by_hand_with_brute_force_jackknife():
    """RRRC formulas of Hillis (2007, sec. 5.3) evaluated by hand, with the jackknife covariance
    of the differences from explicit leave-one-out recomputation of every AUC."""
    scores, truth = simulate(t=1, r=5, n_pos=8, n_neg=10, levels=5, seed=21)
    flat = scores[0]
    frame = _model_frame(flat, truth)
    res = standalone_vs_readers(frame, model="model")
    cov = naive_jackknife_cov(flat, truth)
    auc = np.array([naive_auc(x, truth) for x in flat])
    d = auc[1:] - auc[0]
    r = len(d)
    cov_d = cov[1:, 1:] - cov[1:, :1] - cov[:1, 1:] + cov[0, 0]
    cov2 = cov_d[~np.eye(r, dtype=bool)].mean()
    ms_r = d.var(ddof=1)
    den = ms_r + r * max(cov2, 0)
    t_value = -d.mean() / math.sqrt(den / r)
    df = den**2 / (ms_r**2 / (r - 1))
    assert res.t == pytest.approx(t_value, rel=1e-10)
    assert res.df == pytest.approx(df, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t_value), df), rel=1e-9)
    assert res.variance_components["cov2"] == pytest.approx(cov2, rel=1e-10)
    assert res.model_auc == pytest.approx(auc[0], abs=1e-15)
    assert res.reader_mean_auc == pytest.approx(auc[1:].mean(), abs=1e-15)


def test_standalone_rrfc_is_one_sample_t_test():
    """RJafroc 1T-RRFC / Hupse et al. (2013): t test of the reader - model AUC differences."""
    scores, truth = simulate(t=1, r=6, seed=3)
    frame = _model_frame(scores[0], truth)
    res = standalone_vs_readers(frame, model="model", analysis="RRFC")
    auc = np.array([naive_auc(x, truth) for x in scores[0]])
    ttest = stats.ttest_1samp(auc[0] - auc[1:], 0.0)
    assert res.t == pytest.approx(ttest.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ttest.pvalue, rel=1e-9)
    assert res.df == 4  # 5 readers besides the model


def test_standalone_per_reader_delong_matches_proc(vandyke, case, tolerance):
    """delong.vandyke.reader1.mod1_vs_mod2: pROC 1.18.0 paired DeLong (xrobin/pROC @ ee2877e).
    With reader 1's modality-1 ratings as the 'model' and reader 1's modality-2 ratings as a
    reader, the per-reader comparison (covariance="DeLong") is that paired test."""
    ref = case("delong.vandyke.reader1.mod1_vs_mod2")
    tol = tolerance(ref)
    expected = ref["expected"]
    frame = vandyke.copy()
    frame["reader"] = frame["reader"].astype(str)
    model = frame[(frame.reader == "1") & (frame.modality == 1)].assign(reader="model")
    readers = frame[frame.modality == 2]
    res = standalone_vs_readers(
        pd.concat([model, readers], ignore_index=True),
        model="model",
        modality="2",
        covariance="DeLong",
    )
    row = res.readers["1"]
    assert_close(res.model_auc, expected["auc_mod1"], tolerance(ref, "auc_mod1"), "model AUC")
    assert_close(row["auc"], expected["auc_mod2"], tolerance(ref, "auc_mod2"), "reader AUC")
    assert_close(row["z"], expected["Z"], tol, "Z")
    assert_close(row["p_value"], expected["p_two_sided"], tol, "p")
    assert_close(row["ci95"][0], expected["ci95_diff"]["lower"], tol, "CI lower")
    assert_close(row["ci95"][1], expected["ci95_diff"]["upper"], tol, "CI upper")
    assert_close(res.model_ci95[0], expected["ci95_mod1"]["lower"], tol, "model CI lower")
    assert_close(res.model_ci95[1], expected["ci95_mod1"]["upper"], tol, "model CI upper")


def test_standalone_modality_selection_and_errors():
    scores, truth = simulate(t=2, r=4, seed=6)
    frame = frame_from_array(scores, truth)
    frame.loc[(frame.reader == "r0") & (frame.modality == "m0"), "reader"] = "model"
    frame = frame[frame.reader != "r0"]  # model only in m0
    res = standalone_vs_readers(frame, model="model", modality="m1")
    assert res.modality == "m1"
    assert set(res.readers) == {"r1", "r2", "r3"}
    with pytest.raises(AnalysisInputError, match="several modalities"):
        standalone_vs_readers(frame, model="model")
    with pytest.raises(AnalysisInputError, match="'nobody' not found"):
        standalone_vs_readers(frame, model="nobody", modality="m1")
    with pytest.raises(AnalysisInputError, match="'m9' not found"):
        standalone_vs_readers(frame, model="model", modality="m9")
    with pytest.raises(AnalysisInputError, match="RRRC"):
        standalone_vs_readers(frame, model="model", modality="m1", analysis="FRRC")
    one = frame[frame.reader.isin(["model", "r1"])]
    with pytest.raises(AnalysisInputError, match="at least 2 readers besides the model"):
        standalone_vs_readers(one, model="model", modality="m1")


def test_standalone_to_dict_fields():
    scores, truth = simulate(t=1, r=4, seed=12)
    out = standalone_vs_readers(_model_frame(scores[0], truth), model="model").to_dict()
    for key in (
        "model_auc",
        "reader_mean_auc",
        "difference",
        "se",
        "df",
        "t",
        "f",
        "p_value",
        "ci95",
        "readers",
        "variance_components",
    ):
        assert key in out
    assert set(out["readers"]) == {"r1", "r2", "r3"}
    assert out["f"] == pytest.approx(out["t"] ** 2)
    assert out["difference"] == pytest.approx(
        out["model_auc"] - np.mean([v["auc"] for v in out["readers"].values()])
    )
    assert all(0 <= v <= 1 for v in out["model_ci95"])


def test_pairs_in_table_order():
    scores, truth = simulate(t=3, r=3, seed=14)
    res = or_analysis(frame_from_array(scores, truth, modalities=["z", "a", "m"]))
    assert [(d["a"], d["b"]) for d in res.differences] == list(combinations(["z", "a", "m"], 2))


def test_cluster_column_gives_independence_warning():
    """Nodes nested in patients: the analyses treat cases as independent and say so."""
    scores, truth = simulate(t=2, r=3, n_pos=10, n_neg=10, seed=15)
    frame = frame_from_array(scores, truth)
    frame["cluster"] = "p" + (frame["case"].str[1:].astype(int) // 2).astype(str)
    for result in (or_analysis(frame), dbm_analysis(frame), imrmc_analysis(frame)):
        assert any("clusters" in w and "independent" in w for w in result.warnings)
    single = frame.assign(cluster=frame["case"])
    assert not any("clusters" in w for w in or_analysis(single).warnings)
