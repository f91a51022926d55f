"""Writing (and reading back) the CT series and node masks of the import format.

CT: one single-frame CT Image Storage file per slice, Explicit VR Little
Endian, with the header fields of a routine contrast-enhanced neck CT
(equipment, acquisition, contrast bolus, soft-tissue window) and plausible
identifying fields (patient name/ID/birth date, institution, referring
physician, accession number, dates) for the importer's de-identification to
remove.  Every UID is derived deterministically from the cohort signature with
``pydicom.uid.generate_uid(entropy_srcs=...)``, so the same seed and arguments
give byte-identical files.

Masks (``docs/import-format.md``): NIfTI label map with an RAS affine equal to
the series geometry, NumPy label map (slice, row, column), or a DICOM SEG
(highdicom, BINARY, one segment per node, referencing the CT frame of
reference).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from .anatomy import Geometry
from .cohort import PatientPlan
from .profiles import Profile

__all__ = [
    "SeriesInfo",
    "read_mask",
    "read_series",
    "uid",
    "write_ct_series",
    "write_mask",
]

SYNTHETIC_COMMENT = (
    "SYNTHETIC IMAGE - computer-generated neck CT (ReaderStudy synthetic generator); "
    "not a real patient, not for clinical use."
)


def uid(signature: str, *parts: object) -> str:
    """Deterministic DICOM UID from the cohort signature and ``parts``."""
    return generate_uid(entropy_srcs=[signature, *[str(p) for p in parts]])


@dataclass
class SeriesInfo:
    """UIDs and identifying fields of one patient's series."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    sop_uids: list[str]


def _fmt_date(d: _dt.date) -> str:
    return d.strftime("%Y%m%d")


def _ds(x: float) -> str:
    """Decimal string with at most 16 characters."""
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    if s == "-0":
        s = "0"
    return s[:16]


def write_ct_series(
    folder: Path,
    pixels: np.ndarray,
    intercept: float,
    geom: Geometry,
    profile: Profile,
    patient: PatientPlan,
    signature: str,
    tube_current_ma: int,
) -> tuple[SeriesInfo, list[Dataset]]:
    """Write one DICOM file per slice into ``folder``; return UIDs and the headers."""
    folder.mkdir(parents=True, exist_ok=True)
    pid = patient.patient_id
    info = SeriesInfo(
        study_uid=uid(signature, pid, "study"),
        series_uid=uid(signature, pid, "series"),
        frame_of_reference_uid=uid(signature, pid, "frame"),
        sop_uids=[uid(signature, pid, "sop", k) for k in range(geom.n_slices)],
    )
    study_date = _fmt_date(patient.study_date)
    minutes = 8 * 60 + (patient.index * 17) % 540
    study_time = f"{minutes // 60:02d}{minutes % 60:02d}00"
    acq_min = minutes + 3
    acq_time = f"{acq_min // 60:02d}{acq_min % 60:02d}00"
    age = patient.age
    name_suffix = pid.removeprefix("SYN-")

    base = Dataset()
    base.SpecificCharacterSet = "ISO_IR 100"
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.SOPClassUID = CTImageStorage
    base.StudyDate = study_date
    base.SeriesDate = study_date
    base.AcquisitionDate = study_date
    base.ContentDate = study_date
    base.StudyTime = study_time
    base.SeriesTime = acq_time
    base.AcquisitionTime = acq_time
    base.ContentTime = acq_time
    base.AccessionNumber = patient.accession_number
    base.Modality = "CT"
    base.Manufacturer = profile.manufacturer
    base.InstitutionName = profile.institution
    base.InstitutionAddress = "1 Synthetic Way, Nowhere"
    base.ReferringPhysicianName = patient.referring_physician
    base.StationName = profile.station_name
    base.StudyDescription = "CT NECK WITH CONTRAST"
    base.SeriesDescription = (
        f"SYNTHETIC Neck {profile.slice_thickness_mm:.1f} {profile.convolution_kernel} C+"
    )
    base.ManufacturerModelName = profile.model_name
    base.PatientName = f"SYNTHETIC^{name_suffix}"
    base.PatientID = pid
    base.PatientBirthDate = _fmt_date(patient.birth_date)
    base.PatientSex = patient.sex
    base.PatientAge = f"{age:03d}Y"
    base.OtherPatientIDs = f"MRN{patient.index + 100000:07d}"
    base.ContrastBolusAgent = "Iohexol 350 mgI/mL (Omnipaque 350)"
    base.BodyPartExamined = "NECK"
    base.ScanOptions = "HELICAL MODE"
    base.SliceThickness = _ds(geom.slice_thickness)
    base.KVP = _ds(profile.kvp)
    base.SpacingBetweenSlices = _ds(float(geom.z[1] - geom.z[0]))
    base.DataCollectionDiameter = "500"
    base.SoftwareVersions = profile.software_version
    base.ProtocolName = "NECK C+ (SYNTHETIC)"
    base.ContrastBolusRoute = "IV"
    base.ContrastBolusVolume = "80"
    base.ContrastBolusStartTime = study_time
    base.ContrastBolusIngredient = "IODINE"
    base.ContrastBolusIngredientConcentration = "350"
    base.ReconstructionDiameter = _ds(geom.pixel_spacing * geom.cols)
    base.GantryDetectorTilt = "0"
    base.TableHeight = _ds(geom.offset[1])
    base.RotationDirection = "CW"
    base.ExposureTime = "500"
    base.XRayTubeCurrent = str(int(tube_current_ma))
    base.Exposure = str(int(tube_current_ma * 0.5))
    base.ConvolutionKernel = profile.convolution_kernel
    base.PatientPosition = "HFS"
    base.StudyInstanceUID = info.study_uid
    base.SeriesInstanceUID = info.series_uid
    base.StudyID = "1"
    base.SeriesNumber = 3
    base.AcquisitionNumber = 1
    base.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    base.FrameOfReferenceUID = info.frame_of_reference_uid
    base.PositionReferenceIndicator = ""
    base.ImageComments = SYNTHETIC_COMMENT
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows = geom.rows
    base.Columns = geom.cols
    base.PixelSpacing = [_ds(geom.pixel_spacing), _ds(geom.pixel_spacing)]
    base.BitsAllocated = 16
    base.BitsStored = profile.bits_stored
    base.HighBit = profile.bits_stored - 1
    base.PixelRepresentation = profile.pixel_representation
    base.WindowCenter = ["50", "400"]
    base.WindowWidth = ["350", "1800"]
    base.WindowCenterWidthExplanation = ["SOFT TISSUE", "BONE"]
    base.RescaleIntercept = _ds(intercept)
    base.RescaleSlope = "1"
    base.RescaleType = "HU"
    base.BurnedInAnnotation = "NO"

    headers: list[Dataset] = []
    n = geom.n_slices
    writer = _SliceWriter(base)
    for k in range(n):
        inst = n - k  # instance 1 = most superior slice (acquired first, head first)
        pos = geom.position(k)
        # a new dict of the shared (never mutated) elements, plus new per-slice elements
        ds = Dataset({elem.tag: elem for elem in base})
        ds.add_new(0x00080018, "UI", info.sop_uids[k])
        ds.add_new(0x00200013, "IS", inst)
        ds.add_new(0x00200032, "DS", [_ds(v) for v in pos])
        ds.add_new(0x00201041, "DS", _ds(pos[2]))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = UID(info.sop_uids[k])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
        ds["PixelData"].VR = "OW"
        (folder / f"CT{inst:04d}.dcm").write_bytes(writer.encode(ds))
        del ds.PixelData
        headers.append(ds)
    return info, headers


#: Elements that differ between the slices of a series (everything else is shared).
_PER_SLICE_TAGS = {0x00080018, 0x00200013, 0x00200032, 0x00201041, 0x7FE00010}


class _SliceWriter:
    """Encodes CT slices fast: the shared header elements are encoded once.

    The output is byte-identical to ``Dataset.save_as(path,
    enforce_file_format=True)`` with Explicit VR Little Endian (checked by
    the tests): a 128-byte preamble, ``DICM``, the file meta group, then the
    data elements in tag order.
    """

    def __init__(self, template: Dataset) -> None:
        self.static: dict[int, bytes] = {}
        for elem in template:
            if int(elem.tag) not in _PER_SLICE_TAGS:
                self.static[int(elem.tag)] = self._element(elem)

    @staticmethod
    def _element(elem) -> bytes:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_data_element

        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem)
        return fp.getvalue()

    def encode(self, ds: Dataset) -> bytes:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_file_meta_info

        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        fp.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
        parts = [fp.getvalue()]
        chunks = dict(self.static)
        for tag in _PER_SLICE_TAGS:
            chunks[tag] = self._element(ds[tag])
        parts.extend(chunks[tag] for tag in sorted(chunks))
        return b"".join(parts)


def write_mask(
    path: Path,
    node_map: np.ndarray,
    geom: Geometry,
    fmt: str,
    *,
    headers: Sequence[Dataset] | None = None,
    signature: str = "",
    patient_id: str = "",
    segment_labels: Sequence[str] = (),
    series_date: str = "",
) -> None:
    """Write the node label map in ``fmt`` (``nifti``, ``npy`` or ``seg``)."""
    labels = node_map.astype(np.uint8 if node_map.max() < 256 else np.uint16)
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, labels, allow_pickle=False)
        path.write_bytes(buf.getvalue())
    elif fmt == "nifti":
        import nibabel as nib

        # NIfTI voxel (i, j, k) = (column, row, slice)
        data = np.ascontiguousarray(labels.transpose(2, 1, 0))
        img = nib.Nifti1Image(data, geom.affine_ras())
        img.header.set_xyzt_units("mm")
        img.set_qform(geom.affine_ras(), code=1)
        img.set_sform(geom.affine_ras(), code=1)
        img.header["descrip"] = b"synthetic lymph node labels"
        nib.save(img, str(path))
    elif fmt == "seg":
        _write_seg(path, labels, headers or [], signature, patient_id, segment_labels, series_date)
    else:
        raise ValueError(f"unknown mask format {fmt!r}")


def _write_seg(
    path: Path,
    labels: np.ndarray,
    headers: Sequence[Dataset],
    signature: str,
    patient_id: str,
    segment_labels: Sequence[str],
    series_date: str,
) -> None:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    n_seg = int(labels.max())
    descriptions = []
    for i in range(1, n_seg + 1):
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=i,
                segment_label=segment_labels[i - 1] if i - 1 < len(segment_labels) else f"N{i}",
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.LymphNode,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                tracking_uid=uid(signature, patient_id, "segment", i),
                tracking_id=f"{patient_id} N{i}",
            )
        )
    onehot = np.stack([labels == i for i in range(1, n_seg + 1)], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=list(headers),
        pixel_array=onehot,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=uid(signature, patient_id, "seg-series"),
        series_number=300,
        sop_instance_uid=uid(signature, patient_id, "seg-instance"),
        instance_number=1,
        manufacturer="ReaderStudy synthetic generator",
        manufacturer_model_name="synthetic node masks",
        software_versions="1",
        device_serial_number="0",
        content_description="Lymph node masks (synthetic)",
        content_label="NODES",
        series_description="SYNTHETIC node masks",
        omit_empty_frames=True,
    )
    # deterministic: highdicom stamps the current date/time
    for attr in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
        if attr in seg:
            setattr(seg, attr, series_date)
    for attr in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
        if attr in seg:
            setattr(seg, attr, "120000")
    # highdicom also stamps contribution times and a random dimension-organisation UID
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{series_date}120000"
    dim_uid = uid(signature, patient_id, "seg-dimension-organisation")
    for seq in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(seq, []):
            if "DimensionOrganizationUID" in item:
                item.DimensionOrganizationUID = dim_uid
    seg.save_as(path, enforce_file_format=True)


# ---------------------------------------------------------------- reading back


@dataclass
class LoadedSeries:
    """A CT series read back from disk, sorted along the slice normal (ascending)."""

    hu: np.ndarray  # float32 (slices, rows, cols)
    positions: np.ndarray  # (slices, 3) ImagePositionPatient
    normal: np.ndarray  # (3,)
    row_dir: np.ndarray
    col_dir: np.ndarray
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing)
    slice_spacing: float
    sop_uids: list[str]
    headers: Sequence[Dataset]

    def affine_lps(self) -> np.ndarray:
        """(column, row, slice) index -> LPS mm."""
        a = np.eye(4)
        a[:3, 0] = self.row_dir * self.pixel_spacing[1]
        a[:3, 1] = self.col_dir * self.pixel_spacing[0]
        a[:3, 2] = self.normal * self.slice_spacing
        a[:3, 3] = self.positions[0]
        return a


def read_series(folder: Path) -> LoadedSeries:
    """Read every DICOM file of ``folder`` as one series (sorted, in HU)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    dss = [pydicom.dcmread(p) for p in files]
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    dss.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    pos = np.array([d.ImagePositionPatient for d in dss], dtype=float)
    dist = pos @ normal
    spacing = float(np.median(np.diff(dist))) if len(dss) > 1 else float(dss[0].SliceThickness)
    hu = np.stack(
        [
            d.pixel_array.astype(np.float32) * float(d.RescaleSlope) + float(d.RescaleIntercept)
            for d in dss
        ]
    )
    ps = tuple(float(v) for v in dss[0].PixelSpacing)
    headers = []
    for d in dss:
        del d.PixelData
        headers.append(d)
    return LoadedSeries(
        hu=hu,
        positions=pos,
        normal=normal,
        row_dir=row_dir,
        col_dir=col_dir,
        pixel_spacing=(ps[0], ps[1]),
        slice_spacing=spacing,
        sop_uids=[str(d.SOPInstanceUID) for d in headers],
        headers=headers,
    )


def read_mask(path: Path, series: LoadedSeries) -> np.ndarray:
    """Read a mask (NIfTI / NumPy / SEG) resampled to the series grid (slice, row, col)."""
    path = Path(path)
    name = path.name.lower()
    shape = series.hu.shape
    if name.endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        if arr.shape != shape:
            raise ValueError(f"{path}: shape {arr.shape} != series {shape}")
        return arr.astype(np.int32)
    if name.endswith(".nii") or name.endswith(".nii.gz"):
        import nibabel as nib

        img = nib.load(str(path))
        if not isinstance(img, nib.spatialimages.SpatialImage):
            raise ValueError(f"{path}: not a NIfTI image with an affine")
        data = np.asarray(img.dataobj)
        # voxel of the mask -> voxel (col,row,slice) of the series
        ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
        m = np.linalg.inv(series.affine_lps()) @ ras_to_lps @ img.affine
        perm = np.argmax(np.abs(m[:3, :3]), axis=0)  # mask axis i -> series axis perm[i]
        if not np.allclose(np.abs(m[:3, :3]), np.eye(3)[:, perm] * 1.0, atol=1e-3):
            raise ValueError(f"{path}: affine is not an axis permutation of the series grid")
        out = np.transpose(data, np.argsort(perm))
        for ax in range(3):
            if m[ax, perm.tolist().index(ax)] < 0:
                out = np.flip(out, axis=ax)
        # series axes (col,row,slice) -> (slice,row,col)
        out = np.transpose(out, (2, 1, 0))
        if out.shape != shape:
            raise ValueError(f"{path}: shape {out.shape} != series {shape}")
        return np.ascontiguousarray(out).astype(np.int32)
    if name.endswith(".dcm"):
        import highdicom as hd

        seg = hd.seg.segread(str(path))
        if str(seg.FrameOfReferenceUID) != str(series.headers[0].FrameOfReferenceUID):
            raise ValueError(f"{path}: SEG frame of reference differs from the series")
        pix = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=series.sop_uids,
            combine_segments=True,
            relabel=False,
            assert_missing_frames_are_empty=True,
        )
        return np.asarray(pix).astype(np.int32)
    raise ValueError(f"{path}: unknown mask format")


def save_npy_gz(path: Path, array: np.ndarray) -> None:
    """Deterministic gzipped .npy (mtime 0, no file name in the header)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with (
        open(path, "wb") as fh,
        gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1, mtime=0, filename="") as gz,
    ):
        gz.write(buf.getvalue())


def load_npy_gz(path: Path) -> np.ndarray:
    """Read an array written by :func:`save_npy_gz`."""
    with gzip.open(path, "rb") as gz:
        return np.load(io.BytesIO(gz.read()), allow_pickle=False)
