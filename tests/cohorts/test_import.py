"""Cohort import: the success path, de-identification, and every kind of bad input (atomic)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command

from readerstudy.cohorts.errors import CohortImportError
from readerstudy.cohorts.models import (
    Cohort,
    CTSeries,
    CTSlice,
    Node,
    Patient,
    PatientIdentity,
    ReferenceStandard,
)
from readerstudy.cohorts.services import cohort_import_folder
from tests.cohort_factory import (
    PIXEL_SPACING,
    SLICE_SPACING,
    affine_ras,
    default_patients,
    dicom_files,
    read_manifest_rows,
    write_cohort,
    write_manifest,
)
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db


def assert_nothing_left(media_root: Path) -> None:
    assert Cohort.objects.count() == 0
    assert Patient.objects.count() == 0
    assert PatientIdentity.objects.count() == 0
    assert CTSeries.objects.count() == 0
    assert CTSlice.objects.count() == 0
    assert Node.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.parametrize("mask_format", ["npy", "nifti"])
def test_import_success(tmp_path: Path, media_root: Path, mask_format: str) -> None:
    folder = write_cohort(tmp_path / "cohort", mask_format=mask_format)
    result = cohort_import_folder(folder)

    assert result.created
    assert (result.patients, result.nodes, result.slices) == (2, 6, 16)
    cohort = Cohort.objects.get()
    assert cohort.name == "Test cohort"
    assert cohort.institution == "Springfield General Hospital"
    series = CTSeries.objects.first()
    assert series.slice_count == 8
    assert series.pixel_spacing_row_mm == pytest.approx(PIXEL_SPACING[0])
    assert series.slice_spacing_mm == pytest.approx(SLICE_SPACING)
    assert series.manufacturer == "TestVendor" and series.convolution_kernel == "B30f"
    assert series.contrast_phase == "venous"
    positions = list(series.slices.values_list("position_along_normal_mm", flat=True))
    assert positions == sorted(positions)  # files were shuffled on disk; slices come out sorted

    node = Node.objects.get(series=series, label="N2")
    # box slices 3-5, rows 14-21, columns 14-23 -> 3 x 8 x 10 voxels
    assert node.voxel_count == 3 * 8 * 10
    assert node.bbox == [3, 14, 14, 6, 22, 24]
    assert node.volume_mm3 == pytest.approx(
        240 * PIXEL_SPACING[0] * PIXEL_SPACING[1] * SLICE_SPACING
    )
    assert node.level == "III" and node.side == "left"
    assert node.reference.call == "metastasis"
    ene = ReferenceStandard.objects.get(node__series=series, node__label="N3")
    assert (
        ene.call == "ene"
        and ene.ene_extent_mm == 3.5
        and ene.ene_grade == 3
        and ene.ene_category == "macro"
    )
    patient = series.patient
    assert (patient.age, patient.sex, patient.primary_site, patient.pt_stage, patient.pn_stage) == (
        61,
        "M",
        "larynx",
        "T3",
        "N1",
    )
    with series.label_map.open("rb") as handle:
        labels = np.load(handle)["labels"]
    assert labels.shape == (8, 32, 32)
    assert set(np.unique(labels)) == {0, 1, 2, 3}


def test_nifti_with_other_axis_order_is_reoriented(tmp_path: Path, media_root: Path) -> None:
    import nibabel as nib

    folder = write_cohort(tmp_path / "cohort", mask_format="nifti", patients=default_patients(1))
    path = folder / "MRN1000" / "nodes.nii.gz"
    image = nib.load(str(path))
    data = np.asanyarray(image.dataobj)
    # Flip the first axis and describe the flip in the affine: same voxels in space.
    flipped_affine = image.affine.copy()
    flipped_affine[:3, 3] = image.affine[:3, 3] + image.affine[:3, 0] * (data.shape[0] - 1)
    flipped_affine[:3, 0] = -image.affine[:3, 0]
    nib.save(nib.Nifti1Image(data[::-1], flipped_affine), str(path))
    cohort_import_folder(folder)
    assert Node.objects.get(label="N2").bbox == [3, 14, 14, 6, 22, 24]


def test_deidentification_removes_identifiers(tmp_path: Path, media_root: Path) -> None:
    folder = write_cohort(tmp_path / "cohort", patients=default_patients(1))
    original = pydicom.dcmread(dicom_files(folder, "MRN1000")[0])
    cohort_import_folder(folder)

    patient = Patient.objects.get()
    identity = patient.identity
    assert identity.source_patient_id == "MRN1000"
    assert identity.dicom_patient_id == "MRN1000"
    assert "DOE" in identity.dicom_patient_name
    for stored in CTSlice.objects.filter(series__patient=patient):
        with stored.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        text = str(ds)
        for secret in (
            "MRN1000",
            "DOE",
            "Springfield",
            "Hospital Road",
            "House",
            "ACC123456",
            "19600101",
        ):
            assert secret not in text, f"{secret} left in {stored.file.name}"
        assert str(ds.PatientName) == patient.pseudonym == ds.PatientID
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert not any(element.tag.is_private for element in ds)
        assert ds.StudyInstanceUID != original.StudyInstanceUID
        assert ds.SeriesInstanceUID != original.SeriesInstanceUID
        assert ds.FrameOfReferenceUID != original.FrameOfReferenceUID
        assert ds.SOPClassUID == original.SOPClassUID  # a standard UID is kept
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.pixel_array.shape == (32, 32)


def test_reimport_identical_is_a_noop_and_changed_content_is_refused(
    tmp_path: Path, media_root: Path
) -> None:
    folder = write_cohort(tmp_path / "cohort")
    first = cohort_import_folder(folder)
    files_before = sorted(stored_files(media_root))

    again = cohort_import_folder(folder)
    assert not again.created and again.cohort.pk == first.cohort.pk
    assert Cohort.objects.count() == 1 and Node.objects.count() == 6
    assert sorted(stored_files(media_root)) == files_before

    rows = read_manifest_rows(folder)
    rows[0]["reference"] = "ene"
    rows[0]["ene_extent_mm"] = "1.0"
    write_manifest(folder, rows)
    with pytest.raises(CohortImportError, match="already exists with different content"):
        cohort_import_folder(folder)
    assert Cohort.objects.count() == 1 and Node.objects.count() == 6


def _break_manifest(folder: Path, row_index: int, **changes: str) -> None:
    rows = read_manifest_rows(folder)
    rows[row_index].update(changes)
    write_manifest(folder, rows)


def _non_dicom(folder: Path) -> None:
    (folder / "MRN1001" / "ct" / "notes.txt").write_text("not an image")


def _missing_slice(folder: Path) -> None:
    files = sorted(
        dicom_files(folder, "MRN1001"), key=lambda p: pydicom.dcmread(p).ImagePositionPatient[2]
    )
    files[4].unlink()


def _duplicated_slice(folder: Path) -> None:
    source = dicom_files(folder, "MRN1001")[3]
    shutil.copy(source, source.with_name("copy.dcm"))


def _duplicated_position(folder: Path) -> None:
    files = dicom_files(folder, "MRN1001")
    a = pydicom.dcmread(files[0])
    b = pydicom.dcmread(files[1])
    b.ImagePositionPatient = a.ImagePositionPatient
    b.save_as(files[1])


def _inconsistent_spacing(folder: Path) -> None:
    files = sorted(
        dicom_files(folder, "MRN1001"), key=lambda p: pydicom.dcmread(p).ImagePositionPatient[2]
    )
    ds = pydicom.dcmread(files[-1])
    ds.ImagePositionPatient = [
        ds.ImagePositionPatient[0],
        ds.ImagePositionPatient[1],
        ds.ImagePositionPatient[2] + 1.0,
    ]
    ds.save_as(files[-1])


def _inconsistent_pixel_spacing(folder: Path) -> None:
    path = dicom_files(folder, "MRN1001")[2]
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = [0.8, 0.8]
    ds.save_as(path)


def _wrong_modality(folder: Path) -> None:
    path = dicom_files(folder, "MRN1001")[0]
    ds = pydicom.dcmread(path)
    ds.Modality = "MR"
    ds.save_as(path)


def _mask_shape(folder: Path) -> None:
    np.save(folder / "MRN1001" / "nodes.npy", np.ones((8, 30, 32), dtype=np.uint16))


def _mask_geometry(folder: Path) -> None:
    import nibabel as nib

    path = folder / "MRN1001" / "nodes.nii.gz"
    image = nib.load(str(path))
    affine = affine_ras()
    affine[2, 3] += SLICE_SPACING * 2  # mask shifted two slices up
    nib.save(nib.Nifti1Image(np.asanyarray(image.dataobj), affine), str(path))


def _empty_mask(folder: Path) -> None:
    labels = np.load(folder / "MRN1001" / "nodes.npy")
    labels[labels == 2] = 0
    np.save(folder / "MRN1001" / "nodes.npy", labels)


def _unknown_call(folder: Path) -> None:
    _break_manifest(folder, 4, reference="probably")


def _unknown_level(folder: Path) -> None:
    _break_manifest(folder, 4, level="IX")


def _unknown_stage(folder: Path) -> None:
    rows = read_manifest_rows(folder)
    for row in rows[3:]:
        row["pn_stage"] = "N7"
    write_manifest(folder, rows)


def _duplicate_node_id(folder: Path) -> None:
    _break_manifest(folder, 4, node_id="N1")


def _duplicate_mask_label(folder: Path) -> None:
    _break_manifest(folder, 4, mask_label="1")


def _inconsistent_patient(folder: Path) -> None:
    _break_manifest(folder, 4, age="70")


def _path_escape(folder: Path) -> None:
    _break_manifest(folder, 4, mask="../../etc/passwd")


def _ene_fields_on_benign(folder: Path) -> None:
    _break_manifest(folder, 3, ene_extent_mm="2.0")


BAD_INPUTS = {
    "non-DICOM file": (_non_dicom, "MRN1001/ct/notes.txt: not a readable DICOM file", "npy"),
    "missing slice": (_missing_slice, "slice(s) missing", "npy"),
    "duplicated slice (same SOP UID)": (_duplicated_slice, "duplicated slice", "npy"),
    "duplicated slice (same position)": (
        _duplicated_position,
        "duplicated slice: same position",
        "npy",
    ),
    "inconsistent slice spacing": (_inconsistent_spacing, "inconsistent slice spacing", "npy"),
    "inconsistent pixel spacing": (_inconsistent_pixel_spacing, "field 'PixelSpacing'", "npy"),
    "not CT": (_wrong_modality, "field 'Modality': expected CT", "npy"),
    "mask shape": (_mask_shape, "MRN1001/nodes.npy: mask shape (8, 30, 32) does not match", "npy"),
    "mask geometry": (_mask_geometry, "MRN1001/nodes.nii.gz: mask geometry", "nifti"),
    "empty mask": (_empty_mask, "manifest.csv, row 6, field 'mask_label'", "npy"),
    "unknown call": (
        _unknown_call,
        "manifest.csv, row 6, field 'reference': unknown value 'probably'",
        "npy",
    ),
    "unknown level": (_unknown_level, "manifest.csv, row 6, field 'level'", "npy"),
    "unknown stage": (_unknown_stage, "manifest.csv, row 5, field 'pn_stage'", "npy"),
    "duplicate node id": (
        _duplicate_node_id,
        "row 6, field 'node_id': node 'N1' of patient 'MRN1001'",
        "npy",
    ),
    "duplicate mask label": (_duplicate_mask_label, "row 6, field 'mask_label'", "npy"),
    "inconsistent patient columns": (
        _inconsistent_patient,
        "row 6, field 'age': differs from row 5",
        "npy",
    ),
    "path outside the folder": (
        _path_escape,
        "row 6, field 'mask': path '../../etc/passwd' leaves",
        "npy",
    ),
    "ENE extent on a benign node": (_ene_fields_on_benign, "row 5, field 'ene_extent_mm'", "npy"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_refused_and_leaves_nothing(
    tmp_path: Path, media_root: Path, case: str
) -> None:
    breaker, expected, mask_format = BAD_INPUTS[case]
    folder = write_cohort(tmp_path / "cohort", mask_format=mask_format)
    breaker(folder)
    with pytest.raises(CohortImportError) as caught:
        cohort_import_folder(folder)
    assert expected in str(caught.value)
    assert_nothing_left(media_root)


def test_command_exits_non_zero_with_the_message(tmp_path: Path, media_root: Path) -> None:
    folder = write_cohort(tmp_path / "cohort")
    _unknown_call(folder)
    with pytest.raises(CommandError, match="row 6, field 'reference'"):
        call_command("import_cohort", str(folder), "--quiet")
    assert_nothing_left(media_root)


def test_command_imports(tmp_path: Path, media_root: Path, capsys) -> None:
    folder = write_cohort(tmp_path / "cohort")
    call_command("import_cohort", str(folder), "--quiet")
    assert (
        "Imported cohort 'Test cohort': 2 patients, 6 nodes, 16 slices" in capsys.readouterr().out
    )
    call_command("import_cohort", str(folder), "--quiet")
    assert "already imported" in capsys.readouterr().out


def test_failure_in_the_database_phase_removes_stored_files(
    tmp_path: Path, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from readerstudy.cohorts import services

    folder = write_cohort(tmp_path / "cohort")

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.ReferenceStandard.objects, "create", explode)
    with pytest.raises(RuntimeError):
        cohort_import_folder(folder)
    assert_nothing_left(media_root)


def test_cohort_json_synthetic_flag(tmp_path: Path, media_root: Path) -> None:
    import json

    folder = write_cohort(tmp_path / "cohort", patients=default_patients(1))
    info = json.loads((folder / "cohort.json").read_text())
    (folder / "cohort.json").write_text(json.dumps({**info, "synthetic": "yes"}))
    with pytest.raises(
        CohortImportError, match="cohort.json, field 'synthetic': must be true or false"
    ):
        cohort_import_folder(folder)
    assert_nothing_left(media_root)
    assert not Cohort.objects.exists()

    (folder / "cohort.json").write_text(json.dumps({**info, "synthetic": True}))
    assert cohort_import_folder(folder).cohort.is_synthetic


def test_real_looking_cohort_is_not_flagged_synthetic(tmp_path: Path, media_root: Path) -> None:
    folder = write_cohort(tmp_path / "cohort", patients=default_patients(1))
    assert not cohort_import_folder(folder).cohort.is_synthetic
