"""``map_distinct`` gives exactly ``Series.map``'s result (the obvious row-by-row version)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.agreement import _label
from analysis.data import _clean_labels, encode_calls, map_distinct
from analysis.errors import AnalysisInputError

COLUMNS = {
    "strings": pd.Series([" a", "b", "a", "c ", "b"] * 30),
    "ints": pd.Series([3, 1, 2, 3, 1] * 30),
    "floats": pd.Series([1.0, 2.5, 1.0, 3.0] * 30),
    "int-and-float": pd.Series([1, 1.0, 2, 2.0] * 30, dtype=object),
    "bools-and-ints": pd.Series([True, 1, False, 0] * 30, dtype=object),
    "with-missing": pd.Series(["a", None, np.nan, "b"] * 30, dtype=object),
    "calls": pd.Series(["benign", "ENE ", 1, 2.0, "metastasis", "0"] * 30, dtype=object),
    "empty": pd.Series([], dtype=object),
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
@pytest.mark.parametrize("func", [_label, repr, lambda v: (type(v).__name__, v)])
def test_same_as_series_map(name: str, func) -> None:
    series = COLUMNS[name].copy()
    series.index = series.index * 7 + 3  # a non-default index is kept
    expected = series.map(func)
    got = map_distinct(series, func)
    assert got.index.equals(expected.index)
    assert got.tolist() == expected.tolist()
    assert [type(v) for v in got] == [type(v) for v in expected]


def test_bools_stay_apart_from_numbers() -> None:
    # True == 1 in Python: factorising would make them one value
    assert map_distinct(COLUMNS["bools-and-ints"], _label).tolist()[:4] == [
        "True",
        "1",
        "False",
        "0",
    ]


def test_clean_labels_and_encode_calls_unchanged_for_long_columns() -> None:
    labels = pd.Series([1.0, " 2", 3, "x "] * 40, dtype=object)
    assert _clean_labels(labels).tolist() == ["1", "2", "3", "x"] * 40
    calls = COLUMNS["calls"]
    assert encode_calls(calls).tolist() == [0, 2, 1, 2, 1, 0] * 30


def test_encode_calls_names_the_first_bad_row_of_a_long_column() -> None:
    calls = pd.Series(["benign"] * 100 + ["maybe"] + ["ene"] * 10)
    with pytest.raises(AnalysisInputError, match=r"'maybe' at position 101"):
        encode_calls(calls)


def test_negative_zero_is_not_zero() -> None:
    series = pd.Series([0.0, -0.0, 1.0] * 50)
    assert map_distinct(series, repr).tolist()[:3] == ["0.0", "-0.0", "1.0"]
