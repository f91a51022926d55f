"""The DICOM a reader gets: a whitelist copy of a stored slice under neutral identifiers.

The stored files are already de-identified (``cohorts.deidentify``) but still carry the patient's
pseudonym, the cohort-wide UIDs and shifted dates, all of which could link a reader's case to a
cohort row. A reader's copy is built from scratch with only what a viewer needs (geometry,
rescale, window, pixels); the patient is the neutral case label and every UID is re-keyed per
(reader, study) with an HMAC, so two readers' copies share no UID with each other or the store.
Pure functions: no database, no storage.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from readerstudy.cohorts.deidentify import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

DEFAULT_WINDOW = {"width": 350, "center": 50}
_NATIVE_LITTLE_ENDIAN = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}

UidMap = Callable[[str], str]


def blinding_key(*, secret: str, reader_id: int, study_id: int) -> bytes:
    """The HMAC key of one reader in one study, derived from SECRET_KEY."""
    return hmac.new(
        secret.encode(), f"readerstudy.imaging.blind:{reader_id}:{study_id}".encode(), "sha256"
    ).digest()


def blinded_uid(uid: str, *, key: bytes) -> str:
    """A valid UID (2.25 + a 128-bit integer, PS3.5 B.2) that only ``key`` maps ``uid`` to."""
    digest = hmac.new(key, uid.encode(), hashlib.sha256).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def opaque_key(value: str, *, key: bytes) -> str:
    """A short opaque token for ``value`` (e.g. the viewer's cache key of a scan)."""
    return hmac.new(key, f"opaque:{value}".encode(), hashlib.sha256).hexdigest()[:20]


def little_endian_pixels(stored: Dataset) -> bytes:
    """The pixel data as uncompressed little-endian bytes, whatever the stored encoding."""
    syntax = stored.file_meta.get("TransferSyntaxUID") if hasattr(stored, "file_meta") else None
    if syntax is None or UID(syntax) in _NATIVE_LITTLE_ENDIAN:
        return bytes(stored.PixelData)
    pixels = stored.pixel_array  # decodes a compressed or big-endian file
    return np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _neutral_patient_and_study(ds: Dataset, *, label: str) -> None:
    # Type 2 attributes of the CT IOD are present but empty: no dates, no physician, no accession.
    ds.PatientName = label
    ds.PatientID = label
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.PatientIdentityRemoved = "YES"
    ds.BurnedInAnnotation = "NO"


def encode(ds: Dataset) -> bytes:
    """``ds`` as a DICOM Part 10 file, explicit VR little endian."""
    ds.file_meta = _file_meta(ds)
    ds.preamble = b"\0" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reader_slice(
    stored: Dataset, *, label: str, uid: UidMap, instance_number: int, pixels: bool = True
) -> Dataset:
    """A reader's copy of one stored CT slice: geometry, rescale, pixels; nothing else."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(str(stored.SOPInstanceUID))
    ds.StudyInstanceUID = uid(str(stored.StudyInstanceUID))
    ds.SeriesInstanceUID = uid(str(stored.SeriesInstanceUID))
    ds.FrameOfReferenceUID = uid(str(stored.get("FrameOfReferenceUID") or stored.SeriesInstanceUID))
    ds.PositionReferenceIndicator = ""
    _neutral_patient_and_study(ds, label=label)
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.SeriesDescription = "CT"
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = list(stored.ImagePositionPatient)
    ds.ImageOrientationPatient = list(stored.ImageOrientationPatient)
    ds.PixelSpacing = list(stored.PixelSpacing)
    if stored.get("SliceThickness") not in (None, ""):
        ds.SliceThickness = stored.SliceThickness
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = stored.PhotometricInterpretation
    ds.Rows = stored.Rows
    ds.Columns = stored.Columns
    ds.BitsAllocated = stored.BitsAllocated
    ds.BitsStored = stored.BitsStored
    ds.HighBit = stored.HighBit
    ds.PixelRepresentation = stored.PixelRepresentation
    ds.RescaleIntercept = stored.get("RescaleIntercept", 0)
    ds.RescaleSlope = stored.get("RescaleSlope", 1)
    ds.RescaleType = "HU"
    ds.KVP = stored.get("KVP", "")
    ds.WindowCenter = DEFAULT_WINDOW["center"]
    ds.WindowWidth = DEFAULT_WINDOW["width"]
    if pixels:
        ds.add_new(0x7FE00010, "OW", little_endian_pixels(stored))
    return ds


def reformat_slice(
    hu: np.ndarray,
    *,
    label: str,
    study_uid: str,
    series_uid: str,
    instance_uid: str,
    frame_of_reference_uid: str,
    position: list[float],
    orientation: list[float],
    pixel_spacing: tuple[float, float],
    thickness: float,
    description: str,
) -> Dataset:
    """A single-frame CT image of a reformatted plane; pixels are HU as signed 16-bit."""
    pixels = np.clip(np.rint(hu), -32768, 32767).astype("<i2")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY", "REFORMATTED"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = instance_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    _neutral_patient_and_study(ds, label=label)
    ds.Modality = "CT"
    ds.SeriesNumber = 2 if description == "coronal" else 3
    ds.SeriesDescription = description
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) + 0.0 for v in orientation]  # no -0.0
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = float(thickness)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.KVP = ""
    ds.WindowCenter = DEFAULT_WINDOW["center"]
    ds.WindowWidth = DEFAULT_WINDOW["width"]
    ds.add_new(0x7FE00010, "OW", pixels.tobytes())
    return ds
