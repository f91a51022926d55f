"""Tests of analysis.calibration: reliability curve, Brier score, logistic recalibration,
E/O ratio and decision curves, against scikit-learn, statsmodels and brute force."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # allow `pytest -p no:django`
    sys.path.insert(0, str(REPO_ROOT))

from analysis.calibration import (  # noqa: E402
    brier_score,
    calibration_analysis,
    calibration_summary,
    decision_curve,
    decision_curve_analysis,
    expected_observed_ratio,
    logistic_calibration,
    reliability_curve,
)
from analysis.errors import AnalysisInputError  # noqa: E402


def sample(n=400, seed=0, distortion=1.0, shift=0.0):
    """Outcomes drawn from true risks q; predictions p = expit((logit(q) - shift) / distortion)."""
    rng = np.random.default_rng(seed)
    q = expit(rng.normal(-0.5, 1.2, n))
    y = (rng.random(n) < q).astype(int)
    p = expit((logit(q) - shift) / distortion)
    return y, p


# --------------------------------------------------------------------------------------------
# Brier and reliability curve against scikit-learn
# --------------------------------------------------------------------------------------------


def test_brier_matches_sklearn():
    from sklearn.metrics import brier_score_loss

    for seed in range(5):
        y, p = sample(seed=seed)
        assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-14)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 10, 17])
def test_reliability_curve_matches_sklearn(strategy, n_bins):
    from sklearn.calibration import calibration_curve

    y, p = sample(n=333, seed=n_bins)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    curve = reliability_curve(y, p, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose([b["observed"] for b in curve.bins], prob_true, rtol=1e-12)
    np.testing.assert_allclose([b["mean_predicted"] for b in curve.bins], prob_pred, rtol=1e-12)
    assert sum(b["count"] for b in curve.bins) == len(y)
    for b in curve.bins:
        lo, hi = b["ci95"]
        assert lo <= b["observed"] <= hi


def test_reliability_curve_with_ties_and_duplicate_edges():
    from sklearn.calibration import calibration_curve

    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5, 0.5, 0.9, 0.9, 0.2, 0.2])
    prob_true, prob_pred = calibration_curve(y, p, n_bins=6, strategy="quantile")
    curve = reliability_curve(y, p, n_bins=6, strategy="quantile")
    np.testing.assert_allclose([b["observed"] for b in curve.bins], prob_true)
    np.testing.assert_allclose([b["mean_predicted"] for b in curve.bins], prob_pred)


def test_wilson_interval_value():
    """Wilson (1927) interval for 3 events in 10 at 95%: (0.1078, 0.6032) (Newcombe 1998, Table I)."""
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    curve = reliability_curve(y, np.full(10, 0.3), n_bins=1, strategy="uniform")
    lo, hi = curve.bins[0]["ci95"]
    assert lo == pytest.approx(0.1078, abs=5e-5)
    assert hi == pytest.approx(0.6032, abs=5e-5)


# --------------------------------------------------------------------------------------------
# logistic recalibration against statsmodels
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("distortion", "shift"), [(1.0, 0.0), (0.6, 0.4), (1.8, -0.7)])
def test_logistic_calibration_matches_statsmodels_glm(seed, distortion, shift):
    import statsmodels.api as sm

    y, p = sample(n=500, seed=seed, distortion=distortion, shift=shift)
    lp = logit(p)
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-14)
    offset_fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit(
        tol=1e-14
    )
    res = logistic_calibration(y, p)
    assert res.slope == pytest.approx(slope_fit.params[1], rel=1e-8)
    assert res.slope_model_intercept == pytest.approx(slope_fit.params[0], rel=1e-8, abs=1e-10)
    assert res.slope_se == pytest.approx(slope_fit.bse[1], rel=1e-6)
    assert res.intercept == pytest.approx(offset_fit.params[0], rel=1e-8, abs=1e-10)
    assert res.intercept_se == pytest.approx(offset_fit.bse[0], rel=1e-6)
    ci = slope_fit.conf_int()[1]
    assert res.slope_ci95 == pytest.approx(list(ci), rel=1e-6)


def test_logistic_calibration_recovers_known_miscalibration():
    """Predictions too extreme by a factor 2 on the logit scale give slope ~ 1/2; shifted by
    +0.8 give calibration intercept ~ -0.8 (large sample)."""
    y, p = sample(n=40_000, seed=7, distortion=0.5)
    assert logistic_calibration(y, p).slope == pytest.approx(0.5, abs=0.03)
    y, p = sample(n=40_000, seed=8, shift=-0.8)
    res = logistic_calibration(y, p)
    assert res.intercept == pytest.approx(-0.8, abs=0.05)
    assert res.slope == pytest.approx(1.0, abs=0.05)


def test_logistic_calibration_degenerate_inputs():
    res = logistic_calibration([0, 0, 0], [0.1, 0.2, 0.3])
    assert res.slope is None and res.intercept is None
    assert any("outcomes" in w for w in res.warnings)
    separated = logistic_calibration([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    assert separated.slope is None
    assert any("separation" in w for w in separated.warnings)
    assert separated.intercept is not None  # calibration-in-the-large is still defined
    clipped = logistic_calibration([0, 1, 1, 0, 1], [0.0, 1.0, 0.2, 0.4, 0.7])
    assert clipped.n_clipped == 2
    assert clipped.slope is not None
    json.dumps(clipped.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------------------------
# E/O ratio
# --------------------------------------------------------------------------------------------


def test_expected_observed_ratio_by_hand():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    p = np.array([0.5, 0.1, 0.2, 0.6, 0.3, 0.1, 0.2, 0.4, 0.3, 0.3])
    res = expected_observed_ratio(y, p)
    expected, observed, n = 3.0, 3, 10
    assert res["expected"] == pytest.approx(expected)
    assert res["observed"] == observed
    assert res["ratio"] == pytest.approx(expected / observed)
    se = math.sqrt(1 / observed - 1 / n)  # Debray et al. (2017)
    lo = math.exp(-(math.log(observed / expected) + 1.959963984540054 * se))
    hi = math.exp(-(math.log(observed / expected) - 1.959963984540054 * se))
    assert res["ci95"] == pytest.approx([lo, hi], rel=1e-12)
    assert expected_observed_ratio([0, 0], [0.2, 0.3])["ratio"] is None


# --------------------------------------------------------------------------------------------
# decision curves against brute force
# --------------------------------------------------------------------------------------------


def brute_net_benefit(y, p, pt):
    n = len(y)
    tp = sum(1 for yi, pi in zip(y, p, strict=True) if pi >= pt and yi == 1)
    fp = sum(1 for yi, pi in zip(y, p, strict=True) if pi >= pt and yi == 0)
    return tp / n - fp / n * pt / (1 - pt)


def test_decision_curve_matches_brute_force():
    y, p = sample(n=250, seed=4)
    p = np.round(p, 2)  # ties at thresholds exercise the >= rule
    y2, p2 = sample(n=250, seed=5)
    curve = decision_curve(y, {"a": p, "b": np.round(p2, 2)})
    prevalence = y.mean()
    for k, pt in enumerate(curve.thresholds):
        assert curve.models["a"][k] == pytest.approx(brute_net_benefit(y, p, pt), abs=1e-14)
        assert curve.models["b"][k] == pytest.approx(
            brute_net_benefit(y, np.round(p2, 2), pt), abs=1e-14
        )
        assert curve.treat_all[k] == pytest.approx(prevalence - (1 - prevalence) * pt / (1 - pt))
        assert curve.treat_none[k] == 0
    assert len(curve.thresholds) == 99
    assert curve.thresholds[0] == 0.01 and curve.thresholds[-1] == 0.99
    frame = curve.to_frame()
    assert list(frame.columns) == ["threshold", "treat_all", "treat_none", "a", "b"]
    json.dumps(curve.to_dict(), allow_nan=False)


def test_decision_curve_reference_points():
    """A perfect model has net benefit = prevalence at every threshold; a model predicting 1 for
    everyone equals treat-all (Vickers & Elkin 2006)."""
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    perfect = decision_curve(y, y.astype(float), thresholds=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(perfect.models["model"], y.mean())
    everyone = decision_curve(y, np.ones(8), thresholds=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(everyone.models["model"], everyone.treat_all)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=2, max_size=40
    ),
    thresholds=st.lists(st.floats(0.001, 0.999, allow_nan=False), min_size=1, max_size=5),
)
def test_decision_curve_property(data, thresholds):
    y = np.array([d[0] for d in data])
    p = np.array([d[1] for d in data])
    curve = decision_curve(y, p, thresholds=thresholds)
    for k, pt in enumerate(thresholds):
        assert curve.models["model"][k] == pytest.approx(brute_net_benefit(y, p, pt), abs=1e-12)
    assert 0 <= brier_score(y, p) <= 1


# --------------------------------------------------------------------------------------------
# summary, DataFrame front and errors
# --------------------------------------------------------------------------------------------


def test_calibration_summary_to_dict():
    y, p = sample(seed=3)
    out = calibration_summary(y, p, n_bins=8).to_dict()
    json.dumps(out, allow_nan=False)
    assert set(out) == {
        "n",
        "events",
        "alpha",
        "brier",
        "brier_scaled",
        "calibration_slope",
        "calibration_intercept",
        "expected_observed",
        "reliability",
        "warnings",
    }
    assert out["brier_scaled"] == pytest.approx(1 - out["brier"] / (y.mean() * (1 - y.mean())))
    assert len(out["reliability"]["bins"]) == 8


def test_calibration_analysis_from_ratings():
    y, p = sample(n=60, seed=9)
    frame = pd.DataFrame(
        {
            "case": np.tile(np.arange(60), 2),
            "reader": ["model"] * 60 + ["doc"] * 60,
            "score": np.r_[p, np.random.default_rng(1).integers(0, 3, 60)],
            "truth": np.tile(y, 2),
        }
    )
    res = calibration_analysis(frame, reader="model")
    assert res.brier == pytest.approx(brier_score(y, p))
    with pytest.raises(AnalysisInputError, match="reader 'doc'.*not a probability"):
        calibration_analysis(frame, reader="doc")
    with pytest.raises(AnalysisInputError, match="'nobody' not found"):
        calibration_analysis(frame, reader="nobody")
    dca = decision_curve_analysis(frame.assign(score=np.r_[p, p[::-1]]), readers=["model", "doc"])
    assert set(dca.models) == {"model", "doc"}


def test_input_errors_name_the_bad_value():
    with pytest.raises(AnalysisInputError, match=r"1\.5 at position 2"):
        brier_score([0, 1, 1], [0.2, 0.3, 1.5])
    with pytest.raises(AnalysisInputError, match="truth must be 0 or 1: 2 at position 1"):
        brier_score([0, 2], [0.2, 0.3])
    with pytest.raises(AnalysisInputError, match="3 values but predicted has 2"):
        brier_score([0, 1, 1], [0.2, 0.3])
    with pytest.raises(AnalysisInputError, match="strictly between 0 and 1"):
        decision_curve([0, 1], [0.2, 0.3], thresholds=[0.5, 1.0])
    with pytest.raises(AnalysisInputError, match="strategy"):
        reliability_curve([0, 1], [0.2, 0.3], strategy="kmeans")


def test_score_that_is_not_a_probability_names_data_row_reader_and_case():
    ratings = pd.DataFrame(
        {
            "case": ["a", "b", "c", "a", "b", "c"],
            "reader": ["R1"] * 3 + ["M"] * 3,
            "score": [1, 2, 0, 0.2, 1.7, 0.4],
            "truth": [0, 1, 0, 0, 1, 0],
        }
    )
    with pytest.raises(
        AnalysisInputError,
        match=r"column 'score': 1.7 at data row 5 \(reader 'M', case 'b'\) is not a probability",
    ):
        calibration_analysis(ratings, reader="M")
