"""DICOMweb checked with a real client (dicomweb-client) against the live server, by token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dicomweb_client import DICOMwebClient
from django.core.files.storage import default_storage
from rest_framework.authtoken.models import Token

from readerstudy.cohorts.models import CTSeries, CTSlice
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from tests.cohort_factory import write_cohort
from tests.imaging.conftest import COHORT_NAME, World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest, django_db_setup) -> Iterator:
    """pytest-django's live server per module, on plain HTTP (read when its handler is built)."""
    from django.test import override_settings
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv(
        "DJANGO_LIVE_TEST_SERVER_ADDRESS", "localhost"
    )
    with override_settings(SECURE_SSL_REDIRECT=False):
        server = LiveServer(addr)
        try:
            yield server
        finally:
            server.stop()


def _client(live_server, user) -> DICOMwebClient:
    token, _ = Token.objects.get_or_create(user=user)
    return DICOMwebClient(
        url=f"{live_server.url}/api/v1/dicomweb", headers={"Authorization": f"Token {token.key}"}
    )


def _value(result: dict, tag: str):
    value = result[tag].get("Value", [None])[0]
    return value["Alphabetic"] if isinstance(value, dict) else value


def _stored_pixels(series: CTSeries, index: int) -> bytes:
    import pydicom

    stored = CTSlice.objects.get(series=series, index=index)
    with default_storage.open(stored.file.name, "rb") as handle:
        return pydicom.dcmread(handle).PixelData


PATIENT_ID, STUDY_UID, SERIES_UID, SOP_UID = "00100020", "0020000D", "0020000E", "00080018"


def test_a_reader_sees_only_their_open_cases_under_neutral_identifiers(
    live_server, world: World, tmp_path: Path
) -> None:
    # A cohort in no study of this reader, and another study they are not in.
    other = cohort_import_folder(write_cohort(tmp_path / "other", name="Unrelated cohort")).cohort
    elsewhere = services.study_create(name="Elsewhere", cohorts=[other])
    services.study_assign_readers(study=elsewhere, readers=[world.other_reader])
    services.study_open(study=elsewhere)

    client = _client(live_server, world.reader)
    studies = client.search_for_studies()
    stored = {
        s.study_instance_uid: s for s in CTSeries.objects.filter(patient__cohort=world.cohort)
    }
    assert len(studies) == len(stored) == 2
    labels = sorted(_value(s, PATIENT_ID) for s in studies)
    assert all(label.startswith("Case ") for label in labels)
    text = str(studies)
    for series in CTSeries.objects.select_related("patient"):
        for needle in (
            series.patient.pseudonym,
            series.study_instance_uid,
            series.series_instance_uid,
        ):
            assert needle not in text
    assert COHORT_NAME not in text

    # Matching by the neutral label finds exactly that case.
    (match,) = client.search_for_studies(search_filters={"PatientID": labels[0]})
    assert _value(match, PATIENT_ID) == labels[0]

    study_uid = _value(studies[0], STUDY_UID)
    (series_result,) = client.search_for_series(study_uid)
    series_uid = _value(series_result, SERIES_UID)
    instances = client.search_for_instances(study_uid, series_uid)
    assert len(instances) == 8
    metadata = client.retrieve_series_metadata(study_uid, series_uid)
    assert len(metadata) == 8
    assert all(m[PATIENT_ID]["Value"][0] in labels for m in metadata)
    assert not any(
        s.patient.pseudonym in str(metadata) for s in CTSeries.objects.select_related("patient")
    )

    # Which stored series is it? The reader's first case in its position order tells.
    by_number = sorted((m["00200013"]["Value"][0], m[SOP_UID]["Value"][0]) for m in metadata)
    number, sop_uid = by_number[0]
    instance = client.retrieve_instance(study_uid, series_uid, sop_uid)
    assert instance.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    candidates = {s.pk: _stored_pixels(s, number - 1) for s in stored.values()}
    (series_pk,) = [pk for pk, pixels in candidates.items() if pixels == instance.PixelData]
    (frame,) = client.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert frame == candidates[series_pk]
    everything = client.retrieve_series(study_uid, series_uid)
    assert sorted(ds.InstanceNumber for ds in everything) == list(range(1, 9))
    assert {str(ds.PatientID) for ds in everything} == {str(instance.PatientID)}

    # Stored identifiers, other studies' scans and the other reader's UIDs are unknown.
    series = CTSeries.objects.get(pk=series_pk)
    with pytest.raises(requests.HTTPError) as caught:
        client.retrieve_series_metadata(series.study_instance_uid, series.series_instance_uid)
    assert caught.value.response.status_code == 404
    theirs = _client(live_server, world.other_reader).search_for_studies()
    assert len(theirs) == 4  # both studies' scans
    their_uids = {_value(s, STUDY_UID) for s in theirs}
    assert not their_uids & {_value(s, STUDY_UID) for s in studies}
    with pytest.raises(requests.HTTPError):
        client.search_for_series(sorted(their_uids)[0])

    # Once the study is closed, the reader sees nothing.
    services.study_close(study=world.study)
    assert client.search_for_studies() == []


def test_coordinators_see_whole_cohorts_under_stored_identifiers(live_server, world: World) -> None:
    series = CTSeries.objects.select_related("patient").filter(patient__cohort=world.cohort)
    for user in (world.coordinator, world.statistician):
        client = _client(live_server, user)
        studies = client.search_for_studies()
        assert {_value(s, STUDY_UID) for s in studies} == {s.study_instance_uid for s in series}
        assert {_value(s, PATIENT_ID) for s in studies} == {s.patient.pseudonym for s in series}
    first = series.first()
    client = _client(live_server, world.coordinator)
    instances = client.search_for_instances(first.study_instance_uid, first.series_instance_uid)
    assert len(instances) == first.slice_count
    stored = CTSlice.objects.get(series=first, index=3)
    instance = client.retrieve_instance(
        first.study_instance_uid, first.series_instance_uid, stored.sop_instance_uid
    )
    assert instance.PatientID == first.patient.pseudonym
    assert instance.PixelData == _stored_pixels(first, 3)
    (frame,) = client.retrieve_instance_frames(
        first.study_instance_uid, first.series_instance_uid, stored.sop_instance_uid, [1]
    )
    assert frame == _stored_pixels(first, 3)
    assert len(client.retrieve_study(first.study_instance_uid)) == first.slice_count
    meta = client.retrieve_instance_metadata(
        first.study_instance_uid, first.series_instance_uid, stored.sop_instance_uid
    )
    assert meta[SOP_UID]["Value"] == [stored.sop_instance_uid]
    assert "7FE00010" not in meta


def test_without_a_token_nothing_is_served(live_server, world: World) -> None:
    base = f"{live_server.url}/api/v1/dicomweb"
    response = requests.get(f"{base}/studies", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")
    bad = requests.get(f"{base}/studies", headers={"Authorization": "Token nope"}, timeout=10)
    assert bad.status_code == 401
    assert _client(live_server, world.outsider).search_for_studies() == []
