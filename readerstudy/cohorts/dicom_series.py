"""Reading one CT series from a folder and checking that it forms a regular volume.

No database access: the import service calls this, then writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from readerstudy.cohorts.errors import CohortImportError

# Geometry must agree to this (mm / direction cosines) between slices of one series.
GEOMETRY_TOLERANCE = 1e-3
# A gap this many times the regular spacing means slices are missing.
MISSING_SLICE_FACTOR = 1.5
# Spacing may vary by this fraction (scanner rounding) before it counts as inconsistent.
SPACING_RELATIVE_TOLERANCE = 0.02


@dataclass
class CTVolumeHeader:
    """Geometry and acquisition metadata of a regular, sorted CT series."""

    folder: str
    datasets: list[Dataset]
    files: list[Path]
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]  # (between rows, between columns), mm
    slice_spacing: float
    orientation: np.ndarray  # 6 direction cosines
    positions_along_normal: np.ndarray
    first_position: np.ndarray
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.datasets), self.rows, self.columns)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    def affine_lps(self) -> np.ndarray:
        """4x4 matrix mapping voxel (column, row, slice, 1) to patient LPS mm."""
        affine = np.eye(4)
        affine[:3, 0] = self.orientation[:3] * self.pixel_spacing[1]
        affine[:3, 1] = self.orientation[3:] * self.pixel_spacing[0]
        affine[:3, 2] = self.normal * self.slice_spacing
        affine[:3, 3] = self.first_position
        return affine

    def voxel_size_zyx(self) -> tuple[float, float, float]:
        return (self.slice_spacing, self.pixel_spacing[0], self.pixel_spacing[1])


def _as_floats(value: object, count: int, *, file: str, tag: str) -> np.ndarray:
    try:
        numbers = np.array([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise CohortImportError(f"not {count} numbers: {value!r}", file=file, field=tag) from exc
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        raise CohortImportError(f"not {count} numbers: {value!r}", file=file, field=tag)
    return numbers


def read_ct_series(folder: Path, *, display_root: Path) -> CTVolumeHeader:
    """Read every DICOM file in ``folder`` and validate it as one regular CT volume.

    Files whose names start with '.' are ignored (e.g. .DS_Store); any other file that is not
    DICOM is an error. Raises CohortImportError naming the file and DICOM attribute at fault.
    """
    shown = (
        folder.relative_to(display_root).as_posix()
        if folder.is_relative_to(display_root)
        else str(folder)
    )
    if not folder.is_dir():
        raise CohortImportError("series folder not found", file=shown)
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not paths:
        raise CohortImportError("series folder holds no DICOM files", file=shown)

    def name(path: Path) -> str:
        return (
            path.relative_to(display_root).as_posix()
            if path.is_relative_to(display_root)
            else str(path)
        )

    datasets: list[Dataset] = []
    for path in paths:
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, EOFError, OSError, ValueError) as exc:
            raise CohortImportError(f"not a readable DICOM file ({exc})", file=name(path)) from exc
        datasets.append(ds)

    first, first_name = datasets[0], name(paths[0])
    for tag in (
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "Rows",
        "Columns",
        "PixelSpacing",
        "ImageOrientationPatient",
        "ImagePositionPatient",
        "PixelData",
    ):
        for ds, path in zip(datasets, paths, strict=True):
            if tag not in ds:
                raise CohortImportError("missing", file=name(path), field=tag)
    for ds, path in zip(datasets, paths, strict=True):
        if ds.get("Modality") != "CT":
            raise CohortImportError(
                f"expected CT, got {ds.get('Modality')!r}", file=name(path), field="Modality"
            )

    orientation = _as_floats(
        first.ImageOrientationPatient, 6, file=first_name, tag="ImageOrientationPatient"
    )
    spacing = _as_floats(first.PixelSpacing, 2, file=first_name, tag="PixelSpacing")
    if np.any(spacing <= 0):
        raise CohortImportError(
            f"must be positive: {list(spacing)}", file=first_name, field="PixelSpacing"
        )
    seen_sop: dict[str, str] = {}
    for ds, path in zip(datasets, paths, strict=True):
        here = name(path)
        if ds.SeriesInstanceUID != first.SeriesInstanceUID:
            raise CohortImportError(
                f"belongs to another series ({ds.SeriesInstanceUID}, {first_name} has {first.SeriesInstanceUID})",
                file=here,
                field="SeriesInstanceUID",
            )
        if (int(ds.Rows), int(ds.Columns)) != (int(first.Rows), int(first.Columns)):
            raise CohortImportError(
                f"{ds.Rows}x{ds.Columns} differs from {first_name} ({first.Rows}x{first.Columns})",
                file=here,
                field="Rows",
            )
        if (
            np.max(np.abs(_as_floats(ds.PixelSpacing, 2, file=here, tag="PixelSpacing") - spacing))
            > GEOMETRY_TOLERANCE
        ):
            raise CohortImportError(
                f"{list(ds.PixelSpacing)} differs from {first_name} ({list(first.PixelSpacing)})",
                file=here,
                field="PixelSpacing",
            )
        other_orientation = _as_floats(
            ds.ImageOrientationPatient, 6, file=here, tag="ImageOrientationPatient"
        )
        if np.max(np.abs(other_orientation - orientation)) > GEOMETRY_TOLERANCE:
            raise CohortImportError(
                f"differs from {first_name}", file=here, field="ImageOrientationPatient"
            )
        sop = str(ds.SOPInstanceUID)
        if sop in seen_sop:
            raise CohortImportError(
                f"duplicated slice: same SOPInstanceUID as {seen_sop[sop]}",
                file=here,
                field="SOPInstanceUID",
            )
        seen_sop[sop] = here

    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array(
        [
            _as_floats(ds.ImagePositionPatient, 3, file=name(p), tag="ImagePositionPatient")
            for ds, p in zip(datasets, paths, strict=True)
        ]
    )
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    datasets = [datasets[i] for i in order]
    paths = [paths[i] for i in order]
    positions, along = positions[order], along[order]

    if len(datasets) >= 2:
        gaps = np.diff(along)
        for i, gap in enumerate(gaps):
            if gap < GEOMETRY_TOLERANCE:
                raise CohortImportError(
                    f"duplicated slice: same position ({along[i]:.2f} mm along the normal) as {name(paths[i])}",
                    file=name(paths[i + 1]),
                    field="ImagePositionPatient",
                )
        spacing_z = float(np.median(gaps))
        for i, gap in enumerate(gaps):
            if gap > MISSING_SLICE_FACTOR * spacing_z:
                missing = round(gap / spacing_z) - 1
                raise CohortImportError(
                    f"about {missing} slice(s) missing between {along[i]:.2f} mm and {along[i + 1]:.2f} mm "
                    f"(regular spacing {spacing_z:.2f} mm)",
                    file=name(paths[i + 1]),
                    field="ImagePositionPatient",
                )
            if abs(gap - spacing_z) > max(
                GEOMETRY_TOLERANCE, SPACING_RELATIVE_TOLERANCE * spacing_z
            ):
                raise CohortImportError(
                    f"inconsistent slice spacing: {gap:.3f} mm here, {spacing_z:.3f} mm elsewhere",
                    file=name(paths[i + 1]),
                    field="ImagePositionPatient",
                )
        # Slices must stack along the normal (no gantry tilt or shifted slices).
        expected = positions[0] + np.outer(along - along[0], normal)
        offsets = np.linalg.norm(positions - expected, axis=1)
        worst = int(np.argmax(offsets))
        if offsets[worst] > 0.01 + GEOMETRY_TOLERANCE:
            raise CohortImportError(
                f"slice is shifted {offsets[worst]:.2f} mm off the stack axis (tilted or misplaced)",
                file=name(paths[worst]),
                field="ImagePositionPatient",
            )
    else:
        spacing_z = float(first.get("SliceThickness") or 1.0)

    for ds, path in zip(datasets, paths, strict=True):
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises several types for undecodable pixel data
            raise CohortImportError(
                f"pixel data cannot be decoded ({exc})", file=name(path), field="PixelData"
            ) from exc
        if pixels.shape != (int(first.Rows), int(first.Columns)):
            raise CohortImportError(
                f"pixel data shape {pixels.shape} does not match Rows/Columns",
                file=name(path),
                field="PixelData",
            )

    def text(tag: str) -> str:
        value = first.get(tag, "")
        if isinstance(value, pydicom.multival.MultiValue):
            value = "\\".join(str(v) for v in value)
        return str(value or "").strip()

    metadata = {
        "manufacturer": text("Manufacturer"),
        "manufacturer_model": text("ManufacturerModelName"),
        "convolution_kernel": text("ConvolutionKernel"),
        "contrast_agent": text("ContrastBolusAgent"),
        "contrast_phase": _contrast_phase(first),
        "kvp": float(first.KVP) if first.get("KVP") not in (None, "") else None,
        "slice_thickness": float(first.SliceThickness)
        if first.get("SliceThickness") not in (None, "")
        else None,
        "patient_id": text("PatientID"),
        "patient_name": text("PatientName"),
        "study_instance_uid": text("StudyInstanceUID"),
        "frame_of_reference_uid": text("FrameOfReferenceUID"),
        "series_description": text("SeriesDescription"),
        "image_comments": text("ImageComments"),
    }
    return CTVolumeHeader(
        folder=shown,
        datasets=datasets,
        files=paths,
        rows=int(first.Rows),
        columns=int(first.Columns),
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        slice_spacing=spacing_z,
        orientation=orientation,
        positions_along_normal=along,
        first_position=positions[0],
        metadata=metadata,
    )


def _contrast_phase(ds: Dataset) -> str:
    """Best guess of the contrast phase from the standard attributes and the description."""
    description = " ".join(
        str(ds.get(t, "")) for t in ("SeriesDescription", "ProtocolName")
    ).lower()
    for phase in ("arterial", "venous", "portal", "delayed", "non-contrast", "native"):
        if phase in description:
            return phase
    if ds.get("ContrastBolusAgent"):
        return "contrast-enhanced"
    return ""
