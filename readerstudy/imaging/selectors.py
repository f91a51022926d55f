"""Reads for images: which scan a user may see, and its pixels, outlines and reformats.

Two audiences, one rule each:

- A reader reaches a scan only through one of their reading items (``reading_item_get``) or, over
  DICOMweb, as one of the scans of their assigned, open studies; always under neutral labels and
  UIDs re-keyed for that (reader, study) (``blinding``).
- Users who may see whole cohorts (``sees_whole_cohorts``: coordinators, statisticians, admins)
  get every stored series under its stored, already de-identified, UIDs and pseudonyms.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pydicom
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import Http404
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from readerstudy.accounts.models import User
from readerstudy.cohorts.models import CTSeries, CTSlice, Node
from readerstudy.imaging import blinding
from readerstudy.imaging.geometry import (
    PLANES,
    Plane,
    PlaneGeometry,
    SeriesGeometry,
    node_outlines,
    plane_through,
)
from readerstudy.studies.models import ReadingOrderEntry, StudyStatus
from readerstudy.studies.permissions import sees_every_study

# Derived data (outlines, reformatted planes) depends only on stored, immutable files, so it is
# cached under the label map's storage name (which holds the digest of the imported content);
# the version below invalidates everything if the derived format changes.
CACHE_VERSION = 1
CACHE_SECONDS = 24 * 3600


# TODO(merge): use studies.selectors.reading_item_get
def reading_item_get(
    *, reader: User, study_id: int, arm_position: int, position: int
) -> ReadingOrderEntry:
    """The reader's reading item, or Http404 when not theirs, the study is not open or none."""
    entry = (
        ReadingOrderEntry.objects.select_related(
            "assignment__study", "arm", "case__node__series__patient"
        )
        .filter(
            assignment__reader=reader,
            assignment__study_id=study_id,
            assignment__study__status=StudyStatus.OPEN,
            arm__position=arm_position,
            position=position,
        )
        .first()
    )
    if entry is None:
        raise Http404("no such reading item")
    return entry


def item_label(entry: ReadingOrderEntry) -> str:
    # TODO(merge): use the label h-api's reading item carries (case_number / node_number).
    return f"Case {entry.position:03d}"


def sees_whole_cohorts(user: User | AnonymousUser) -> bool:
    """Coordinators, statisticians and admins: every series, under its stored identifiers."""
    return user.is_authenticated and (
        user.has_perm("cohorts.view_cohort") or sees_every_study(user)
    )


def reader_key(*, reader_id: int, study_id: int) -> bytes:
    return blinding.blinding_key(secret=settings.SECRET_KEY, reader_id=reader_id, study_id=study_id)


def series_geometry(series: CTSeries) -> SeriesGeometry:
    return SeriesGeometry(
        slice_count=series.slice_count,
        rows=series.rows,
        columns=series.columns,
        row_spacing=series.pixel_spacing_row_mm,
        column_spacing=series.pixel_spacing_column_mm,
        slice_spacing=series.slice_spacing_mm,
        orientation=tuple(float(v) for v in series.image_orientation),
        first_position=tuple(float(v) for v in series.first_position),
    )


def central_slice(node: Node) -> int:
    s0, _, _, s1, _, _ = node.bbox
    return int(np.clip(round(node.centroid_voxel[0]), s0, s1 - 1))


def node_planes(node: Node) -> dict[Plane, PlaneGeometry]:
    geometry = series_geometry(node.series)
    return {plane: plane_through(geometry, plane, node.centroid_voxel) for plane in PLANES}


def _read_stored(name: str, *, pixels: bool = True) -> Dataset:
    with default_storage.open(name, "rb") as handle:
        return pydicom.dcmread(handle, stop_before_pixels=not pixels)


def stored_slice_get(*, series: CTSeries, index: int) -> CTSlice:
    found = CTSlice.objects.filter(series=series, index=index).first()
    if found is None:
        raise Http404("no such slice")
    return found


def label_map_get(series: CTSeries) -> np.ndarray:
    with default_storage.open(series.label_map.name, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)["labels"]


def node_outline_get(node: Node) -> dict:
    """The node's outline per axial slice and on its coronal and sagittal reformats."""
    key = f"imaging:v{CACHE_VERSION}:outline:{node.series.label_map.name}:{node.mask_label}"
    found = cache.get(key)
    if found is None:
        geometry = series_geometry(node.series)
        found = node_outlines(
            label_map_get(node.series),
            mask_label=node.mask_label,
            bbox=list(node.bbox),
            planes=node_planes(node),
            rows_descending=geometry.rows_descending,
        )
        cache.set(key, found, CACHE_SECONDS)
    return found


def _hu(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * slope + intercept


def reformat_hu_get(*, series: CTSeries, plane: PlaneGeometry) -> np.ndarray:
    """HU of a coronal/sagittal cut of the series, rows as in the reformat (see geometry)."""
    key = f"imaging:v{CACHE_VERSION}:plane:{series.label_map.name}:{plane.plane}:{plane.through}"
    found = cache.get(key)
    if found is None:
        rows = []
        for name in (
            CTSlice.objects.filter(series=series).order_by("index").values_list("file", flat=True)
        ):
            ds = _read_stored(name)
            pixels = ds.pixel_array
            cut = pixels[plane.through, :] if plane.plane == "coronal" else pixels[:, plane.through]
            rows.append(_hu(ds, cut))
        found = np.stack(rows)
        if series_geometry(series).rows_descending:
            found = found[::-1]
        found = np.ascontiguousarray(found)
        cache.set(key, found, CACHE_SECONDS)
    return found


@dataclass(frozen=True)
class SeriesView:
    """One series as one user sees it: stored identifiers, or blinded ones for a reader."""

    series: CTSeries
    key: bytes | None  # a reader's blinding key; None: stored identifiers
    label: str = ""  # a reader's neutral case label

    def uid(self, stored: str) -> str:
        return stored if self.key is None else blinding.blinded_uid(stored, key=self.key)

    @property
    def study_uid(self) -> str:
        return self.uid(self.series.study_instance_uid)

    @property
    def series_uid(self) -> str:
        return self.uid(self.series.series_instance_uid)

    @property
    def patient_id(self) -> str:
        return self.series.patient.pseudonym if self.key is None else self.label

    @cached_property
    def instance_uids(self) -> dict[str, CTSlice]:
        return {
            self.uid(s.sop_instance_uid): s
            for s in self.series.slices.order_by("index").only(
                "index", "sop_instance_uid", "file", "series_id"
            )
        }

    def instance_bytes(self, stored_slice: CTSlice) -> bytes:
        """The instance as a Part 10 file, explicit VR little endian, uncompressed."""
        if self.key is None:
            return stored_instance_bytes(stored_slice)
        return reader_slice_bytes(stored_slice=stored_slice, key=self.key, label=self.label)

    def instance_dataset(self, stored_slice: CTSlice, *, pixels: bool) -> Dataset:
        stored = _read_stored(stored_slice.file.name, pixels=pixels)
        if self.key is None:
            return stored
        key = self.key
        return blinding.reader_slice(
            stored,
            label=self.label,
            uid=lambda uid: blinding.blinded_uid(uid, key=key),
            instance_number=stored_slice.index + 1,
            pixels=pixels,
        )


def stored_instance_bytes(stored_slice: CTSlice) -> bytes:
    with default_storage.open(stored_slice.file.name, "rb") as handle:
        content = handle.read()
    stored = pydicom.dcmread(io.BytesIO(content))
    if stored.file_meta.get("TransferSyntaxUID") == ExplicitVRLittleEndian:
        return content
    stored.add_new(0x7FE00010, "OW", blinding.little_endian_pixels(stored))
    return blinding.encode(stored)


def reader_slice_bytes(*, stored_slice: CTSlice, key: bytes, label: str) -> bytes:
    stored = _read_stored(stored_slice.file.name)
    ds = blinding.reader_slice(
        stored,
        label=label,
        uid=lambda uid: blinding.blinded_uid(uid, key=key),
        instance_number=stored_slice.index + 1,
    )
    return blinding.encode(ds)


def item_series_view(entry: ReadingOrderEntry) -> SeriesView:
    return SeriesView(
        series=entry.case.node.series,
        key=reader_key(reader_id=entry.assignment.reader_id, study_id=entry.assignment.study_id),
        label=item_label(entry),
    )


def item_reformat_bytes(*, entry: ReadingOrderEntry, plane: Plane) -> bytes:
    node = entry.case.node
    series = node.series
    view = item_series_view(entry)
    geometry = node_planes(node)[plane]
    tag = f"{series.series_instance_uid}/reformat/{plane}"
    ds = blinding.reformat_slice(
        reformat_hu_get(series=series, plane=geometry),
        label=view.label,
        study_uid=view.study_uid,
        series_uid=view.uid(tag),
        instance_uid=view.uid(f"{tag}/{geometry.through}"),
        frame_of_reference_uid=view.uid(
            series.frame_of_reference_uid or series.series_instance_uid
        ),
        position=geometry.position,
        orientation=geometry.orientation,
        pixel_spacing=geometry.pixel_spacing,
        thickness=geometry.thickness,
        description=plane,
    )
    return blinding.encode(ds)


# --- DICOMweb ---------------------------------------------------------------------------------


@dataclass
class VisibleSeries:
    """The series a user may see over DICOMweb, each as that user sees it."""

    views: list[SeriesView] = field(default_factory=list)

    def studies(self) -> dict[str, list[SeriesView]]:
        grouped: dict[str, list[SeriesView]] = {}
        for view in self.views:
            grouped.setdefault(view.study_uid, []).append(view)
        return grouped


def _reader_views(reader: User) -> Iterable[SeriesView]:
    """One view per (open assigned study, scan): labelled with the scan's first case in the
    reader's first arm."""
    entries = (
        ReadingOrderEntry.objects.filter(
            assignment__reader=reader,
            assignment__study__status=StudyStatus.OPEN,
            arm__position=1,
        )
        .select_related("assignment", "case__node__series__patient")
        .order_by("assignment__study_id", "position")
    )
    seen: set[tuple[int, int]] = set()
    for entry in entries:
        series = entry.case.node.series
        if (entry.assignment.study_id, series.pk) in seen:
            continue
        seen.add((entry.assignment.study_id, series.pk))
        yield item_series_view(entry)


def dicomweb_series_list(
    *, user: User | AnonymousUser, study_uids: Iterable[str] = (), series_uids: Iterable[str] = ()
) -> list[SeriesView]:
    """The series ``user`` may see, narrowed to the given (as-seen) study / series UIDs."""
    if not user.is_authenticated:
        return []
    wanted_studies, wanted_series = set(study_uids), set(series_uids)
    if sees_whole_cohorts(user):
        queryset = CTSeries.objects.select_related("patient").order_by("pk")
        if wanted_studies:
            queryset = queryset.filter(study_instance_uid__in=wanted_studies)
        if wanted_series:
            queryset = queryset.filter(series_instance_uid__in=wanted_series)
        return [SeriesView(series=series, key=None) for series in queryset]
    assert isinstance(user, User)
    return [
        view
        for view in _reader_views(user)
        if (not wanted_studies or view.study_uid in wanted_studies)
        and (not wanted_series or view.series_uid in wanted_series)
    ]
