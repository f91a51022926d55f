"""DICOMweb encodings and query matching (PS3.18): DICOM JSON results, multipart bodies.

Pure functions over ``selectors.SeriesView``; the views in ``dicomweb_apis`` stay thin.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from readerstudy.cohorts.models import CTSlice
from readerstudy.imaging.selectors import SeriesView

DICOM_JSON = "application/dicom+json"
# The server answers at most this many matches per request; clients page with offset.
MAX_RESULTS = 1000
# Keys of a QIDO query that are not attribute matches.
CONTROL_KEYS = frozenset({"limit", "offset", "includefield", "fuzzymatching"})
# Attributes that can be matched, per level; the others are ignored (and named in a Warning).
STUDY_KEYS = frozenset({"StudyInstanceUID", "PatientID", "PatientName", "ModalitiesInStudy"})
SERIES_KEYS = frozenset({"SeriesInstanceUID", "Modality"})
INSTANCE_KEYS = frozenset({"SOPInstanceUID", "SOPClassUID", "InstanceNumber"})
UID_KEYS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"})


class QueryError(ValueError):
    """A query parameter that cannot be used; names the parameter."""


@dataclass(frozen=True)
class Query:
    matches: dict[str, str]
    limit: int
    offset: int
    ignored: tuple[str, ...]


def _keyword(key: str) -> str:
    """A query key as a keyword: 'PatientID' and '00100020' both give 'PatientID'."""
    if len(key) == 8 and all(c in "0123456789abcdefABCDEF" for c in key):
        return keyword_for_tag(int(key, 16)) or key
    return key


def query_parse(params: Mapping[str, str], *, allowed: frozenset[str]) -> Query:
    matches: dict[str, str] = {}
    ignored: list[str] = []
    for raw_key, value in params.items():
        if raw_key in CONTROL_KEYS:
            continue
        key = _keyword(raw_key)
        if key in allowed:
            matches[key] = value
        else:
            ignored.append(raw_key)

    def number(name: str, default: int) -> int:
        text = params.get(name, "")
        if text == "":
            return default
        if not text.isdigit():
            raise QueryError(f"{name}: not a non-negative integer: {text!r}")
        return int(text)

    return Query(
        matches=matches,
        limit=min(number("limit", MAX_RESULTS), MAX_RESULTS),
        offset=number("offset", 0),
        ignored=tuple(ignored),
    )


def value_matches(key: str, pattern: str, values: Iterable[str]) -> bool:
    """PS3.4 C.2.2.2: empty matches all; UID lists; wildcards * and ?; names case-insensitive."""
    if pattern == "":
        return True
    values = [str(v) for v in values]
    if key in UID_KEYS:
        wanted = {p.strip() for p in pattern.replace("\\", ",").split(",")}
        return any(v in wanted for v in values)
    if key == "PatientName":
        pattern, values = pattern.lower(), [v.lower() for v in values]
    alternatives = pattern.split("\\")
    return any(fnmatch.fnmatchcase(v, alt) for v in values for alt in alternatives)


def _element_values(attributes: Dataset, key: str) -> list[str]:
    if key not in attributes:
        return []
    value = attributes.data_element(key).value  # type: ignore[union-attr]
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return [str(value)]


def filtered(datasets: Iterable[Dataset], query: Query) -> list[Dataset]:
    kept = [
        ds
        for ds in datasets
        if all(value_matches(k, p, _element_values(ds, k)) for k, p in query.matches.items())
    ]
    return kept[query.offset : query.offset + query.limit]


def _study_attributes(view: SeriesView) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = view.study_uid
    ds.PatientID = view.patient_id
    ds.PatientName = view.patient_id
    # Type 2 in the result: present, empty (no dates anywhere).
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.StudyDescription = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    return ds


def study_result(views: list[SeriesView]) -> Dataset:
    ds = _study_attributes(views[0])
    ds.ModalitiesInStudy = ["CT"]
    ds.NumberOfStudyRelatedSeries = len(views)
    ds.NumberOfStudyRelatedInstances = sum(v.series.slice_count for v in views)
    return ds


def series_result(view: SeriesView) -> Dataset:
    ds = _study_attributes(view)
    ds.SeriesInstanceUID = view.series_uid
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.SeriesDescription = "CT"
    ds.NumberOfSeriesRelatedInstances = view.series.slice_count
    return ds


def instance_result(view: SeriesView, uid: str, stored: CTSlice) -> Dataset:
    ds = series_result(view)
    del ds.NumberOfSeriesRelatedInstances
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid
    ds.InstanceNumber = stored.index + 1
    ds.Rows = view.series.rows
    ds.Columns = view.series.columns
    ds.NumberOfFrames = 1
    return ds


def json_list(datasets: Iterable[Dataset]) -> list[dict]:
    return [ds.to_json_dict() for ds in datasets]


def without_pixels(ds: Dataset) -> dict:
    """DICOM JSON metadata of an instance: every attribute but the (bulk) pixel data."""
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        if tag in ds:
            del ds[tag]
    return ds.to_json_dict(bulk_data_threshold=10**9)


@dataclass(frozen=True)
class Multipart:
    boundary: str
    part_type: str

    @classmethod
    def new(cls, part_type: str) -> Multipart:
        return cls(boundary=uuid.uuid4().hex, part_type=part_type)

    @property
    def content_type(self) -> str:
        base = self.part_type.split(";")[0]
        return f'multipart/related; type="{base}"; boundary={self.boundary}'

    def body(self, parts: Iterable[bytes]) -> Iterator[bytes]:
        for part in parts:
            yield (
                f"--{self.boundary}\r\nContent-Type: {self.part_type}\r\n"
                f"Content-Length: {len(part)}\r\n\r\n"
            ).encode()
            yield part
            yield b"\r\n"
        yield f"--{self.boundary}--\r\n".encode()


DICOM_PART = f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}"
OCTET_PART = f"application/octet-stream; transfer-syntax={ExplicitVRLittleEndian}"


def supported_keys(*levels: frozenset[str]) -> frozenset[str]:
    keys: set[str] = set()
    for level in levels:
        keys |= level
    assert all(tag_for_keyword(k) for k in keys)
    return frozenset(keys)
