"""A reader's item images: blinded DICOM slices, the node's outline, reformats, access."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from matplotlib.path import Path as PolygonPath
from pydicom.uid import ExplicitVRLittleEndian
from skimage.draw import ellipse

from readerstudy.cohorts.models import CTSlice, PatientIdentity
from readerstudy.imaging.geometry import outline
from readerstudy.studies import services
from readerstudy.studies.models import ReadingOrderEntry
from tests.imaging.conftest import COHORT_NAME, World

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _dicom(response) -> pydicom.Dataset:
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"] == "application/dicom"
    return pydicom.dcmread(io.BytesIO(response.content))


def _stored(stored_slice: CTSlice) -> pydicom.Dataset:
    with default_storage.open(stored_slice.file.name, "rb") as handle:
        return pydicom.dcmread(handle)


def _same_scan_position(world: World, reader, entry: ReadingOrderEntry) -> int:
    return (
        ReadingOrderEntry.objects.filter(
            assignment__reader=reader, arm=entry.arm, case__node__series=entry.case.node.series
        )
        .values_list("position", flat=True)
        .first()
    )


def test_a_served_slice_carries_no_identifier_and_the_stored_pixels(world: World) -> None:
    entry = world.entry(world.reader)
    series = entry.case.node.series
    patient = series.patient
    identity = PatientIdentity.objects.get(patient=patient)
    data = _client(world.reader).get(world.item_url()).json()
    assert data["label"] == "Case 001"

    served_uids: set[str] = set()
    for index, url in enumerate(data["slices"]):
        response = _client(world.reader).get(url)
        assert response["Cache-Control"].startswith("private")
        content = response.content
        ds = _dicom(response)
        stored_slice = CTSlice.objects.get(series=series, index=index)
        stored = _stored(stored_slice)
        traceable = [
            patient.pseudonym,
            identity.source_patient_id,
            identity.dicom_study_instance_uid,
            series.study_instance_uid,
            series.series_instance_uid,
            series.frame_of_reference_uid,
            stored_slice.sop_instance_uid,
            stored_slice.file.name.rsplit("/", 1)[-1],
            COHORT_NAME,
            world.cohort.institution,
            "DOE",
            "2024",
        ]
        for needle in filter(None, traceable):
            assert needle.encode() not in content, needle
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.PatientID == ds.PatientName == "Case 001"
        for keyword in ("StudyDate", "PatientBirthDate", "AccessionNumber", "InstitutionName"):
            assert not ds.get(keyword)
        assert not any(
            element.VR in ("DA", "DT", "TM") and element.value for element in ds.iterall()
        )
        assert ds.PixelData == stored.PixelData
        assert np.array_equal(ds.pixel_array, stored.pixel_array)
        assert (ds.RescaleSlope, ds.RescaleIntercept) == (
            stored.RescaleSlope,
            stored.RescaleIntercept,
        )
        assert list(ds.ImagePositionPatient) == list(stored.ImagePositionPatient)
        assert list(ds.PixelSpacing) == list(stored.PixelSpacing)
        assert (ds.WindowWidth, ds.WindowCenter) == (350, 50)
        assert ds.InstanceNumber == index + 1
        served_uids.update(
            str(ds[k].value)
            for k in (
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPInstanceUID",
                "FrameOfReferenceUID",
            )
        )
        assert len(str(ds.SOPInstanceUID)) <= 64 and str(ds.SOPInstanceUID).startswith("2.25.")
    assert len(served_uids) == 3 + len(data["slices"])

    # The same scan for another reader of the same study: other UIDs, same pixels.
    position = _same_scan_position(world, world.other_reader, entry)
    other = _client(world.other_reader).get(world.item_url(position)).json()
    assert other["image_set_key"] != data["image_set_key"]
    theirs = _dicom(_client(world.other_reader).get(other["slices"][0]))
    assert str(theirs.StudyInstanceUID) not in served_uids
    assert str(theirs.SOPInstanceUID) not in served_uids
    assert theirs.PixelData == _stored(CTSlice.objects.get(series=series, index=0)).PixelData


def test_items_of_one_scan_share_their_image_set_key(world: World) -> None:
    client = _client(world.reader)
    by_series: dict[int, list[int]] = {}
    for entry in ReadingOrderEntry.objects.filter(assignment__reader=world.reader, arm__position=1):
        by_series.setdefault(entry.case.node.series_id, []).append(entry.position)
    keys = {
        series: {client.get(world.item_url(p)).json()["image_set_key"] for p in positions}
        for series, positions in by_series.items()
    }
    assert all(len(k) == 1 for k in keys.values())
    assert len({next(iter(k)) for k in keys.values()}) == len(keys)


def test_images_json_centres_the_node(world: World) -> None:
    entry = world.entry(world.reader, position=2)
    node = entry.case.node
    data = _client(world.reader).get(world.item_url(2)).json()
    assert data["node"]["centroid"] == node.centroid_voxel
    assert data["node"]["bbox"] == node.bbox
    s0, _, _, s1, _, _ = node.bbox
    assert s0 <= data["node"]["central_slice"] < s1
    assert data["node"]["central_slice"] == round(node.centroid_voxel[0])
    assert (data["rows"], data["columns"], data["slice_count"]) == (32, 32, 8)
    assert (data["row_spacing_mm"], data["column_spacing_mm"], data["slice_spacing_mm"]) == (
        0.7,
        0.7,
        3.0,
    )
    assert data["default_window"] == {"width": 350, "center": 50}
    text = str(data)
    assert node.series.patient.pseudonym not in text and node.series.series_instance_uid not in text


def test_outline_polygons_trace_the_node_box_on_every_slice_it_spans(world: World) -> None:
    client = _client(world.reader)
    for position in (1, 2, 3):
        node = world.entry(world.reader, position).case.node
        s0, r0, c0, s1, r1, c1 = node.bbox  # the factory's nodes are boxes
        data = client.get(world.item_url(position, "/outline")).json()
        assert sorted(int(k) for k in data["slices"]) == list(range(s0, s1))
        for polygons in data["slices"].values():
            assert len(polygons) == 1
            xs, ys = zip(*polygons[0], strict=True)
            assert (min(xs), max(xs), min(ys), max(ys)) == (c0, c1, r0, r1)
        rows = 8
        (coronal,) = data["coronal"]
        xs, ys = zip(*coronal, strict=True)
        assert (min(xs), max(xs)) == (c0, c1)
        assert (min(ys), max(ys)) == (rows - s1, rows - s0)  # head at the top
        (sagittal,) = data["sagittal"]
        xs, ys = zip(*sagittal, strict=True)
        assert (min(xs), max(xs)) == (r0, r1)
        assert (min(ys), max(ys)) == (rows - s1, rows - s0)


def test_outline_of_an_ellipse_encloses_exactly_its_pixels() -> None:
    mask = np.zeros((64, 80), dtype=bool)
    mask[ellipse(30, 40, 12, 25, shape=mask.shape)] = True
    (polygon,) = outline(mask)
    path = PolygonPath(np.array(polygon))
    rows, columns = np.mgrid[0:64, 0:80]
    # Pixel (x, y) covers [x, x+1) x [y, y+1): its centre is (x + 0.5, y + 0.5).
    centres = np.column_stack([columns.ravel() + 0.5, rows.ravel() + 0.5])
    inside = path.contains_points(centres).reshape(mask.shape)
    assert np.array_equal(inside, mask)


def test_reformats_cut_through_the_centroid_with_the_stored_hu(world: World) -> None:
    entry = world.entry(world.reader, position=2)
    node = entry.case.node
    series = node.series
    volume = np.stack(
        [
            _stored(s).pixel_array * float(_stored(s).RescaleSlope)
            + float(_stored(s).RescaleIntercept)
            for s in CTSlice.objects.filter(series=series).order_by("index")
        ]
    )
    row, column = round(node.centroid_voxel[1]), round(node.centroid_voxel[2])
    client = _client(world.reader)
    data = client.get(world.item_url(2)).json()
    assert data["reformat_through"] == {"coronal_row": row, "sagittal_column": column}
    first = np.array(series.first_position, dtype=float)

    coronal = _dicom(client.get(data["reformats"]["coronal"]))
    assert (coronal.Rows, coronal.Columns) == (8, 32)
    assert [float(v) for v in coronal.PixelSpacing] == [3.0, 0.7]
    hu = coronal.pixel_array * float(coronal.RescaleSlope) + float(coronal.RescaleIntercept)
    assert np.array_equal(hu, volume[::-1, row, :])
    # Pixel (0, 0) is the last (most superior) slice, row ``row``, column 0.
    expected = first + np.array([0, row * 0.7, 7 * 3.0])
    assert np.allclose([float(v) for v in coronal.ImagePositionPatient], expected)
    assert [float(v) for v in coronal.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]

    sagittal = _dicom(client.get(data["reformats"]["sagittal"]))
    assert (sagittal.Rows, sagittal.Columns) == (8, 32)
    assert [float(v) for v in sagittal.PixelSpacing] == [3.0, 0.7]
    hu = sagittal.pixel_array * float(sagittal.RescaleSlope) + float(sagittal.RescaleIntercept)
    assert np.array_equal(hu, volume[::-1, :, column])
    assert [float(v) for v in sagittal.ImageOrientationPatient] == [0, 1, 0, 0, 0, -1]
    for ds in (coronal, sagittal):
        assert ds.PatientID == "Case 002"
        assert series.patient.pseudonym.encode() not in ds.PixelData  # sanity of the search below
        assert str(ds.StudyInstanceUID) != series.study_instance_uid
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


SUFFIXES = ("", "/slices/0", "/outline", "/coronal", "/sagittal")


def test_nobody_but_the_assigned_reader_opens_an_item(world: World, make_user) -> None:
    def statuses(client: Client, position: int = 1, arm: int = 1) -> set[int]:
        return {client.get(world.item_url(position, s, arm=arm)).status_code for s in SUFFIXES}

    assert statuses(_client(world.reader)) == {200}
    assert statuses(Client()) == {403}
    for user in (world.outsider, world.coordinator, world.statistician):
        assert statuses(_client(user)) == {404}
    assert statuses(_client(world.reader), position=999) == {404}
    assert statuses(_client(world.reader), arm=2) == {404}
    assert _client(world.reader).get(world.item_url(1, "/slices/8")).status_code == 404

    # Another open study over the same cohort, not assigned to this reader.
    elsewhere = services.study_create(name="Elsewhere", cohorts=[world.cohort])
    services.study_assign_readers(study=elsewhere, readers=[world.other_reader])
    services.study_open(study=elsewhere)
    url = f"/api/v1/studies/{elsewhere.pk}/arms/1/items/1/images"
    assert _client(world.reader).get(url).status_code == 404
    assert _client(world.other_reader).get(url).status_code == 200

    services.study_close(study=world.study)
    assert statuses(_client(world.reader)) == {404}


def test_token_authentication_opens_an_item(world: World) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=world.reader)
    client = Client(headers={"Authorization": f"Token {token.key}"})
    assert client.get(world.item_url(1, "/slices/0")).status_code == 200
    assert Client(headers={"Authorization": "Token nope"}).get(world.item_url()).status_code in (
        401,
        403,
    )


def test_media_files_are_not_served(world: World) -> None:
    stored = CTSlice.objects.filter(series__patient__cohort=world.cohort).first()
    for client in (Client(), _client(world.coordinator)):
        assert client.get(f"/media/{stored.file.name}").status_code == 404
        assert client.get(f"/{stored.file.name}").status_code == 404
