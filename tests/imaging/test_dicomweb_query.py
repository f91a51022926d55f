"""QIDO-RS query parsing and matching (pure functions, no database)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from readerstudy.imaging import dicomweb
from readerstudy.imaging.dicomweb import (
    MAX_RESULTS,
    SERIES_KEYS,
    STUDY_KEYS,
    QueryError,
    filtered,
    query_parse,
    value_matches,
)


def _study(patient_id: str, uid: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.StudyInstanceUID = uid
    ds.ModalitiesInStudy = ["CT"]
    return ds


STUDIES = [_study(f"Case {n:03d}", f"2.25.{n}") for n in range(1, 13)]


def test_keys_by_keyword_or_tag_and_unknown_keys_are_named() -> None:
    query = query_parse(
        {"00100020": "Case 00*", "StudyDate": "2024", "includefield": "all", "limit": "5"},
        allowed=dicomweb.supported_keys(STUDY_KEYS),
    )
    assert query.matches == {"PatientID": "Case 00*"}
    assert query.ignored == ("StudyDate",)
    assert (query.limit, query.offset) == (5, 0)
    assert [s.PatientID for s in filtered(STUDIES, query)] == [f"Case 00{n}" for n in range(1, 6)]


def test_paging_and_the_server_limit() -> None:
    query = query_parse({"offset": "10"}, allowed=STUDY_KEYS)
    assert [s.PatientID for s in filtered(STUDIES, query)] == ["Case 011", "Case 012"]
    assert query_parse({"limit": "999999"}, allowed=STUDY_KEYS).limit == MAX_RESULTS
    with pytest.raises(QueryError, match="offset"):
        query_parse({"offset": "-1"}, allowed=STUDY_KEYS)


@pytest.mark.parametrize(
    ("key", "pattern", "values", "expected"),
    [
        ("StudyInstanceUID", "2.25.1,2.25.2", ["2.25.2"], True),
        ("StudyInstanceUID", "2.25.1\\2.25.3", ["2.25.2"], False),
        ("StudyInstanceUID", "2.25.1", ["2.25.10"], False),  # UIDs match whole, never as a prefix
        ("PatientID", "Case 01?", ["Case 012"], True),
        ("PatientID", "case 012", ["Case 012"], False),  # IDs are case-sensitive
        ("PatientName", "case*", ["Case 012"], True),  # names are not
        ("Modality", "CT", ["CT"], True),
        ("Modality", "MR", ["CT"], False),
        ("Modality", "", ["CT"], True),  # empty: universal match
    ],
)
def test_value_matching(key: str, pattern: str, values: list[str], expected: bool) -> None:
    assert value_matches(key, pattern, values) is expected


def test_series_keys_are_known_attributes() -> None:
    assert dicomweb.supported_keys(STUDY_KEYS, SERIES_KEYS) >= {"Modality", "PatientID"}
