"""De-identification (PS3.15 Table E.1-1): nothing identifying survives the real import.

The fixture is a synthetic CT series (tests/cohort_factory.py) into which distinctive marker
text is written in every place where identifying data was found to survive earlier: nested
sequences two and three levels deep, about twenty attributes of the table, the file meta
header, the 128-byte preamble and private tags. After ``cohort_import_folder`` every byte
stored under media storage is searched for every marker.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from readerstudy.cohorts.confidentiality_profile import ADDED_BY_2026C, TABLE_E_1_1
from readerstudy.cohorts.deidentify import (
    BASIC_PROFILE,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    Option,
    Profile,
    date_shift_days,
    deidentify_dataset,
    replace_uid,
    rule_for,
)
from readerstudy.cohorts.models import CTSeries, CTSlice
from readerstudy.cohorts.services import cohort_import_folder
from tests.cohort_factory import default_patients, dicom_files, write_cohort
from tests.conftest import stored_files

KEY = b"k" * 32

# Marker text per attribute (top level). Dates and times must be valid for their VR, so
# they are distinctive values rather than words.
TOP_LEVEL_MARKERS: dict[str, str] = {
    "AdmissionID": "LEAKADMISSIONID",
    "MedicalAlerts": "LEAKMEDICALALERTS",
    "Allergies": "LEAKALLERGIES",
    "RequestedProcedureID": "LEAKREQPROCID",
    "PlacerOrderNumberImagingServiceRequest": "LEAKPLACERORDER",
    "FillerOrderNumberImagingServiceRequest": "LEAKFILLERORDER",
    "RequestingService": "LEAKREQSERVICE",
    "PerformedStationName": "LEAKPERFSTATION",
    "PerformedLocation": "LEAKPERFLOCATN",
    "PerformedStationAETitle": "LEAKPERFAETITLE",
    "PerformedProcedureStepStartDate": "19470312",
    "PerformedProcedureStepStartTime": "235959.424242",
    "PerformedProcedureStepEndDate": "19470313",
    "PerformedProcedureStepID": "LEAKPPSID",
    "CommentsOnThePerformedProcedureStep": "LEAKPPSCOMMENTS",
    "StudyComments": "LEAKSTUDYCOMMENTS",
    "AcquisitionComments": "LEAKACQCOMMENTS",
    "DateOfLastCalibration": "19470314",
    "TimezoneOffsetFromUTC": "+0347",
    "AcquisitionDeviceProcessingDescription": "LEAKDEVICEPROCESSING",
    "IdentifyingComments": "LEAKIDENTIFYINGCOMMENTS",
    "StationName": "LEAKSTATIONNAME",
    "DeviceSerialNumber": "LEAKSERIAL",
    "OperatorsName": "LEAK^OPERATOR",
    "PerformingPhysicianName": "LEAK^PERFORMER",
    "ImageComments": "LEAKIMAGECOMMENTS",
    "StudyDescription": "LEAKSTUDYDESCRIPTION",
    "ProtocolName": "LEAKPROTOCOL",
    "InstitutionalDepartmentName": "LEAKDEPARTMENT",
    "OtherPatientIDs": "LEAKOTHERPID",
    "PatientTelephoneNumbers": "LEAKTELEPHONE",
    "AcquisitionDate": "19470315",
    "SeriesDate": "19470316",
    "ContentDate": "19470317",
    # Not in Table E.1-1: kept by the profile, emptied here as unlisted free text.
    "PositionReferenceIndicator": "LEAKPOSITIONREF",
    "SoftwareVersions": "LEAKSOFTWARE",
}
# Marker text at depth 2 and 3 of nested sequences.
NESTED_MARKERS = {
    "rpps_name": "LEAK^RPPS^NAME",
    "rpps_id": "LEAKRPPSID",
    "original_name": "LEAK^ORIGINAL^NAME",
    "original_birth": "19470318",
    "content_text": "LEAKCONTENTTEXT",
    "content_person": "LEAK^CONTENT^PERSON",
    "content_deep_name": "LEAK^CONTENT^DEEP",
    "refimage_name": "LEAK^REFIMAGE^NAME",
    "refimage_deep_institution": "LEAKDEEPINSTITUTION",
    "refimage_deep_accession": "LEAKDEEPACCN",
    "refimage_deep_otherid": "LEAKDEEPOTHERID",
    "refimage_deep_birth": "19470319",
    "anatomic_patient_id": "LEAKANATOMICPID",
    "private_nested": "LEAKPRIVATENESTED",
}
FILE_MARKERS = {
    "source_ae": "LEAKSOURCEAE",
    "private_information": "LEAKPRIVATEINFO",
    "private_information_creator": "1.2.3.4.424242.1",
    "implementation_version": "LEAKIMPLVER",
    "preamble": "LEAKPREAMBLE",
    "private_value": "LEAKPRIVATEVALUE",
    "private_creator": "LEAK CREATOR",
    # From the factory's own slices: identifying values it already writes.
    "patient_id": "MRN1000",
    "patient_name": "DOE^JOHN",
    "institution": "Springfield",
    "address": "Hospital Road",
    "referring": "House^Gregory",
    "accession": "ACC123456",
    "birth_date": "19600101",
    "series_description": "Neck venous",
    "contrast_agent": "Iohexol",
}


def _item(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def _inject(ds: Dataset, *, previous_sop_uid: str | None) -> None:
    """Write every marker into ``ds`` (a slice of the factory's series)."""
    for keyword, value in TOP_LEVEL_MARKERS.items():
        setattr(ds, keyword, value)
    ds.add_new(0x60004000, "LT", "LEAKOVERLAYCOMMENTS")
    ds.add_new(0x60000010, "US", 32)
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.ManufacturerModelName = "TestModel"
    n = NESTED_MARKERS
    # Depth 2: Referenced Performed Procedure Step Sequence (X/Z/D).
    ds.ReferencedPerformedProcedureStepSequence = Sequence(
        [
            _item(
                ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.3",
                ReferencedSOPInstanceUID="1.2.3.4.5.6.7",
                PatientName=n["rpps_name"],
                PatientID=n["rpps_id"],
            )
        ]
    )
    # Depth 3: Original Attributes Sequence (X) > Modified Attributes Sequence.
    ds.OriginalAttributesSequence = Sequence(
        [
            _item(
                ModifiedAttributesSequence=Sequence(
                    [
                        _item(
                            PatientName=n["original_name"],
                            PatientBirthDate=n["original_birth"],
                        )
                    ]
                ),
                ModifyingSystem="LEAKMODSYSTEM",
                ReasonForTheAttributeModification="CORRECT",
            )
        ]
    )
    # Depth 2 and 3: Content Sequence (D).
    ds.ContentSequence = Sequence(
        [
            _item(
                ValueType="TEXT",
                TextValue=n["content_text"],
                PersonName=n["content_person"],
                ContentSequence=Sequence([_item(PatientName=n["content_deep_name"])]),
            )
        ]
    )
    # Sequences that are kept (X/Z/U* and an unlisted one): their items are de-identified.
    referenced = _item(
        ReferencedSOPClassUID=CTImageStorage,
        ReferencedSOPInstanceUID=previous_sop_uid or ds.SOPInstanceUID,
        PatientName=n["refimage_name"],
        SourceImageSequence=Sequence(
            [
                _item(
                    ReferencedSOPClassUID=CTImageStorage,
                    ReferencedSOPInstanceUID=previous_sop_uid or ds.SOPInstanceUID,
                    InstitutionName=n["refimage_deep_institution"],
                    AccessionNumber=n["refimage_deep_accession"],
                    OtherPatientIDs=n["refimage_deep_otherid"],
                    PatientBirthDate=n["refimage_deep_birth"],
                )
            ]
        ),
    )
    referenced.private_block(0x0013, "LEAK CREATOR", create=True).add_new(
        0x01, "LO", n["private_nested"]
    )
    ds.ReferencedImageSequence = Sequence([referenced])
    ds.AnatomicRegionSequence = Sequence(
        [
            _item(
                CodeValue="69536005",
                CodingSchemeDesignator="SCT",
                CodeMeaning="Head and Neck",
                PatientID=n["anatomic_patient_id"],
            )
        ]
    )
    # Private tags and file meta.
    ds.private_block(0x0011, "LEAK CREATOR", create=True).add_new(
        0x01, "LO", FILE_MARKERS["private_value"]
    )
    ds.file_meta.SourceApplicationEntityTitle = FILE_MARKERS["source_ae"]
    ds.file_meta.ImplementationVersionName = FILE_MARKERS["implementation_version"]
    ds.file_meta.PrivateInformationCreatorUID = FILE_MARKERS["private_information_creator"]
    ds.file_meta.PrivateInformation = FILE_MARKERS["private_information"].encode()
    ds.preamble = FILE_MARKERS["preamble"].encode().ljust(128, b"\x01")


@pytest.fixture
def marked_cohort(tmp_path: Path) -> tuple[Path, list[Dataset]]:
    """A one-patient cohort whose slices carry every marker; returns it and the originals."""
    folder = write_cohort(tmp_path / "cohort", patients=default_patients(1))
    paths = sorted(
        dicom_files(folder, "MRN1000"), key=lambda p: int(pydicom.dcmread(p).InstanceNumber)
    )
    originals = []
    previous = None
    for path in paths:
        ds = pydicom.dcmread(path)
        _inject(ds, previous_sop_uid=previous)
        ds.save_as(path, enforce_file_format=True)
        previous = str(ds.SOPInstanceUID)
        originals.append(pydicom.dcmread(path))
    assert paths[0].read_bytes()[:12] == b"LEAKPREAMBLE"  # the fixture itself is marked
    return folder, originals


def _stored_bytes(media: Path) -> dict[str, bytes]:
    """Every stored file's bytes, plus the decompressed members of .npz label maps."""
    found = {}
    for path in stored_files(media):
        content = path.read_bytes()
        found[str(path)] = content
        if path.suffix == ".npz":
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for name in archive.namelist():
                    found[f"{path}:{name}"] = archive.read(name)
            with np.load(path) as arrays:
                for name in arrays.files:
                    found[f"{path}:{name}:array"] = arrays[name].tobytes()
    return found


@pytest.mark.django_db
def test_no_marker_survives_import_in_any_stored_byte(
    marked_cohort: tuple[Path, list[Dataset]], media_root: Path
) -> None:
    folder, originals = marked_cohort
    cohort_import_folder(folder)
    stored = _stored_bytes(media_root)
    assert sum(name.endswith(".dcm") for name in stored) == len(originals)
    assert any(name.endswith(".npz") for name in stored)

    markers = [
        *TOP_LEVEL_MARKERS.values(),
        *NESTED_MARKERS.values(),
        *FILE_MARKERS.values(),
        "LEAKOVERLAYCOMMENTS",
        "LEAKMODSYSTEM",
    ]
    for ds in originals:  # original UIDs must not survive anywhere either
        markers += [ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID]
        markers.append(ds.FrameOfReferenceUID)
    leaks = [
        (marker, name)
        for marker in set(markers)
        for name, content in stored.items()
        if marker.encode("ascii") in content
    ]
    assert leaks == []
    for name, content in stored.items():
        if name.endswith(".dcm"):
            assert content[:128] == b"\0" * 128, f"preamble of {name} not zeroed"


@pytest.mark.django_db
def test_stored_instances_record_the_method_and_carry_a_fresh_file_meta(
    marked_cohort: tuple[Path, list[Dataset]], media_root: Path
) -> None:
    folder, _ = marked_cohort
    cohort_import_folder(folder)
    series = CTSeries.objects.get()
    assert series.deidentification_method == BASIC_PROFILE.description
    assert "Basic Profile" in series.deidentification_method
    for stored in CTSlice.objects.filter(series=series):
        with stored.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        assert ds.PatientIdentityRemoved == "YES"
        assert list(ds.DeidentificationMethod) == BASIC_PROFILE.method_values
        codes = [
            (c.CodingSchemeDesignator, c.CodeValue) for c in ds.DeidentificationMethodCodeSequence
        ]
        assert codes == [("DCM", "113100")]
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
        meta = ds.file_meta
        assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        assert meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
        assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert meta.MediaStorageSOPClassUID == CTImageStorage
        assert set(meta.dir()) == {
            "FileMetaInformationGroupLength",
            "FileMetaInformationVersion",
            "ImplementationClassUID",
            "ImplementationVersionName",
            "MediaStorageSOPClassUID",
            "MediaStorageSOPInstanceUID",
            "TransferSyntaxUID",
        }
        assert not any(element.tag.is_private for element in ds.iterall())
        assert not any(0x6000 <= element.tag.group <= 0x60FF for element in ds)


GEOMETRY_AND_DISPLAY = (
    "Rows",
    "Columns",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "RescaleIntercept",
    "RescaleSlope",
    "WindowCenter",
    "WindowWidth",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "Modality",
    "KVP",
    "Manufacturer",
    "ManufacturerModelName",
    "ConvolutionKernel",
    "InstanceNumber",
    "SOPClassUID",
)


@pytest.mark.django_db
def test_pixels_and_geometry_survive_unchanged_and_references_stay_consistent(
    marked_cohort: tuple[Path, list[Dataset]], media_root: Path
) -> None:
    folder, originals = marked_cohort
    cohort_import_folder(folder)
    series = CTSeries.objects.get()
    by_number = {int(ds.InstanceNumber): ds for ds in originals}
    stored = []
    for row in CTSlice.objects.filter(series=series).order_by("index"):
        with row.file.open("rb") as handle:
            stored.append(pydicom.dcmread(handle))
    assert len(stored) == len(originals)
    for ds in stored:
        original = by_number[int(ds.InstanceNumber)]
        for keyword in GEOMETRY_AND_DISPLAY:
            assert ds[keyword].value == original[keyword].value, keyword
        assert ds.PixelData == original.PixelData
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        assert ds.ContrastBolusAgent in (None, "")  # Z/D in Table E.1-1
        assert ds.StudyInstanceUID == series.study_instance_uid
        assert ds.SeriesInstanceUID == series.series_instance_uid
        assert ds.FrameOfReferenceUID == series.frame_of_reference_uid
    # Slice k references slice k-1 (or itself, for the first) at depth 2 and 3: the new UIDs
    # must point at the new UIDs of the same instances.
    new_uid = {int(ds.InstanceNumber): ds.SOPInstanceUID for ds in stored}
    for ds in stored:
        number = int(ds.InstanceNumber)
        target = new_uid[number - 1] if number > 1 else new_uid[number]
        reference = ds.ReferencedImageSequence[0]
        assert reference.ReferencedSOPInstanceUID == target
        assert reference.SourceImageSequence[0].ReferencedSOPInstanceUID == target
        assert reference.ReferencedSOPClassUID == CTImageStorage


# --- The action table, one action kind at a time ------------------------------------------


def _dataset(**attributes: object) -> Dataset:
    ds = _item(**attributes)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.3.999.1"
    return ds


def test_table_carries_every_action_kind_and_known_rows() -> None:
    basic = {row[2] for row in (*TABLE_E_1_1, *ADDED_BY_2026C)}
    assert basic == {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    in_options = {action for row in TABLE_E_1_1 for action in row[3].values()}
    assert in_options == {"K", "C"}
    tags = [row[0] for row in (*TABLE_E_1_1, *ADDED_BY_2026C)]
    assert len(tags) == len(set(tags))
    # Rows as printed in PS3.15 Table E.1-1.
    assert rule_for(0x00100010) == ("Z", {})  # Patient's Name
    assert rule_for(0x00100020) == ("Z/D", {})  # Patient ID
    assert rule_for(0x00080080)[0] == "X/Z/D"  # Institution Name
    assert rule_for(0x00081140)[0] == "X/Z/U*"  # Referenced Image Sequence
    assert rule_for(0x0020000D) == ("U", {"retain_uids": "K"})  # Study Instance UID
    assert rule_for(0x60024000) == ("X", {"clean_graphics": "C"})  # Overlay Comments, 60xx
    assert rule_for(0x50100010) is not None  # Curve Data, 50xx,xxxx
    assert rule_for(0x00280010) is None  # Rows: not listed


def test_action_x_removes() -> None:
    ds = deidentify_dataset(
        _dataset(AdmissionID="A1", MedicalAlerts="M"), pseudonym="P", uid_key=KEY
    )
    assert "AdmissionID" not in ds and "MedicalAlerts" not in ds


def test_action_z_empties_values_and_sequences() -> None:
    ds = _dataset(AccessionNumber="ACC1", PatientBirthDate="19600101")
    ds.SpecimenPreparationSequence = Sequence([_item(SpecimenIdentifier="S1")])
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    assert ds["AccessionNumber"].value in (None, "")
    assert ds["PatientBirthDate"].value in (None, "")
    assert len(ds.SpecimenPreparationSequence) == 0


def test_action_d_writes_a_dummy_of_the_vr() -> None:
    ds = _dataset(PersonName="Smith^John", Date="20240101")
    ds.ContentSequence = Sequence([_item(TextValue="secret")])
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    assert str(ds.PersonName) == "ANONYMIZED"
    assert ds.Date == "19000101"
    assert len(ds.ContentSequence) == 1 and len(ds.ContentSequence[0]) == 0


def test_action_u_replaces_uids_by_the_keyed_hash_everywhere() -> None:
    ds = _dataset(StudyInstanceUID="1.2.3.4", FrameOfReferenceUID="1.2.3.5")
    ds.ReferencedImageSequence = Sequence(
        [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID="1.2.3.999.1")]
    )
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    assert ds.StudyInstanceUID == replace_uid("1.2.3.4", key=KEY)
    assert ds.FrameOfReferenceUID == replace_uid("1.2.3.5", key=KEY)
    assert ds.SOPInstanceUID == replace_uid("1.2.3.999.1", key=KEY)
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert replace_uid("1.2.3.4", key=b"other key") != ds.StudyInstanceUID
    assert len(ds.StudyInstanceUID) <= 64


def test_combined_actions() -> None:
    ds = _dataset(
        AcquisitionDate="20240101",  # X/Z -> removed
        ProtocolName="Neck",  # X/D -> removed
        StationName="CT01",  # X/Z/D -> removed
        ContentDate="20240101",  # Z/D -> emptied
        ContrastBolusAgent="Iohexol",  # Z/D -> emptied
    )
    ds.ReferencedPerformedProcedureStepSequence = Sequence([_item(PatientName="X")])
    ds.SourceImageSequence = Sequence(  # X/Z/U* -> kept, UIDs replaced
        [_item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID="1.2.3.7")]
    )
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    for keyword in (
        "AcquisitionDate",
        "ProtocolName",
        "StationName",
        "ReferencedPerformedProcedureStepSequence",
    ):
        assert keyword not in ds, keyword
    assert ds["ContentDate"].value in (None, "")
    assert ds["ContrastBolusAgent"].value in (None, "")
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == replace_uid("1.2.3.7", key=KEY)


def test_action_k_under_an_option_keeps() -> None:
    attributes = {"StationName": "CT01", "DeviceSerialNumber": "SN1", "PatientSex": "F"}
    basic = deidentify_dataset(_dataset(**attributes), pseudonym="P", uid_key=KEY)
    assert "StationName" not in basic and "DeviceSerialNumber" not in basic
    assert basic["PatientSex"].value in (None, "")
    profile = Profile(
        frozenset({Option.RETAIN_DEVICE_IDENTITY, Option.RETAIN_PATIENT_CHARACTERISTICS})
    )
    kept = deidentify_dataset(_dataset(**attributes), pseudonym="P", uid_key=KEY, profile=profile)
    assert (kept.StationName, kept.DeviceSerialNumber, kept.PatientSex) == ("CT01", "SN1", "F")
    codes = [c.CodeValue for c in kept.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113108", "113109"]
    assert all(len(value) <= 64 for value in kept.DeidentificationMethod)  # LO


def test_action_c_shifts_dates_and_falls_back_to_basic_where_it_cannot_clean() -> None:
    profile = Profile(frozenset({Option.RETAIN_MODIFIED_DATES, Option.RETAIN_DEVICE_IDENTITY}))
    ds = _dataset(
        AcquisitionDate="20240305",
        AcquisitionTime="101500",
        AcquisitionDateTime="20240305101500",
        PerformedStationAETitle="CTSCANNER",  # C under Retain Device Identity (an AE title)
    )
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY, profile=profile)
    days = date_shift_days(KEY)
    assert 365 <= days < 365 + 3650
    expected = (np.datetime64("2024-03-05") - np.timedelta64(days, "D")).astype(str)
    assert ds.AcquisitionDate == expected.replace("-", "")
    assert ds.AcquisitionDateTime == expected.replace("-", "") + "101500"
    assert ds.AcquisitionTime == "101500"
    assert "PerformedStationAETitle" not in ds  # Basic Profile: X
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_unlisted_attributes_follow_the_allow_list() -> None:
    ds = _dataset(
        Manufacturer="Vendor",
        ConvolutionKernel="B30f",
        PositionReferenceIndicator="Smith",
        TextValue="free text",
        KVP=120,
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        TableFrameOfReferenceUID="1.2.3.8",
    )
    assert rule_for(0x00209313) is None  # Table Frame of Reference UID: unlisted
    ds.add_new(0x00191001, "LO", "x")  # odd group with no creator: still private
    ds.add_new(0x00280000, "UL", 4)  # a group length
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    assert (ds.Manufacturer, ds.ConvolutionKernel, ds.KVP) == ("Vendor", "B30f", 120)
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert ds["PositionReferenceIndicator"].value in (None, "")
    assert ds["TextValue"].value in (None, "")
    assert ds.TableFrameOfReferenceUID == replace_uid("1.2.3.8", key=KEY)
    assert 0x00191001 not in ds and 0x00280000 not in ds


def test_options_that_need_free_text_cleaning_are_refused() -> None:
    for option in (Option.CLEAN_DESCRIPTORS, Option.RETAIN_SAFE_PRIVATE):
        with pytest.raises(ValueError, match=option.value):
            Profile(frozenset({option}))
    with pytest.raises(ValueError, match="exclude each other"):
        Profile(frozenset({Option.RETAIN_FULL_DATES, Option.RETAIN_MODIFIED_DATES}))


def test_a_dataset_read_without_file_meta_gets_a_fresh_one_and_saves() -> None:
    ds = _dataset(PatientName="Smith^John", Rows=2, Columns=2)
    deidentify_dataset(ds, pseudonym="P", uid_key=KEY)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert buffer.getvalue()[:132] == b"\0" * 128 + b"DICM"
    again = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert again.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert str(again.PatientName) == "P"
