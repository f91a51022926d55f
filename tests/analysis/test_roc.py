"""ROC curve, AUC and its confidence intervals against pROC and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from analysis import (
    AnalysisInputError,
    auc_confidence_interval,
    logit_interval,
    roc_analysis,
    roc_auc,
    roc_curve,
)

ROC_CASES = [
    "roc.aSAH.wfns.auc_delong_ci",
    "roc.aSAH.s100b.auc_delong_ci",
    "roc.aSAH.ndka.auc_delong_ci",
    "roc.aSAH.female_subset.ndka.ci",
]


def _case_data(reference, reference_frame, case_id: str) -> tuple[np.ndarray, np.ndarray]:
    case = reference[case_id]
    inputs = case["inputs"]
    frame = reference_frame(case["dataset"])
    if inputs.get("filter") == "gender == 'Female'":
        frame = frame[frame["gender"] == "Female"]
    elif "filter" in inputs:
        raise AssertionError(f"unhandled filter {inputs['filter']!r}")
    truth = (frame[inputs["truth_column"]] == inputs["positive_value"]).astype(int)
    return frame[inputs["score_column"]].to_numpy(float), truth.to_numpy()


@pytest.mark.parametrize("case_id", ROC_CASES)
def test_auc_delong_variance_and_wald_ci_match_pROC(reference, reference_frame, case_id):
    # Source: pROC 1.18.0 (R 4.2.2), pROC::roc(aSAH$outcome, aSAH$<marker>); auc(); var();
    # ci.auc(method = "delong") -- xrobin/pROC @ ee2877e, tests/testthat/test-var.R,
    # test-auc.R, test-ci.auc.R; tolerances from the case ("exact" for AUC, "full" otherwise).
    scores, truth = _case_data(reference, reference_frame, case_id)
    expected = reference[case_id]["expected"]
    estimate = auc_confidence_interval(scores, truth, alpha=0.05)
    reference.assert_close(case_id, "auc", estimate.auc)
    reference.assert_close(case_id, "var_delong", estimate.variance)
    if "se_delong" in expected:
        reference.assert_close(case_id, "se_delong", estimate.se)
    if "n_cases" in expected:
        reference.assert_close(case_id, "n_cases", estimate.n_positive)
        reference.assert_close(case_id, "n_controls", estimate.n_negative)
    for bound, value in zip(("lower", "upper"), estimate.ci, strict=True):
        reference.assert_close(case_id, "ci95_delong", value, expected["ci95_delong"][bound])
    if "ci90_delong" in expected:
        ninety = auc_confidence_interval(scores, truth, alpha=0.10)
        for bound, value in zip(("lower", "upper"), ninety.ci, strict=True):
            reference.assert_close(case_id, "ci90_delong", value, expected["ci90_delong"][bound])


@pytest.mark.parametrize("case_id", ROC_CASES)
def test_auc_matches_sklearn_and_trapezoid(reference, reference_frame, case_id):
    # Independent check listed in expected.json: sklearn roc_auc_score (scikit-learn 1.9.1).
    scores, truth = _case_data(reference, reference_frame, case_id)
    assert roc_auc(scores, truth) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert roc_curve(scores, truth).auc == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_roc_curve_has_every_distinct_threshold_like_sklearn(reference_frame):
    frame = reference_frame("aSAH.csv")
    for marker in ("wfns", "s100b", "ndka"):
        curve = roc_curve(frame[marker], frame["outcome_poor"])
        fpr, tpr, thresholds = sklearn_roc_curve(
            frame["outcome_poor"], frame[marker], drop_intermediate=False
        )
        np.testing.assert_array_equal(curve.thresholds, thresholds)
        np.testing.assert_allclose(curve.fpr, fpr, atol=1e-15)
        np.testing.assert_allclose(curve.tpr, tpr, atol=1e-15)
        assert curve.thresholds.size == np.unique(frame[marker]).size + 1


def test_midpoint_thresholds_follow_pROC_convention():
    curve = roc_curve([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 0.8, 0.4, 0.1])
    np.testing.assert_allclose(curve.midpoint_thresholds, [np.inf, 0.6, 0.25, -np.inf])


def test_logit_interval_stays_inside_unit_interval_and_is_asymmetric():
    lower, upper = logit_interval(0.97, 0.03)
    assert 0.0 < lower < 0.97 < upper < 1.0
    assert (upper - 0.97) < (0.97 - lower)
    # Delta method: logit(0.8) +/- 1.96 * 0.05 / (0.8 * 0.2), back-transformed.
    centre = np.log(0.8 / 0.2)
    half = 1.959963984540054 * 0.05 / 0.16
    expected = 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))
    np.testing.assert_allclose(logit_interval(0.8, 0.05), expected, rtol=1e-12)
    assert all(np.isnan(logit_interval(1.0, 0.0)))


def test_wald_ci_is_clipped_to_unit_interval():
    estimate = auc_confidence_interval([0.1, 0.2, 0.3, 0.9, 0.95, 0.2], [0, 0, 0, 1, 1, 1])
    assert estimate.ci[1] <= 1.0
    assert estimate.ci[0] >= 0.0


def test_roc_analysis_reports_each_reader_and_modality():
    frame = pd.DataFrame(
        {
            "case": [1, 2, 3, 4] * 4,
            "reader": ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            "modality": ["unaided"] * 8 + ["aided"] * 8,
            "score": [1, 2, 3, 4, 3, 1, 4, 2, 1, 3, 2, 4, 1, 2, 3, 4],
            "truth": [0, 0, 1, 1] * 4,
        }
    )
    results = roc_analysis(frame)
    assert [(r.modality, r.reader) for r in results] == [
        ("unaided", "A"),
        ("unaided", "B"),
        ("aided", "A"),
        ("aided", "B"),
    ]
    assert results[0].estimate.auc == 1.0
    assert results[1].estimate.auc == 0.75
    row = results[1].to_dict()
    assert set(row) >= {"reader", "modality", "n_positive", "n_negative", "auc", "se", "ci95"}


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ([0, 0, 0, 0], "no positive cases"),
        ([1, 1, 1, 1], "no negative cases"),
        ([0, 1, 2, 1], "truth must be 0 or 1"),
        ([0, 1, np.nan, 1], "truth must be 0 or 1"),
    ],
)
def test_bad_truth_is_rejected_with_a_clear_message(truth, message):
    with pytest.raises(AnalysisInputError, match=message):
        auc_confidence_interval([0.1, 0.2, 0.3, 0.4], truth)


def test_reader_without_positives_is_named():
    frame = pd.DataFrame(
        {
            "case": [1, 2, 3, 1, 2, 3],
            "reader": ["A"] * 3 + ["B"] * 3,
            "score": [0.1, 0.2, 0.3, 0.3, 0.2, 0.1],
            "truth": [0, 0, 0, 0, 0, 0],
        }
    )
    with pytest.raises(AnalysisInputError, match="reader 'A': no positive cases"):
        roc_analysis(frame)


def test_non_finite_score_is_rejected():
    with pytest.raises(AnalysisInputError, match="not a finite number"):
        roc_auc([0.1, np.inf, 0.3], [0, 1, 1])
    with pytest.raises(AnalysisInputError, match="3 scores but 2 truth values"):
        roc_auc([0.1, 0.2, 0.3], [0, 1])


def _uneven_table() -> pd.DataFrame:
    # Reader B did not rate case c4.
    rows = [
        ("c1", "A", 0.1, 0), ("c2", "A", 0.8, 1), ("c3", "A", 0.4, 0), ("c4", "A", 0.7, 1),
        ("c1", "B", 0.2, 0), ("c2", "B", 0.9, 1), ("c3", "B", 0.6, 0),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["case", "reader", "score", "truth"])


def test_readers_with_different_cases_are_refused_naming_readers_and_counts():
    with pytest.raises(
        AnalysisInputError,
        match=r"readers rated different cases \(4 cases in all; cases rated: 'A' 4, 'B' 3\)"
        r".*allow_different_cases=True",
    ):
        roc_analysis(_uneven_table())


def test_readers_with_different_cases_are_analysed_with_a_warning_when_allowed():
    results = roc_analysis(_uneven_table(), allow_different_cases=True)
    assert [r.estimate.n_positive + r.estimate.n_negative for r in results] == [4, 3]
    for result in results:
        assert any("readers rated different cases" in w for w in result.warnings)
        assert result.to_dict()["warnings"] == list(result.warnings)
    # Same cases: no warning.
    same = roc_analysis(_uneven_table().query("case != 'c4'"))
    assert all(result.warnings == () for result in same)


def test_roc_row_gives_the_variance():
    row = roc_analysis(_uneven_table().query("case != 'c4'"))[0].to_dict()
    assert row["variance"] == pytest.approx(row["se"] ** 2, rel=1e-12)
