"""Fleiss' kappa (irr, statsmodels), Cohen's kappa (statsmodels, scikit-learn), confusion matrices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from analysis import (
    AnalysisInputError,
    category_counts,
    cohen_kappa,
    confusion_matrices,
    confusion_matrix,
    fleiss_kappa,
    fleiss_kappa_from_ratings,
    pairwise_cohen_kappa,
)
from analysis.agreement import _fleiss_point


def _diagnoses_long(reference_frame) -> pd.DataFrame:
    frame = reference_frame("fleiss_diagnoses_long.csv")
    return frame.rename(columns={"subject": "case", "rater": "reader", "category_code": "call"})


def test_fleiss_diagnoses_matches_irr(reference, reference_frame):
    # Source: irr 0.84.1 kappam.fleiss(diagnoses), exact = TRUE (Conger) and detail = TRUE
    # (category-wise), cran/irr @ 3229aa5 (R 4.2.2); Randolph from statsmodels 0.15.0
    # fleiss_kappa(method = "randolph"). Tolerance "full"; p (underflows to 0 in R) abs 1e-12.
    case_id = "fleiss.diagnoses"
    expected = reference[case_id]["expected"]
    result = fleiss_kappa_from_ratings(_diagnoses_long(reference_frame))
    reference.assert_close(case_id, "kappa", result.kappa)
    reference.assert_close(case_id, "se0", result.se0)
    reference.assert_close(case_id, "z", result.z)
    reference.assert_close(case_id, "p_two_sided", result.p_value)
    reference.assert_close(case_id, "kappa_exact_conger", result.kappa_conger)
    reference.assert_close(case_id, "kappa_randolph", result.kappa_randolph)
    assert result.categories == ["1", "2", "3", "4", "5"]
    for item, kappa, z in zip(
        result.category_kappas, expected["category_kappa"], expected["category_z"], strict=True
    ):
        reference.assert_close(case_id, "category_kappa", item.kappa, kappa)
        reference.assert_close(case_id, "category_z", item.z, z)


def test_fleiss_diagnoses_first_four_raters_matches_irr(reference, reference_frame):
    # Source: irr 0.84.1 kappam.fleiss(diagnoses[, 1:4]) ("full").
    case_id = "fleiss.diagnoses"
    ratings = _diagnoses_long(reference_frame)
    result = fleiss_kappa_from_ratings(ratings, readers=["1", "2", "3", "4"])
    reference.assert_close(case_id, "kappa_raters_1_to_4", result.kappa)
    reference.assert_close(case_id, "z_raters_1_to_4", result.z)


@pytest.mark.parametrize("source", ["counts", "wide"])
def test_fleiss_diagnoses_from_other_layouts(reference, reference_frame, source):
    # Same irr 0.84.1 reference from the alternative inputs named in expected.json (alt_inputs).
    case_id = "fleiss.diagnoses"
    if source == "counts":
        table = reference_frame("fleiss_diagnoses_counts.csv")
        counts = table[[f"cat{i}" for i in range(1, 6)]].to_numpy()
    else:
        wide = reference_frame("fleiss_diagnoses_wide.csv")
        long = wide.melt(id_vars="subject", var_name="reader", value_name="call")
        counts, _ = category_counts(long.rename(columns={"subject": "case"}))
    result = fleiss_kappa(counts)
    reference.assert_close(case_id, "kappa", result.kappa)
    reference.assert_close(case_id, "se0", result.se0)


def test_fleiss_wikipedia_example_matches_irr(reference, reference_frame):
    # Source: irr 0.84.1 on the count table of statsmodels test_inter_rater.py (Wikipedia
    # example, 10 subjects x 14 ratings); "full".
    case_id = "fleiss.wikipedia_example"
    expected = reference[case_id]["expected"]
    table = reference_frame("fleiss_wikipedia_counts.csv")
    result = fleiss_kappa(table[[f"cat{i}" for i in range(1, 6)]].to_numpy())
    reference.assert_close(case_id, "kappa", result.kappa)
    reference.assert_close(case_id, "se0", result.se0)
    reference.assert_close(case_id, "z", result.z)
    reference.assert_close(case_id, "kappa_randolph", result.kappa_randolph)
    for item, kappa in zip(result.category_kappas, expected["category_kappa"], strict=True):
        reference.assert_close(case_id, "category_kappa", item.kappa, kappa)
    assert result.kappa_conger is None  # rater identity unknown in a count table


def test_fleiss_and_randolph_on_small_tables(reference):
    # Source: statsmodels 0.15.0 test_fleis_randolph (online Randolph calculator, 6 dp); abs 6e-6.
    case_id = "fleiss.randolph_small_tables"
    for key, values in reference[case_id]["expected"].items():
        result = fleiss_kappa(json.loads(key))
        reference.assert_close(case_id, "default", result.kappa, values["fleiss"])
        reference.assert_close(case_id, "default", result.kappa_randolph, values["randolph"])


def test_fleiss_matches_statsmodels_on_random_tables():
    rng = np.random.default_rng(0)
    for _ in range(20):
        calls = rng.integers(0, 4, size=(25, 5))
        counts = np.stack([np.bincount(row, minlength=4) for row in calls])
        assert fleiss_kappa(counts).kappa == pytest.approx(
            statsmodels_fleiss_kappa(counts), abs=1e-12
        )


def test_gwet_standard_error_is_close_to_jackknife(reference_frame):
    counts, _ = category_counts(_diagnoses_long(reference_frame))
    result = fleiss_kappa(counts)
    n = counts.shape[0]
    leave_one_out = np.array([_fleiss_point(np.delete(counts, i, axis=0))[0] for i in range(n)])
    jackknife_se = np.sqrt((n - 1) / n * ((leave_one_out - leave_one_out.mean()) ** 2).sum())
    assert result.se == pytest.approx(jackknife_se, rel=0.05)
    assert result.ci[0] < result.kappa < result.ci[1]
    assert result.ci_method == "gwet_t"


def test_bootstrap_interval_is_seeded(reference_frame):
    ratings = _diagnoses_long(reference_frame)
    first = fleiss_kappa_from_ratings(ratings, ci_method="bootstrap", n_boot=300, seed=4)
    again = fleiss_kappa_from_ratings(ratings, ci_method="bootstrap", n_boot=300, seed=4)
    assert first.ci == again.ci
    assert first.ci_method == "bootstrap_percentile"
    assert first.ci[0] < first.kappa < first.ci[1]


def test_three_way_spellings_are_one_category_scale():
    ratings = pd.DataFrame(
        {
            "case": [1, 1, 2, 2, 3, 3],
            "reader": ["A", "B"] * 3,
            "call": ["benign", 0, "ene", "2", "metastasis", 1],
        }
    )
    result = fleiss_kappa_from_ratings(ratings)
    assert result.categories == ["benign", "metastasis", "ene"]
    assert result.kappa == pytest.approx(1.0)


def test_every_reader_must_rate_every_case():
    ratings = pd.DataFrame(
        {"case": [1, 1, 2, 3, 3], "reader": ["A", "B", "A", "A", "B"], "call": [0, 0, 1, 2, 2]}
    )
    with pytest.raises(AnalysisInputError, match=r"reader 'B' has no call for case\(s\) \['2'\]"):
        fleiss_kappa_from_ratings(ratings)


def test_unequal_rows_in_a_count_table_are_rejected():
    with pytest.raises(AnalysisInputError, match="same number of ratings"):
        fleiss_kappa([[3, 0], [2, 2]])


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_statsmodels_and_sklearn(weights):
    rng = np.random.default_rng(1)
    first = rng.integers(0, 3, 150)
    second = np.clip(first + rng.integers(-1, 2, 150), 0, 2)
    result = cohen_kappa(first, second, weights=weights)
    table = pd.crosstab(first, second).to_numpy()
    reference = cohens_kappa(table, wt=weights) if weights else cohens_kappa(table)
    assert result.kappa == pytest.approx(
        cohen_kappa_score(first, second, weights=weights), abs=1e-12
    )
    assert result.kappa == pytest.approx(reference.kappa, abs=1e-12)
    assert result.se == pytest.approx(reference.std_kappa, rel=1e-10)
    assert result.se0 == pytest.approx(reference.std_kappa0, rel=1e-10)


def test_pairwise_cohen_kappa_lists_every_pair(reference_frame):
    pairs = pairwise_cohen_kappa(_diagnoses_long(reference_frame))
    assert len(pairs) == 15
    assert (pairs[0].a, pairs[0].b) == ("1", "2")


def test_confusion_matrix_rows_are_reference_columns_are_calls():
    matrix = confusion_matrix(
        ["benign", "ene", 1, 2, 0], ["benign", "metastasis", "metastasis", "ene", "ene"]
    )
    assert matrix.matrix.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert matrix.accuracy == pytest.approx(0.6)
    with pytest.raises(AnalysisInputError, match="'maybe' is not one of"):
        confusion_matrix(["maybe"], ["ene"])


def test_confusion_matrices_per_reader():
    ratings = pd.DataFrame(
        {
            "reader": ["A", "A", "B", "B"],
            "call": [0, 2, 1, 2],
            "reference": ["benign", "ene", "benign", "ene"],
        }
    )
    matrices = confusion_matrices(ratings)
    assert [m.reader for m in matrices] == ["A", "B"]
    assert matrices[1].matrix[0].tolist() == [0, 1, 0]


def _pair_missing_a_middle_category() -> pd.DataFrame:
    # A 1-5 rating scale. Readers A and B never use 3 or 4; C uses every level. On the table's
    # scale 1-2-5 are positions 0, 1, 4 of 5; on the pair's own scale 0, 1, 2 of 3, so the
    # weights are not proportional and weighted kappa differs. (With a 3-level scale such as
    # benign / metastasis / ENE the two conventions always agree: a pair missing one level is
    # left with a single kind of disagreement.)
    calls = {
        "A": [1, 1, 2, 5, 5, 2, 1, 5, 2, 1, 5, 2],
        "B": [1, 2, 2, 5, 2, 2, 5, 5, 1, 1, 5, 1],
        "C": [1, 2, 3, 4, 5, 3, 4, 5, 2, 1, 4, 3],
    }
    return pd.DataFrame(
        [
            {"case": case, "reader": reader, "call": call}
            for reader, values in calls.items()
            for case, call in enumerate(values)
        ]
    )


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_pairwise_weighted_kappa_table_scale_is_sklearn_with_labels(weights):
    ratings = _pair_missing_a_middle_category()
    a = ratings[ratings.reader == "A"]["call"].tolist()
    b = ratings[ratings.reader == "B"]["call"].tolist()
    (table_pair, *_) = pairwise_cohen_kappa(ratings, weights=weights)
    (own_pair, *_) = pairwise_cohen_kappa(ratings, weights=weights, category_scale="pair")
    assert (table_pair.a, table_pair.b) == ("A", "B")
    with_labels = cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights=weights)
    without_labels = cohen_kappa_score(a, b, weights=weights)
    assert table_pair.kappa == pytest.approx(with_labels, abs=1e-12)
    assert own_pair.kappa == pytest.approx(without_labels, abs=1e-12)
    assert abs(with_labels - without_labels) > 1e-3  # the two conventions really differ here


def test_pairwise_unweighted_kappa_does_not_depend_on_the_scale():
    ratings = _pair_missing_a_middle_category()
    table_scale = pairwise_cohen_kappa(ratings)
    pair_scale = pairwise_cohen_kappa(ratings, category_scale="pair")
    for first, second in zip(table_scale, pair_scale, strict=True):
        assert first.kappa == pytest.approx(second.kappa, abs=1e-12)
    with pytest.raises(AnalysisInputError, match="category_scale must be"):
        pairwise_cohen_kappa(ratings, category_scale="mine")


def test_rating_table_places_calls_by_case_and_reader_and_names_what_is_missing():
    from analysis.agreement import rating_table

    long = pd.DataFrame(
        {
            "case": ["c2", "c1", "c1", "c2", "c3", "c3", "c1", "c2", "c3"],
            "reader": ["B", "A", "B", "A", "B", "A", "C", "C", "C"],
            "call": ["ene", "benign", "metastasis", "ene", "benign", "benign", "ene", "ene", "0"],
        }
    )
    table = rating_table(long)
    assert table.cases == ["c2", "c1", "c3"] and table.readers == ["B", "A", "C"]
    assert table.categories == ["benign", "metastasis", "ene"]
    # the slow, obvious construction: a dict of (case, reader) -> category code
    codes = {
        (c, r): table.categories.index(v if v != "0" else "benign")
        for c, r, v in long.itertuples(index=False)
    }
    for i, case in enumerate(table.cases):
        for j, reader in enumerate(table.readers):
            assert table.codes[i, j] == codes[(case, reader)]
    with pytest.raises(AnalysisInputError, match=r"reader 'C' has no call for case\(s\) \['c2'\]"):
        rating_table(long.drop(index=7))
