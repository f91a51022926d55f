"""Loading node masks (NumPy, NIfTI, DICOM SEG) as a label map aligned with a CT series.

The returned array always has the series' voxel order: (slice, row, column), slices ascending
along the normal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cohortformat.folder import MASK_FORMATS, mask_format_of
from readerstudy.cohorts.dicom_series import CTVolumeHeader
from readerstudy.cohorts.errors import CohortImportError

AFFINE_TOLERANCE_MM = 0.01
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def load_label_map(path: Path, *, series: CTVolumeHeader, shown: str) -> np.ndarray:
    """Read ``path`` and return an integer label map of the series' shape.

    Raises CohortImportError (naming ``shown``) when the file cannot be read or its shape or
    geometry does not match the series.
    """
    if not path.is_file():
        raise CohortImportError("mask file not found", file=shown)
    fmt = mask_format_of(path)
    if fmt is None:
        accepted = ", ".join(x for f in MASK_FORMATS.values() for x in f.suffixes)
        raise CohortImportError(f"unknown mask format (expected {accepted})", file=shown)
    if fmt.name == "npy":
        labels = _load_numpy(path, shown=shown)
    elif fmt.name == "nifti":
        labels = _load_nifti(path, series=series, shown=shown)
    else:
        labels = _load_seg(path, series=series, shown=shown)
    if labels.shape != series.shape:
        raise CohortImportError(
            f"mask shape {labels.shape} does not match the series (slices, rows, columns) = {series.shape}",
            file=shown,
        )
    if labels.min() < 0:
        raise CohortImportError("mask holds negative labels", file=shown)
    return labels.astype(np.uint16, copy=False)


def _as_integer_labels(data: np.ndarray, *, shown: str) -> np.ndarray:
    if data.dtype == bool:
        return data.astype(np.uint16)
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise CohortImportError("mask values must be whole numbers (a label map)", file=shown)
        return data.astype(np.int64)
    if not np.issubdtype(data.dtype, np.integer):
        raise CohortImportError(f"mask has non-numeric type {data.dtype}", file=shown)
    return data


def _load_numpy(path: Path, *, shown: str) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CohortImportError(f"not a NumPy .npy array ({exc})", file=shown) from exc
    if data.ndim != 3:
        raise CohortImportError(
            f"mask must be 3-D (slices, rows, columns), got shape {data.shape}", file=shown
        )
    return _as_integer_labels(data, shown=shown)


def _load_nifti(path: Path, *, series: CTVolumeHeader, shown: str) -> np.ndarray:
    import nibabel as nib

    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise CohortImportError(f"not a readable NIfTI file ({exc})", file=shown) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise CohortImportError(f"mask must be 3-D, got shape {data.shape}", file=shown)
    data = _as_integer_labels(data, shown=shown)
    series_affine = LPS_TO_RAS @ series.affine_lps()  # voxel (col, row, slice) -> RAS
    # Voxel-to-voxel map from the NIfTI's indices to the series' (col, row, slice) indices.
    to_series = np.linalg.solve(series_affine, image.affine)
    linear = to_series[:3, :3]
    permutation = np.argmax(np.abs(linear), axis=0)  # NIfTI axis a -> series axis permutation[a]
    signs = np.sign(linear[permutation, np.arange(3)])
    expected = np.zeros((3, 3))
    expected[permutation, np.arange(3)] = signs
    voxel_mm = np.array([series.pixel_spacing[1], series.pixel_spacing[0], series.slice_spacing])
    if (
        sorted(permutation.tolist()) != [0, 1, 2]
        or np.max(np.abs(linear - expected) * voxel_mm[:, None]) > AFFINE_TOLERANCE_MM * 10
    ):
        raise CohortImportError(
            "mask geometry (NIfTI affine) does not match the series: voxel axes are not aligned",
            file=shown,
        )
    # Reorder the data to series index order (col, row, slice) and undo flips.
    series_shape = (series.columns, series.rows, len(series.datasets))
    reordered = np.zeros(series_shape, dtype=data.dtype)
    inverse = np.argsort(permutation)
    data_series_axes = np.transpose(data, inverse)
    offset = to_series[:3, 3]
    for axis in range(3):
        source_axis = inverse[axis]
        if signs[source_axis] < 0:
            data_series_axes = np.flip(data_series_axes, axis=axis)
            start = offset[axis] - (data.shape[source_axis] - 1)
        else:
            start = offset[axis]
        if abs(start - round(start)) * voxel_mm[axis] > AFFINE_TOLERANCE_MM or round(start) != 0:
            raise CohortImportError(
                f"mask geometry (NIfTI affine) does not match the series: shifted by {start:.3f} voxels along "
                f"{('column', 'row', 'slice')[axis]} axis",
                file=shown,
            )
    if data_series_axes.shape != series_shape:
        raise CohortImportError(
            f"mask shape {data.shape} does not match the series (columns, rows, slices) = {series_shape}",
            file=shown,
        )
    reordered[...] = data_series_axes
    return np.ascontiguousarray(np.transpose(reordered, (2, 1, 0)))


def _load_seg(path: Path, *, series: CTVolumeHeader, shown: str) -> np.ndarray:
    import highdicom as hd
    import pydicom

    try:
        seg = hd.seg.segread(str(path))
    except (pydicom.errors.InvalidDicomError, AttributeError, ValueError, OSError) as exc:
        raise CohortImportError(f"not a readable DICOM SEG ({exc})", file=shown) from exc
    series_for = series.metadata.get("frame_of_reference_uid")
    if series_for and seg.get("FrameOfReferenceUID") not in (None, series_for):
        raise CohortImportError(
            "DICOM SEG has another frame of reference than its series",
            file=shown,
            field="FrameOfReferenceUID",
        )
    sop_uids = [str(ds.SOPInstanceUID) for ds in series.datasets]
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=sop_uids,
            combine_segments=True,
            assert_missing_frames_are_empty=True,
        )
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CohortImportError(f"DICOM SEG does not match the series ({exc})", file=shown) from exc
    return np.asarray(pixels)
