"""Small, fast cohort folders for import tests (a few slices of 32x32), in the import format.

The realistic generator (synthetic) is tested separately and used in a round-trip
test; these tiny folders keep the many bad-input tests fast.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROWS = COLUMNS = 32
PIXEL_SPACING = (0.7, 0.7)
SLICE_SPACING = 3.0
SLICES = 8
ORIGIN = np.array([-11.2, -11.2, -100.0])


@dataclass
class NodeRow:
    node_id: str
    label: int
    call: str = "benign"
    level: str = "II"
    side: str = "left"
    ene_extent_mm: str = ""
    ene_grade: str = ""
    # box (slice0, row0, col0, slice1, row1, col1), end exclusive
    box: tuple[int, int, int, int, int, int] = (2, 4, 4, 5, 10, 12)


@dataclass
class PatientRow:
    patient_id: str
    nodes: list[NodeRow] = field(default_factory=list)
    age: str = "61"
    sex: str = "M"
    primary_site: str = "larynx"
    pt_stage: str = "T3"
    pn_stage: str = "N1"
    hpv_status: str = "negative"


def default_patients(count: int = 2) -> list[PatientRow]:
    patients = []
    for p in range(count):
        patients.append(
            PatientRow(
                patient_id=f"MRN{1000 + p}",
                nodes=[
                    NodeRow("N1", 1, "benign", box=(1, 2, 2, 3, 8, 8)),
                    NodeRow("N2", 2, "metastasis", level="III", box=(3, 14, 14, 6, 22, 24)),
                    NodeRow(
                        "N3",
                        3,
                        "ene",
                        level="IV",
                        side="right",
                        ene_extent_mm="3.5",
                        ene_grade="3",
                        box=(4, 24, 2, 7, 30, 10),
                    ),
                ],
            )
        )
    return patients


def write_ct_slice(
    path: Path,
    *,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    for_uid: str,
    index: int,
    pixels: np.ndarray,
    position: np.ndarray,
) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[series_uid, str(index)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName = f"DOE^JOHN^{patient_id}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "M"
    ds.PatientAddress = "1 Hospital Road, Springfield"
    ds.InstitutionName = "Springfield General Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.AccessionNumber = "ACC123456"
    ds.StudyDate = "20240102"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.SeriesDescription = "Neck venous"
    ds.ContrastBolusAgent = "Iohexol"
    ds.Manufacturer = "TestVendor"
    ds.ConvolutionKernel = "B30f"
    ds.KVP = 120
    ds.SliceThickness = SLICE_SPACING
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = list(PIXEL_SPACING)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.add_new(0x00091001, "LO", "private vendor data")  # a private tag de-identification must drop
    ds.save_as(path, enforce_file_format=True)
    return ds


def affine_ras() -> np.ndarray:
    affine = np.eye(4)
    affine[0, 0] = -PIXEL_SPACING[1]  # LPS x -> RAS -x
    affine[1, 1] = -PIXEL_SPACING[0]
    affine[2, 2] = SLICE_SPACING
    affine[:3, 3] = ORIGIN * np.array([-1, -1, 1])
    return affine


def write_cohort(
    root: Path,
    *,
    name: str = "Test cohort",
    patients: list[PatientRow] | None = None,
    mask_format: str = "npy",
    slices: int = SLICES,
) -> Path:
    """Write a cohort folder; returns its path. Slice files are named in shuffled order."""
    root.mkdir(parents=True, exist_ok=True)
    patients = patients if patients is not None else default_patients()
    (root / "cohort.json").write_text(
        json.dumps(
            {
                "name": name,
                "institution": "Springfield General Hospital",
                "description": "unit-test cohort",
            }
        )
    )
    rows = []
    rng = np.random.default_rng(0)
    for patient in patients:
        study_uid = generate_uid(entropy_srcs=[name, patient.patient_id, "study"])
        series_uid = generate_uid(entropy_srcs=[name, patient.patient_id, "series"])
        for_uid = generate_uid(entropy_srcs=[name, patient.patient_id, "for"])
        folder = root / patient.patient_id / "ct"
        folder.mkdir(parents=True, exist_ok=True)
        order = rng.permutation(slices)
        for k in range(slices):
            pixels = (rng.normal(40, 10, size=(ROWS, COLUMNS))).astype(np.int16)
            position = ORIGIN + np.array([0, 0, k * SLICE_SPACING])
            write_ct_slice(
                folder / f"IM{order[k]:04d}.dcm",
                patient_id=patient.patient_id,
                study_uid=study_uid,
                series_uid=series_uid,
                for_uid=for_uid,
                index=k,
                pixels=pixels,
                position=position,
            )
        labels = np.zeros((slices, ROWS, COLUMNS), dtype=np.uint16)
        for node in patient.nodes:
            z0, r0, c0, z1, r1, c1 = node.box
            labels[z0:z1, r0:r1, c0:c1] = node.label
        if mask_format == "npy":
            mask_name = f"{patient.patient_id}/nodes.npy"
            np.save(root / mask_name, labels)
        elif mask_format == "nifti":
            mask_name = f"{patient.patient_id}/nodes.nii.gz"
            nib.save(
                nib.Nifti1Image(np.transpose(labels, (2, 1, 0)), affine_ras()),
                str(root / mask_name),
            )
        else:
            raise ValueError(mask_format)
        for node in patient.nodes:
            rows.append(
                {
                    "patient_id": patient.patient_id,
                    "series": f"{patient.patient_id}/ct",
                    "mask": mask_name,
                    "mask_label": node.label,
                    "node_id": node.node_id,
                    "level": node.level,
                    "side": node.side,
                    "reference": node.call,
                    "ene_extent_mm": node.ene_extent_mm,
                    "ene_grade": node.ene_grade,
                    "age": patient.age,
                    "sex": patient.sex,
                    "primary_site": patient.primary_site,
                    "pt_stage": patient.pt_stage,
                    "pn_stage": patient.pn_stage,
                    "hpv_status": patient.hpv_status,
                }
            )
    write_manifest(root, rows)
    return root


def read_manifest_rows(root: Path) -> list[dict]:
    with (root / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_manifest(root: Path, rows: list[dict]) -> None:
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def dicom_files(root: Path, patient_id: str) -> list[Path]:
    return sorted((root / patient_id / "ct").glob("*.dcm"))


def read_dicom(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)
