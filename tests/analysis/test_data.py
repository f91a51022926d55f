"""Loading and validation of the long ratings table; 3-way task helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    AnalysisInputError,
    encode_calls,
    has_three_way_calls,
    load_ratings,
    ratings_matrix,
    task_from_probabilities,
    task_ratings,
    validate_ratings,
)


def _table(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "case": ["n1", "n2", "n3", "n1", "n2", "n3"],
            "reader": ["R1"] * 3 + ["R2"] * 3,
            "score": [0.1, 0.7, 0.4, 0.2, 0.9, 0.3],
            "truth": [0, 1, 0, 0, 1, 0],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_load_csv_keeps_identifiers_as_text(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("Case, Reader ,score,truth\n007,R1,0.5,1\n008,R1,0.1,0\n")
    frame = validate_ratings(load_ratings(path))
    assert frame["case"].tolist() == ["007", "008"]
    assert frame["score"].dtype == float
    assert frame["truth"].tolist() == [1, 0]


def test_load_reports_missing_or_empty_file(tmp_path):
    with pytest.raises(AnalysisInputError, match="no such file"):
        load_ratings(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(AnalysisInputError, match="empty.csv: cannot read CSV"):
        load_ratings(empty)


def test_caller_frame_is_not_modified():
    frame = _table()
    before = frame.copy()
    validate_ratings(frame)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("truth", [0, 1, 0, 0, 1, 2], r"column 'truth' must be 0 or 1: 2 at data row 6"),
        ("truth", [0, 1, None, 0, 1, 0], r"column 'truth': missing value at data row 3"),
        ("truth", [0, 1, "yes", 0, 1, 0], r"column 'truth': 'yes' is not 0/1 at data row 3"),
        ("score", [0.1, "high", 0.4, 0.2, 0.9, 0.3], r"column 'score': 'high' at data row 2"),
        ("score", [0.1, 0.7, None, 0.2, 0.9, 0.3], r"column 'score': missing .* at data row 3"),
        (
            "reader",
            ["R1", None, "R1", "R2", "R2", "R2"],
            r"column 'reader': missing value at data row 2",
        ),
    ],
)
def test_bad_values_name_column_and_row(column, values, message):
    with pytest.raises(AnalysisInputError, match=message):
        validate_ratings(_table(**{column: values}))


def test_missing_columns_are_listed():
    with pytest.raises(AnalysisInputError, match=r"missing column\(s\) 'truth'"):
        validate_ratings(_table().drop(columns=["truth"]))
    with pytest.raises(AnalysisInputError, match=r"missing column\(s\) 'modality', 'cluster'"):
        validate_ratings(_table(), require_modality=True, require_cluster=True)


def test_case_with_two_truths_and_duplicate_ratings_are_rejected():
    with pytest.raises(AnalysisInputError, match=r"case\(s\) \['n3'\] have more than one truth"):
        validate_ratings(_table(truth=[0, 1, 0, 0, 1, 1]))
    duplicated = pd.concat([_table(), _table().iloc[[0]]], ignore_index=True)
    with pytest.raises(
        AnalysisInputError, match="duplicate rating at data row 7: case 'n1', reader 'R1'"
    ):
        validate_ratings(duplicated)


def test_ratings_matrix_orders_readers_and_cases():
    readers, cases, scores, truth = ratings_matrix(_table())
    assert readers == ["R1", "R2"]
    assert cases == ["n1", "n2", "n3"]
    np.testing.assert_array_equal(scores, [[0.1, 0.7, 0.4], [0.2, 0.9, 0.3]])
    np.testing.assert_array_equal(truth, [0, 1, 0])


def test_ratings_matrix_names_readers_with_missing_cases():
    frame = _table().drop(index=[4])
    with pytest.raises(
        AnalysisInputError, match=r"reader 'R2' has no score for case\(s\) \['n2'\]"
    ):
        ratings_matrix(frame)


def test_ratings_matrix_needs_a_modality_when_there_are_several():
    frame = pd.concat([_table(modality="unaided"), _table(modality="aided")], ignore_index=True)
    with pytest.raises(AnalysisInputError, match="several values"):
        ratings_matrix(frame)
    readers, _, scores, _ = ratings_matrix(frame, modality="aided")
    assert readers == ["R1", "R2"] and scores.shape == (2, 3)
    with pytest.raises(AnalysisInputError, match="modality 'x' not found"):
        ratings_matrix(frame, modality="x")


def test_encode_calls_accepts_codes_and_names():
    codes = encode_calls(["benign", "Metastasis", "ENE", 0, 1.0, "2", "metastasis_with_ene"])
    assert codes.tolist() == [0, 1, 2, 0, 1, 2, 2]
    with pytest.raises(AnalysisInputError, match="'maybe' at position 2 is not a 3-way call"):
        encode_calls(["ene", "maybe"])


def _three_way() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case": ["a", "b", "c", "a", "b", "c"],
            "reader": ["R1"] * 3 + ["AI"] * 3,
            "reference": ["benign", "metastasis", "ene"] * 2,
            "call": ["metastasis", "metastasis", "ene", None, None, None],
            "p_benign": [None, None, None, 0.6, 0.3, 0.1],
            "p_meta": [None, None, None, 0.3, 0.5, 0.3],
            "p_ene": [None, None, None, 0.1, 0.2, 0.6],
        }
    )


def test_task_ratings_follow_the_three_tasks_of_seed_001():
    frame = _three_way()
    assert has_three_way_calls(frame)
    ene = task_ratings(frame, task="ene")
    assert ene["truth"].tolist() == [0, 0, 1, 0, 0, 1]
    assert ene["score"].tolist() == pytest.approx([1, 1, 2, 0.1, 0.2, 0.6])
    metastasis = task_ratings(frame, task="metastasis")
    assert metastasis["truth"].tolist() == [0, 1, 1, 0, 1, 1]
    assert metastasis["score"].tolist() == pytest.approx([1, 1, 1, 0.4, 0.7, 0.9])
    ene_vs_meta = task_ratings(frame, task="ene_vs_meta")
    assert ene_vs_meta["case"].tolist() == ["b", "c", "b", "c"]
    assert ene_vs_meta["truth"].tolist() == [0, 1, 0, 1]
    assert ene_vs_meta["score"].tolist() == pytest.approx([0, 1, 0.2 / 0.7, 0.6 / 0.9])
    validate_ratings(ene_vs_meta)


def test_task_from_probabilities_and_its_checks():
    scores = task_from_probabilities([0.2, 1.0], [0.3, 0.0], [0.5, 0.0], task="ene_vs_meta")
    assert scores.tolist() == pytest.approx([0.625, 0.5])
    with pytest.raises(AnalysisInputError, match="p_ene: 1.5 at position 0 is not a probability"):
        task_from_probabilities([0.1], [0.1], [1.5], task="ene")
    with pytest.raises(AnalysisInputError, match="unknown task 'size'"):
        task_from_probabilities([0.1], [0.1], [0.8], task="size")


def test_task_ratings_reports_rows_without_call_or_probabilities():
    frame = _three_way().drop(columns=["p_benign", "p_meta", "p_ene"])
    with pytest.raises(AnalysisInputError, match="column 'call': missing value at data row 4"):
        task_ratings(frame, task="ene")


def test_duplicate_index_labels_still_give_a_row_number():
    frame = pd.concat([_table(), _table(reader=["R3"] * 6)])  # index 0..5 twice
    frame.iloc[7, frame.columns.get_loc("truth")] = 5
    with pytest.raises(
        AnalysisInputError, match=r"must be 0 or 1: 5 at data row 8 \(reader 'R3', case 'n2'"
    ):
        validate_ratings(frame)


# Rows are named by data row number (1 = the first row under the CSV header; data row N is line
# N + 1 of the file), with the row's reader and case, for every kind of bad value. These cases
# come from an independent check against R: 3-way tables whose model rows come first were reported
# at the position among reader rows only.

THREE_WAY_MODEL_FIRST = (
    "case,reader,reference,call,p_benign,p_meta,p_ene\n"
    "a,AI,benign,,0.6,0.3,0.1\n"
    "b,AI,metastasis,,0.3,0.5,0.2\n"
    "a,R1,benign,benign,,,\n"
    "b,R1,metastasis,maybe,,,\n"
)


@pytest.mark.parametrize("task", ["ene", "metastasis", "ene_vs_meta"])
def test_bad_call_is_reported_at_its_own_data_row_with_reader_and_case(tmp_path, task):
    path = tmp_path / "calls.csv"
    path.write_text(THREE_WAY_MODEL_FIRST)
    with pytest.raises(
        AnalysisInputError,
        match=r"column 'call': 'maybe' at data row 4 \(reader 'R1', case 'b'\) is not a 3-way call",
    ):
        task_ratings(load_ratings(path), task=task)


def test_bad_reference_and_probability_name_data_row_reader_and_case():
    frame = _three_way()
    frame.loc[4, "reference"] = "unknown"
    with pytest.raises(
        AnalysisInputError,
        match=r"column 'reference': 'unknown' at data row 5 \(reader 'AI', case 'b'\)",
    ):
        task_ratings(frame, task="ene")
    frame = _three_way()
    frame["p_ene"] = frame["p_ene"].astype(object)
    frame.loc[5, "p_ene"] = "high"
    with pytest.raises(
        AnalysisInputError,
        match=r"column 'p_ene': 'high' at data row 6 \(reader 'AI', case 'c'\) is not a probability",
    ):
        task_ratings(frame, task="ene")


def test_non_numeric_score_names_reader_and_case():
    with pytest.raises(
        AnalysisInputError,
        match=r"column 'score': 'high' at data row 2 \(reader 'R1', case 'n2'\) is not a number",
    ):
        validate_ratings(_table(score=[0.1, "high", 0.4, 0.2, 0.9, 0.3]))


def test_rows_keep_their_numbers_after_the_task_drops_rows():
    # ene_vs_meta keeps metastatic cases only; a duplicate found afterwards is still named by the
    # row of the user's table, not by its position among the rows kept.
    frame = pd.concat([_three_way(), _three_way().iloc[[2]]], ignore_index=True)
    with pytest.raises(AnalysisInputError, match="duplicate rating at data row 7: case 'c'"):
        validate_ratings(task_ratings(frame, task="ene_vs_meta"))


def test_custom_index_is_named_as_such():
    frame = _table(score=[0.1, "high", 0.4, 0.2, 0.9, 0.3])
    frame.index = [f"node{i}" for i in range(len(frame))]
    with pytest.raises(AnalysisInputError, match=r"at row with index 'node1' \(reader 'R1'"):
        validate_ratings(frame)
