"""Operating points (Youden, fixed FPR), Wilson intervals, threshold transfer, McNemar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar
from statsmodels.stats.proportion import proportion_confint

from analysis import (
    AnalysisInputError,
    closest_to_top_left,
    mcnemar_sensitivity_specificity,
    mcnemar_test,
    operating_point,
    threshold_analysis,
    threshold_at_fpr,
    thresholds_at_fprs,
    transfer_threshold,
    wilson_interval,
    youden_threshold,
)
from analysis._jsonable import to_jsonable

MARKERS = ["wfns", "s100b", "ndka"]


def _asah(reference_frame) -> pd.DataFrame:
    return reference_frame("aSAH.csv")


@pytest.mark.parametrize("marker", MARKERS)
def test_youden_matches_pROC_coords_best(reference, reference_frame, marker):
    # Source: pROC 1.18.0 (R 4.2.2), coords(roc, "best", best.method = "youden",
    # ret = c("threshold", "specificity", "sensitivity", "tp", "fp", "tn", "fn")); pROC reports
    # "youden" as se + sp; its thresholds are midpoints (threshold_pROC_midpoint), the observed
    # equivalent is threshold_observed_ge. Tolerance "exact" (abs 1e-12).
    case_id = f"roc.aSAH.{marker}.youden"
    expected = reference[case_id]["expected"]
    frame = _asah(reference_frame)
    result = youden_threshold(frame[marker], frame["outcome_poor"])
    point = result.point
    reference.assert_close(case_id, "J", result.j)
    reference.assert_close(case_id, "sensitivity", point.sensitivity.estimate)
    reference.assert_close(case_id, "specificity", point.specificity.estimate)
    for field in ("tp", "fp", "tn", "fn"):
        reference.assert_close(case_id, field, getattr(point, field))
    reference.assert_close(case_id, "threshold_observed_ge", point.threshold)
    reference.assert_close(case_id, "threshold_pROC_midpoint", point.threshold_midpoint)
    reference.assert_close(case_id, "n_optimal_points", result.n_optimal_points)
    assert result.sensitivity_plus_specificity == pytest.approx(expected["J"] + 1.0, abs=1e-12)
    top_left = closest_to_top_left(frame[marker], frame["outcome_poor"]).point
    closest = expected["closest_topleft"]
    reference.assert_close(
        case_id, "closest_topleft", top_left.threshold_midpoint, closest["threshold_pROC_midpoint"]
    )
    reference.assert_close(
        case_id, "closest_topleft", top_left.sensitivity.estimate, closest["sensitivity"]
    )
    reference.assert_close(
        case_id, "closest_topleft", top_left.specificity.estimate, closest["specificity"]
    )


@pytest.mark.parametrize("marker", MARKERS)
def test_fixed_fpr_definitions_a_b_c_match_references(reference, reference_frame, marker):
    # Source: pROC 1.18.0 coords (A: step over observed thresholds; B: pROC interpolation,
    # coords(x = 1 - fpr, input = "specificity")) and MRMCaov 0.3.0 empirical_sens (C),
    # brian-j-smith/MRMCaov @ d79e49b. Tolerances: A "exact", B and C abs 1e-12.
    case_id = f"roc.aSAH.{marker}.sens_at_fixed_fpr"
    case = reference[case_id]
    expected = case["expected"]
    frame = _asah(reference_frame)
    points = thresholds_at_fprs(
        frame[marker], frame["outcome_poor"], target_fprs=case["inputs"]["target_fpr"]
    )
    for point, step, interpolated, envelope in zip(
        points,
        expected["A_step"],
        expected["B_interp_pROC_sensitivity"],
        expected["C_interp_MRMCaov_sensitivity"],
        strict=True,
    ):
        assert point.target_fpr == step["target_fpr"]
        actual = point.point
        reference.assert_close(case_id, "A_step", actual.threshold, step["threshold_observed_ge"])
        reference.assert_close(
            case_id, "A_step", actual.threshold_midpoint, step["threshold_pROC_midpoint"]
        )
        reference.assert_close(case_id, "A_step", actual.fpr, step["fpr"])
        reference.assert_close(case_id, "A_step", actual.sensitivity.estimate, step["sensitivity"])
        reference.assert_close(case_id, "A_step", actual.specificity.estimate, step["specificity"])
        for field in ("tp", "fp", "tn", "fn"):
            reference.assert_close(case_id, "A_step", getattr(actual, field), step[field])
        reference.assert_close(
            case_id, "B_interp_pROC_sensitivity", point.sensitivity_interpolated, interpolated
        )
        reference.assert_close(
            case_id,
            "C_interp_MRMCaov_sensitivity",
            point.sensitivity_envelope_interpolated,
            envelope,
        )


def test_operating_point_counts_rates_and_wilson_intervals():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    truth = [1, 1, 0, 1, 0, 0, 1, 0]
    point = operating_point(scores, truth, threshold=0.6)
    assert (point.tp, point.fp, point.tn, point.fn) == (3, 1, 3, 1)
    assert point.sensitivity.estimate == 0.75
    assert point.specificity.estimate == 0.75
    assert (point.accuracy.numerator, point.accuracy.denominator) == (6, 8)
    assert (point.ppv.numerator, point.ppv.denominator) == (3, 4)
    assert (point.npv.numerator, point.npv.denominator) == (3, 4)
    assert point.threshold_midpoint == pytest.approx(0.55)
    lower, upper = proportion_confint(3, 4, alpha=0.05, method="wilson")
    assert point.sensitivity.ci == pytest.approx((lower, upper), abs=1e-12)


@pytest.mark.parametrize(("successes", "total"), [(0, 10), (10, 10), (7, 31), (1, 1), (50, 97)])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_wilson_interval_matches_statsmodels(successes, total, alpha):
    expected = proportion_confint(successes, total, alpha=alpha, method="wilson")
    assert wilson_interval(successes, total, alpha=alpha) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_with_no_cases_is_undefined():
    assert all(np.isnan(wilson_interval(0, 0)))
    with pytest.raises(AnalysisInputError, match="successes <= total"):
        wilson_interval(5, 3)


def test_threshold_above_every_score_calls_nobody_positive():
    point = operating_point([0.1, 0.2, 0.3], [0, 1, 1], threshold=np.inf)
    assert (point.tp, point.fp) == (0, 0)
    assert np.isnan(point.ppv.estimate)
    assert point.to_dict()["threshold"] is None


def test_transfer_threshold_applies_the_derivation_cut_off_unchanged():
    # Seed 003: the Youden cut-off of the training set is applied to the test sets.
    rng = np.random.default_rng(2)
    train_truth = (rng.random(200) < 0.4).astype(int)
    train_scores = train_truth + rng.normal(size=200)
    test_truth = (rng.random(150) < 0.3).astype(int)
    test_scores = 0.8 * test_truth + rng.normal(size=150)
    transfer = transfer_threshold(train_scores, train_truth, test_scores, test_truth)
    youden = youden_threshold(train_scores, train_truth).point
    assert transfer.threshold == youden.threshold
    assert transfer.derivation == youden
    assert transfer.validation == operating_point(
        test_scores, test_truth, threshold=youden.threshold
    )
    at_fpr = transfer_threshold(train_scores, train_truth, test_scores, test_truth, target_fpr=0.1)
    assert at_fpr.rule == "fpr<=0.1"
    assert at_fpr.derivation.fpr <= 0.1


@pytest.mark.parametrize(
    "table",
    [
        [[10, 5], [2, 20]],
        [[10, 0], [0, 5]],
        [[3, 9], [1, 4]],
        [[40, 13], [27, 9]],
        [[0, 4], [4, 0]],
    ],
)
def test_mcnemar_matches_statsmodels(table):
    (both, only_a), (only_b, neither) = table
    correct_a = np.r_[np.ones(both + only_a), np.zeros(only_b + neither)].astype(bool)
    correct_b = np.r_[np.ones(both), np.zeros(only_a), np.ones(only_b), np.zeros(neither)].astype(
        bool
    )
    exact = mcnemar_test(correct_a, correct_b, method="exact")
    chi2 = mcnemar_test(correct_a, correct_b, method="chi2")
    reference_exact = statsmodels_mcnemar(np.array(table), exact=True)
    assert (exact.only_a_correct, exact.only_b_correct) == (only_a, only_b)
    assert exact.p_value == pytest.approx(reference_exact.pvalue, rel=1e-12)
    assert exact.method == "exact binomial"
    assert chi2.method == "chi-square with continuity correction"
    if only_a + only_b:
        reference_chi2 = statsmodels_mcnemar(np.array(table), exact=False, correction=True)
        assert chi2.statistic == pytest.approx(reference_chi2.statistic, rel=1e-12)
        assert chi2.p_value == pytest.approx(reference_chi2.pvalue, rel=1e-12)
    else:
        assert chi2.p_value == 1.0


def test_mcnemar_on_sensitivity_uses_positives_and_specificity_negatives():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    reader = np.array([1, 1, 0, 0, 0, 0, 1, 1], dtype=bool)
    model = np.array([1, 1, 1, 1, 0, 1, 1, 1], dtype=bool)
    tests = mcnemar_sensitivity_specificity(model, reader, truth)
    assert tests["sensitivity"].proportion_a == 1.0
    assert tests["sensitivity"].proportion_b == 0.5
    assert tests["sensitivity"].only_a_correct == 2
    assert tests["specificity"].proportion_a == 0.25
    assert tests["specificity"].proportion_b == 0.5


def test_threshold_analysis_per_reader_and_unknown_reader():
    frame = pd.DataFrame(
        {
            "case": [1, 2, 3, 4] * 2,
            "reader": ["A"] * 4 + ["B"] * 4,
            "score": [0.1, 0.4, 0.35, 0.8, 0.2, 0.3, 0.6, 0.9],
            "truth": [0, 0, 1, 1] * 2,
        }
    )
    results = threshold_analysis(frame, target_fprs=[0.5])
    assert [item.reader for item in results] == ["A", "B"]
    assert results[1].youden.j == 1.0
    with pytest.raises(AnalysisInputError, match=r"reader\(s\) \['Z'\] not found"):
        threshold_analysis(frame, readers=["Z"])


def test_bad_target_fpr_is_rejected():
    with pytest.raises(AnalysisInputError, match="target FPR must be between 0 and 1"):
        thresholds_at_fprs([0.1, 0.9], [0, 1], target_fprs=[1.5])


def test_infinite_thresholds_say_which_infinity_in_strict_json():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    truth = np.array([0, 0, 1, 1])
    nobody = operating_point(scores, truth, threshold=0.9).to_dict()
    everybody = operating_point(scores, truth, threshold=0.0).to_dict()
    finite = operating_point(scores, truth, threshold=0.4).to_dict()
    for document in (nobody, everybody, finite):
        json.dumps(to_jsonable(document), allow_nan=False)  # as the command line writes it
    assert nobody["threshold_midpoint"] is None
    assert nobody["threshold_midpoint_infinite"] == "+inf"
    assert nobody["threshold_infinite"] is None  # 0.9 itself is finite
    assert everybody["threshold_midpoint"] is None
    assert everybody["threshold_midpoint_infinite"] == "-inf"
    assert finite["threshold_midpoint"] == pytest.approx(0.375)
    assert finite["threshold_midpoint_infinite"] is None
    # The highest score is a negative: at FPR 0 only "nobody positive" (threshold +inf) is left.
    top = threshold_at_fpr([0.9, 0.1, 0.5, 0.3], [0, 0, 1, 1], target_fpr=0.0).to_dict()
    assert top["threshold"] is None and top["threshold_infinite"] == "+inf"
    assert top["threshold_midpoint"] is None and top["threshold_midpoint_infinite"] == "+inf"
