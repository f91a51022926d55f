"""DeLong covariance, paired and unpaired tests, reader means, clustered data, bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis import (
    AnalysisInputError,
    auc_confidence_interval,
    cluster_bootstrap_auc,
    cluster_bootstrap_difference,
    clustered_covariance,
    compare_readers,
    delong_covariance,
    delong_naive,
    model_vs_reader_mean,
    paired_auc_test,
    reader_mean_auc,
    unpaired_auc_test,
)
from analysis.delong import _weighted_aucs

ASAH_PAIRS = [
    ("delong.aSAH.paired.wfns_vs_s100b", "wfns", "s100b"),
    ("delong.aSAH.paired.wfns_vs_ndka", "wfns", "ndka"),
    ("delong.aSAH.paired.ndka_vs_s100b", "ndka", "s100b"),
]


@pytest.mark.parametrize(("case_id", "first", "second"), ASAH_PAIRS)
def test_paired_delong_matches_pROC_roc_test(reference, reference_frame, case_id, first, second):
    # Source: pROC 1.18.0 (R 4.2.2), roc.test(r1, r2, method = "delong", paired = TRUE) and
    # cov(r1, r2, method = "delong"); xrobin/pROC @ ee2877e tests/testthat/test-roc.test.R,
    # test-cov.R. Tolerance: "exact" for AUCs, "full" (rel 1e-9) for the rest.
    frame = reference_frame("aSAH.csv")
    expected = reference[case_id]["expected"]
    test = paired_auc_test(frame[first], frame[second], frame["outcome_poor"])
    reference.assert_close(case_id, "auc1", test.auc_a)
    reference.assert_close(case_id, "auc2", test.auc_b)
    reference.assert_close(case_id, "auc_diff", test.difference)
    reference.assert_close(case_id, "cov_delong", test.covariance_ab)
    reference.assert_close(case_id, "var_diff", test.variance)
    reference.assert_close(case_id, "Z", test.z)
    reference.assert_close(case_id, "p_two_sided", test.p_value)
    reference.assert_close(case_id, "p_greater", float(norm.sf(test.z)))
    reference.assert_close(case_id, "p_less", float(norm.cdf(test.z)))
    for bound, value in zip(("lower", "upper"), test.ci, strict=True):
        reference.assert_close(case_id, "ci95_diff", value, expected["ci95_diff"][bound])


@pytest.mark.parametrize(("case_id", "first", "second"), ASAH_PAIRS)
def test_unpaired_delong_matches_pROC(reference, reference_frame, case_id, first, second):
    # Source: pROC 1.18.0, roc.test(r1, r2, method = "delong", paired = FALSE): statistic D,
    # Welch-type df, p from the t distribution (unpaired_D, unpaired_df, unpaired_p; "full").
    frame = reference_frame("aSAH.csv")
    truth = frame["outcome_poor"]
    test = unpaired_auc_test(frame[first], truth, frame[second], truth)
    reference.assert_close(case_id, "unpaired_D", test.statistic)
    reference.assert_close(case_id, "unpaired_df", test.df)
    reference.assert_close(case_id, "unpaired_p", test.p_value)


@pytest.mark.parametrize(
    ("case_id", "dataset"),
    [
        ("delong.synthetic.syn_small", "delong_synthetic_small_ties.csv"),
        ("delong.synthetic.syn_large", "delong_synthetic_large.csv"),
        ("delong.synthetic.syn_huge", "delong_synthetic_huge.csv"),
    ],
)
def test_synthetic_delong_cases_match_pROC(reference, reference_frame, case_id, dataset):
    # Source: pROC 1.18.0 (R 4.2.2) on generators/01_make_datasets_and_refs.R data; syn_huge has
    # m * n = 2.4e9 > 2^31 (pROC issue #19 overflow guard). p-values of large/huge use the
    # "pval_tiny" relative tolerance, the rest "full"; AUCs "exact".
    frame = reference_frame(dataset)
    expected = reference[case_id]["expected"]
    truth = frame["truth"].to_numpy()
    test = paired_auc_test(frame["score_a"], frame["score_b"], truth)
    reference.assert_close(case_id, "auc_a", test.auc_a)
    reference.assert_close(case_id, "auc_b", test.auc_b)
    reference.assert_close(case_id, "var_a", test.variance_a)
    reference.assert_close(case_id, "var_b", test.variance_b)
    reference.assert_close(case_id, "cov_ab", test.covariance_ab)
    reference.assert_close(case_id, "Z", test.z)
    reference.assert_close(case_id, "p_two_sided", test.p_value)
    for bound, value in zip(("lower", "upper"), test.ci, strict=True):
        reference.assert_close(case_id, "ci95_diff", value, expected["ci95_diff"][bound])
    for column, field in (("score_a", "ci95_a"), ("score_b", "ci95_b")):
        single = auc_confidence_interval(frame[column], truth)
        for bound, value in zip(("lower", "upper"), single.ci, strict=True):
            reference.assert_close(case_id, field, value, expected[field][bound])


def test_vandyke_reader1_modality_comparison_matches_pROC(reference, reference_frame):
    # Source: pROC 1.18.0 paired DeLong on MRMCaov's VanDyke data (reader 1, modality 1 vs 2,
    # 5-point ratings with many ties); case delong.vandyke.reader1.mod1_vs_mod2, "full".
    case_id = "delong.vandyke.reader1.mod1_vs_mod2"
    expected = reference[case_id]["expected"]
    ratings = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    test = compare_readers(ratings, a="1", b="1", modality_a="1", modality_b="2")
    reference.assert_close(case_id, "auc_mod1", test.auc_a)
    reference.assert_close(case_id, "auc_mod2", test.auc_b)
    reference.assert_close(case_id, "var_mod1", test.variance_a)
    reference.assert_close(case_id, "var_mod2", test.variance_b)
    reference.assert_close(case_id, "cov", test.covariance_ab)
    reference.assert_close(case_id, "Z", test.z)
    reference.assert_close(case_id, "p_two_sided", test.p_value)
    for bound, value in zip(("lower", "upper"), test.ci, strict=True):
        reference.assert_close(case_id, "ci95_diff", value, expected["ci95_diff"][bound])
    reader1 = ratings[ratings["reader"] == 1]
    for modality, field in (("1", "ci95_mod1"), ("2", "ci95_mod2")):
        rows = reader1[reader1["modality"].astype(str) == modality]
        single = auc_confidence_interval(rows["score"], rows["truth"])
        for bound, value in zip(("lower", "upper"), single.ci, strict=True):
            reference.assert_close(case_id, field, value, expected[field][bound])


def _random_scores(
    rng: np.random.Generator, k: int, n: int, *, ties: bool
) -> tuple[np.ndarray, np.ndarray]:
    truth = (rng.random(n) < 0.4).astype(int)
    truth[:2] = [0, 1]
    scores = rng.normal(size=(k, n)) + truth * rng.uniform(0.2, 1.5, size=(k, 1))
    if ties:
        scores = np.round(scores)
    return scores, truth


@pytest.mark.parametrize("ties", [False, True])
def test_fast_delong_equals_naive_definition(ties):
    rng = np.random.default_rng(11 if ties else 12)
    for n in (5, 37, 400):
        scores, truth = _random_scores(rng, 4, n, ties=ties)
        fast = delong_covariance(scores, truth)
        slow = delong_naive(scores, truth)
        np.testing.assert_allclose(fast.auc, slow.auc, rtol=0, atol=1e-13)
        np.testing.assert_allclose(fast.covariance, slow.covariance, rtol=1e-10, atol=1e-16)


def _clustered_by_definition(scores, truth, clusters):
    """Obuchowski (1997), one reader, written as loops over clusters (iMRMC doAUCcluster)."""
    scores = np.asarray(scores, float)
    positives = scores[truth == 1]
    negatives = scores[truth == 0]

    def psi(x, y):
        return 1.0 if x > y else 0.5 if x == y else 0.0

    auc = np.mean([[psi(x, y) for y in negatives] for x in positives])
    labels = sorted(set(clusters))
    big_m, big_n = len(positives), len(negatives)
    x_sums, y_sums, m_i, n_i = [], [], [], []
    for label in labels:
        in_cluster = np.array([c == label for c in clusters])
        xs = scores[in_cluster & (truth == 1)]
        ys = scores[in_cluster & (truth == 0)]
        x_sums.append(sum(np.mean([psi(x, y) for y in negatives]) for x in xs))
        y_sums.append(sum(np.mean([psi(x, y) for x in positives]) for y in ys))
        m_i.append(len(xs))
        n_i.append(len(ys))
    x_sums, y_sums, m_i, n_i = map(np.array, (x_sums, y_sums, m_i, n_i))
    i10, i01, i_all = (m_i > 0).sum(), (n_i > 0).sum(), len(labels)
    s10 = i10 / ((i10 - 1) * big_m) * ((x_sums - m_i * auc) ** 2).sum()
    s01 = i01 / ((i01 - 1) * big_n) * ((y_sums - n_i * auc) ** 2).sum()
    s11 = i_all / (i_all - 1) * ((x_sums - m_i * auc) * (y_sums - n_i * auc)).sum()
    return auc, s10 / big_m + s01 / big_n + 2 * s11 / (big_m * big_n)


def test_clustered_variance_equals_definition_written_as_loops():
    rng = np.random.default_rng(5)
    n_patients = 30
    sizes = rng.integers(1, 6, n_patients)
    clusters = np.repeat([f"p{i}" for i in range(n_patients)], sizes)
    patient_effect = np.repeat(rng.normal(size=n_patients), sizes)
    truth = (rng.random(clusters.size) < 0.35).astype(int)
    scores = np.round(truth + patient_effect + rng.normal(size=clusters.size), 1)
    auc, variance = _clustered_by_definition(scores, truth, list(clusters))
    fast = clustered_covariance(scores, truth, clusters)
    assert fast.auc[0] == pytest.approx(auc, abs=1e-13)
    assert fast.covariance[0, 0] == pytest.approx(variance, rel=1e-10)
    assert fast.n_clusters == n_patients


def test_clustered_covariance_with_one_case_per_cluster_is_delong(reference_frame):
    frame = reference_frame("aSAH.csv")
    scores = frame[["wfns", "s100b", "ndka"]].to_numpy().T
    clustered = clustered_covariance(scores, frame["outcome_poor"], frame["case_id"])
    plain = delong_covariance(scores, frame["outcome_poor"])
    np.testing.assert_allclose(clustered.covariance, plain.covariance, rtol=1e-12, atol=1e-18)


def test_clustered_paired_test_uses_cross_covariances():
    rng = np.random.default_rng(9)
    sizes = rng.integers(2, 5, 40)
    clusters = np.repeat(np.arange(40), sizes)
    effect = np.repeat(rng.normal(size=40), sizes)
    truth = (rng.random(clusters.size) < 0.4).astype(int)
    first = truth + effect + rng.normal(size=clusters.size)
    second = 0.6 * truth + effect + rng.normal(size=clusters.size)
    test = paired_auc_test(first, second, truth, clusters=clusters)
    covariance = clustered_covariance(np.vstack([first, second]), truth, clusters).covariance
    expected_variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    assert test.variance == pytest.approx(expected_variance, rel=1e-12)
    assert test.method == "obuchowski"
    assert test.n_clusters == 40


def test_clustered_variance_needs_two_clusters_per_class():
    with pytest.raises(AnalysisInputError, match="at least 2 clusters with positive"):
        clustered_covariance([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], ["a", "a", "b", "a"])


def test_reader_mean_variance_is_mean_of_covariance_matrix():
    rng = np.random.default_rng(3)
    scores, truth = _random_scores(rng, 5, 120, ties=True)
    mean = reader_mean_auc(scores, truth, names=list("ABCDE"))
    covariance = delong_covariance(scores, truth)
    assert mean.mean == pytest.approx(covariance.auc.mean(), abs=1e-15)
    assert mean.variance == pytest.approx(covariance.covariance.sum() / 25, rel=1e-12)
    assert mean.readers == list("ABCDE")


def test_model_vs_reader_mean_is_the_contrast():
    rng = np.random.default_rng(4)
    scores, truth = _random_scores(rng, 4, 150, ties=False)
    test = model_vs_reader_mean(scores[0], scores[1:], truth)
    covariance = delong_covariance(scores, truth)
    weights = np.array([1, -1 / 3, -1 / 3, -1 / 3])
    assert test.estimate == pytest.approx(weights @ covariance.auc, abs=1e-15)
    assert test.variance == pytest.approx(weights @ covariance.covariance @ weights, rel=1e-12)
    assert test.p_value == pytest.approx(2 * norm.sf(abs(test.z)), rel=1e-12)


def test_weighted_auc_equals_auc_of_explicitly_repeated_cases():
    rng = np.random.default_rng(8)
    scores, truth = _random_scores(rng, 1, 60, ties=True)
    weights = rng.integers(0, 4, size=(5, 60)).astype(float)
    weights[:, :2] = 1  # keep both classes present
    fast = _weighted_aucs(scores[0], truth, weights)
    for row, value in zip(weights.astype(int), fast, strict=True):
        repeated_scores = np.repeat(scores[0], row)
        repeated_truth = np.repeat(truth, row)
        expected = delong_naive(repeated_scores, repeated_truth).auc[0]
        assert value == pytest.approx(expected, abs=1e-13)


def test_cluster_bootstrap_is_seeded_and_close_to_analytic_se():
    rng = np.random.default_rng(21)
    sizes = rng.integers(1, 5, 80)
    clusters = np.repeat(np.arange(80), sizes)
    effect = np.repeat(rng.normal(size=80), sizes)
    truth = (rng.random(clusters.size) < 0.4).astype(int)
    scores = truth + effect + rng.normal(size=clusters.size)
    first = cluster_bootstrap_auc(scores, truth, clusters, n_boot=1500, seed=7)
    again = cluster_bootstrap_auc(scores, truth, clusters, n_boot=1500, seed=7)
    other = cluster_bootstrap_auc(scores, truth, clusters, n_boot=1500, seed=8)
    assert first == again
    assert first.ci != other.ci
    assert first.ci[0] < first.estimate < first.ci[1]
    analytic = auc_confidence_interval(scores, truth, clusters=clusters)
    assert first.se == pytest.approx(analytic.se, rel=0.2)
    assert first.n_valid == 1500


def test_cluster_bootstrap_difference_mirrors_when_swapped():
    rng = np.random.default_rng(22)
    clusters = np.repeat(np.arange(50), 3)
    truth = (rng.random(150) < 0.5).astype(int)
    first = truth + rng.normal(size=150)
    second = 0.5 * truth + rng.normal(size=150)
    forward = cluster_bootstrap_difference(first, second, truth, clusters, n_boot=300, seed=1)
    backward = cluster_bootstrap_difference(second, first, truth, clusters, n_boot=300, seed=1)
    assert forward.estimate == pytest.approx(-backward.estimate)
    assert forward.ci[0] == pytest.approx(-backward.ci[1])
    assert forward.ci[1] == pytest.approx(-backward.ci[0])


def _long(rows: list[tuple[str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["case", "reader", "score", "truth"])


def test_paired_test_refuses_cases_rated_by_one_reader_only():
    frame = _long(
        [
            ("c1", "A", 0.1, 0),
            ("c2", "A", 0.8, 1),
            ("c3", "A", 0.4, 0),
            ("c1", "B", 0.2, 0),
            ("c2", "B", 0.6, 1),
            ("c4", "B", 0.7, 1),
        ]
    )
    with pytest.raises(AnalysisInputError, match=r"rated by 'A' only, e.g. \['c3'\]") as error:
        compare_readers(frame, a="A", b="B")
    assert "rated by 'B' only, e.g. ['c4']" in str(error.value)


def test_compare_readers_unknown_reader_is_named():
    frame = _long([("c1", "A", 0.1, 0), ("c2", "A", 0.9, 1)])
    with pytest.raises(AnalysisInputError, match="reader 'Z': no ratings found"):
        compare_readers(frame, a="A", b="Z")


def test_identical_readers_give_zero_difference_and_p_one():
    scores = [0.1, 0.4, 0.35, 0.8]
    test = paired_auc_test(scores, scores, [0, 0, 1, 1])
    assert test.difference == 0.0
    assert test.se == 0.0
    assert test.p_value == 1.0


def test_paired_test_rejects_reader_without_negatives():
    with pytest.raises(AnalysisInputError, match="no negative"):
        paired_auc_test([0.1, 0.2], [0.3, 0.4], [1, 1])
