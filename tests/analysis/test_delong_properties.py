"""Property tests (hypothesis): invariances and symmetries every AUC / DeLong result must have."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve as sklearn_roc_curve

from analysis import (
    auc_confidence_interval,
    delong_covariance,
    delong_naive,
    paired_auc_test,
    roc_curve,
    threshold_at_fpr,
    youden_threshold,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled_scores(draw, *, readers: int = 1, ties: bool | None = None):
    """Truth with both classes and ``readers`` score vectors (ties likely when asked)."""
    n = draw(st.integers(min_value=2, max_value=40))
    truth = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    truth[0], truth[1] = 0, 1
    coarse = draw(st.booleans()) if ties is None else ties
    # Small integer grids produce many ties; floats almost none.
    element = (
        st.integers(-3, 3).map(float)
        if coarse
        else st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    )
    scores = [draw(st.lists(element, min_size=n, max_size=n)) for _ in range(readers)]
    return np.array(scores, dtype=float), np.array(truth)


MONOTONE = [
    ("affine", lambda x: 3.0 * x + 7.0),
    ("cube", lambda x: x**3),
    ("arctan", np.arctan),
    ("exp-scaled", lambda x: np.exp(x / 500.0)),
]


@SETTINGS
@given(data=labelled_scores(), transform=st.sampled_from(MONOTONE))
def test_auc_and_variance_invariant_under_monotone_transform(data, transform):
    scores, truth = data
    name, function = transform
    transformed = function(scores[0])
    # A strictly increasing map must keep the order; guard against float collisions it creates.
    if np.unique(transformed).size != np.unique(scores[0]).size:
        return
    original = auc_confidence_interval(scores[0], truth)
    mapped = auc_confidence_interval(transformed, truth)
    assert mapped.auc == original.auc, name
    np.testing.assert_allclose(mapped.variance, original.variance, rtol=1e-12, atol=1e-18)
    first, second = roc_curve(scores[0], truth), roc_curve(transformed, truth)
    np.testing.assert_array_equal(first.fpr, second.fpr)
    np.testing.assert_array_equal(first.tpr, second.tpr)


@SETTINGS
@given(data=labelled_scores())
def test_negated_scores_give_complementary_auc_and_same_variance(data):
    scores, truth = data
    forward = auc_confidence_interval(scores[0], truth)
    backward = auc_confidence_interval(-scores[0], truth)
    assert abs(backward.auc - (1.0 - forward.auc)) < 1e-12
    np.testing.assert_allclose(backward.variance, forward.variance, rtol=1e-10, atol=1e-18)


@SETTINGS
@given(data=labelled_scores(readers=2))
def test_compare_a_b_mirrors_compare_b_a(data):
    scores, truth = data
    forward = paired_auc_test(scores[0], scores[1], truth)
    backward = paired_auc_test(scores[1], scores[0], truth)
    assert forward.difference == -backward.difference
    assert forward.se == backward.se
    if np.isfinite(forward.z):
        assert forward.z == -backward.z
        assert forward.p_value == backward.p_value
        assert forward.ci[0] == -backward.ci[1]
        assert forward.ci[1] == -backward.ci[0]


@SETTINGS
@given(data=labelled_scores(readers=3))
def test_fast_delong_equals_pairwise_definition_with_ties(data):
    # Ties count one half, as pROC: the fast midrank algorithm must equal the O(m n) definition.
    scores, truth = data
    fast = delong_covariance(scores, truth)
    slow = delong_naive(scores, truth)
    np.testing.assert_allclose(fast.auc, slow.auc, atol=1e-13)
    np.testing.assert_allclose(fast.covariance, slow.covariance, rtol=1e-9, atol=1e-15)


@SETTINGS
@given(data=labelled_scores(ties=True))
def test_auc_with_ties_counts_half(data):
    scores, truth = data
    positives = scores[0][truth == 1]
    negatives = scores[0][truth == 0]
    expected = np.mean(
        (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    )
    assert abs(auc_confidence_interval(scores[0], truth).auc - expected) < 1e-13


@SETTINGS
@given(data=labelled_scores())
def test_roc_curve_equals_sklearn_without_dropping_points(data):
    scores, truth = data
    curve = roc_curve(scores[0], truth)
    fpr, tpr, thresholds = sklearn_roc_curve(truth, scores[0], drop_intermediate=False)
    np.testing.assert_array_equal(curve.thresholds, thresholds)
    np.testing.assert_allclose(curve.fpr, fpr, atol=1e-15)
    np.testing.assert_allclose(curve.tpr, tpr, atol=1e-15)


@SETTINGS
@given(data=labelled_scores(), target=st.floats(0.0, 1.0))
def test_step_point_is_best_sensitivity_within_target_fpr(data, target):
    scores, truth = data
    point = threshold_at_fpr(scores[0], truth, target_fpr=target).point
    negatives = int((truth == 0).sum())
    assert point.fp <= target * negatives + 1e-9
    called = scores[0] >= point.threshold
    assert point.tp == int((called & (truth == 1)).sum())
    assert point.fp == int((called & (truth == 0)).sum())
    curve = roc_curve(scores[0], truth)
    eligible = curve.false_positives <= target * negatives + 1e-9
    assert point.tp == curve.true_positives[eligible].max()


@SETTINGS
@given(data=labelled_scores())
def test_youden_is_the_maximum_of_tpr_minus_fpr(data):
    scores, truth = data
    result = youden_threshold(scores[0], truth)
    fpr, tpr, _ = sklearn_roc_curve(truth, scores[0], drop_intermediate=False)
    assert abs(result.j - (tpr - fpr).max()) < 1e-12
    assert result.sensitivity_plus_specificity == result.j + 1.0
