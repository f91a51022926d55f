"""Read a cohort folder in the import format (docs/import-format.md) as :class:`PatientCase`s.

For the command line and the benchmarks only: the web app validates cohorts on import and
feeds arrays from its own storage. This reader checks what it needs (columns, files, shapes,
mask labels) and names the file and manifest row (1-based, header = row 1) in its errors; it
does not repeat every check of the importer.

* CT: every file of the ``series`` folder is read with pydicom, sorted by position along the
  slice normal, rescaled to HU; spacing = (median slice distance, PixelSpacing row, column).
* masks: ``.npy`` label map (slice, row, column); NIfTI label map whose affine is an axis
  permutation / flip of the series grid; DICOM SEG read with highdicom, segment number =
  ``mask_label``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from cohortformat import COHORT_JSON, MANIFEST, REFERENCE, REQUIRED_COLUMNS, mask_format_of

from .dataset import NodeSpec, PatientCase

__all__ = ["CohortError", "CohortFolder", "Series", "read_cohort", "read_mask", "read_series"]


class CohortError(ValueError):
    """A cohort folder this reader cannot use; the message names the file and row."""


@dataclass
class Series:
    hu: np.ndarray  # float32 (slices, rows, cols)
    spacing: tuple[float, float, float]
    affine_lps: np.ndarray  # (column, row, slice) index -> LPS mm
    frame_of_reference: str
    sop_uids: list[str]


def read_series(folder: Path) -> Series:
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    if not files:
        raise CohortError(f"{folder}: no DICOM file")
    try:
        dss = [pydicom.dcmread(p) for p in files]
    except Exception as exc:
        raise CohortError(f"{folder}: not a DICOM series ({exc})") from exc
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    dss.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    pos = np.array([d.ImagePositionPatient for d in dss], dtype=float)
    dist = pos @ normal
    slice_spacing = (
        float(np.median(np.diff(dist))) if len(dss) > 1 else float(dss[0].SliceThickness)
    )
    hu = np.stack(
        [
            d.pixel_array.astype(np.float32) * float(getattr(d, "RescaleSlope", 1.0))
            + float(getattr(d, "RescaleIntercept", 0.0))
            for d in dss
        ]
    )
    ps = [float(v) for v in dss[0].PixelSpacing]  # (row spacing, column spacing)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * ps[1]
    affine[:3, 1] = col_dir * ps[0]
    affine[:3, 2] = normal * slice_spacing
    affine[:3, 3] = pos[0]
    return Series(
        hu=hu,
        spacing=(slice_spacing, ps[0], ps[1]),
        affine_lps=affine,
        frame_of_reference=str(getattr(dss[0], "FrameOfReferenceUID", "")),
        sop_uids=[str(d.SOPInstanceUID) for d in dss],
    )


def read_mask(path: Path, series: Series) -> np.ndarray:
    """Integer label map on the series grid (slice, row, column)."""
    fmt = mask_format_of(path)
    shape = series.hu.shape
    if fmt is None:
        raise CohortError(f"{path}: unknown mask format")
    if fmt.name == "npy":
        out = np.load(path, allow_pickle=False)
    elif fmt.name == "nifti":
        import nibabel as nib

        img = nib.load(str(path))
        data = np.asarray(img.dataobj)  # type: ignore[attr-defined]
        ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
        m = np.linalg.inv(series.affine_lps) @ ras_to_lps @ img.affine  # type: ignore[attr-defined]
        perm = np.argmax(np.abs(m[:3, :3]), axis=0)  # mask axis i -> series axis perm[i]
        if not np.allclose(np.abs(m[:3, :3]), np.eye(3)[:, perm], atol=1e-3):
            raise CohortError(f"{path}: affine is not an axis permutation of the series grid")
        out = np.transpose(data, np.argsort(perm))
        for ax in range(3):
            if m[ax, perm.tolist().index(ax)] < 0:
                out = np.flip(out, axis=ax)
        out = np.transpose(out, (2, 1, 0))  # (col, row, slice) -> (slice, row, col)
    else:
        import highdicom as hd

        seg = hd.seg.segread(str(path))
        out = np.asarray(
            seg.get_pixels_by_source_instance(
                source_sop_instance_uids=series.sop_uids,
                combine_segments=True,
                relabel=False,
                assert_missing_frames_are_empty=True,
            )
        )
    if out.shape != shape:
        raise CohortError(f"{path}: mask shape {out.shape} differs from series shape {shape}")
    return np.ascontiguousarray(out).astype(np.int32)


@dataclass
class CohortFolder:
    root: Path
    name: str
    #: per patient, in manifest order: (series path, mask path, [(row number, NodeSpec)])
    patients: dict[str, tuple[Path, Path, list[tuple[int, NodeSpec]]]]

    @property
    def n_nodes(self) -> int:
        return sum(len(p[2]) for p in self.patients.values())

    def cases(self, *, with_reference: bool = True) -> Iterator[PatientCase]:
        """One :class:`PatientCase` at a time (volumes are read lazily)."""
        for pid, (series_dir, mask_path, rows) in self.patients.items():
            series = read_series(series_dir)
            labels = read_mask(mask_path, series)
            present = set(np.unique(labels).tolist())
            for row, node in rows:
                if node.mask_label not in present:
                    raise CohortError(
                        f"{self.root / MANIFEST} row {row}: mask_label {node.mask_label} "
                        f"has no voxel in {mask_path}"
                    )
            nodes = [
                n if with_reference else NodeSpec(n.node_id, n.mask_label, None) for _, n in rows
            ]
            yield PatientCase(pid, series.hu, series.spacing, labels, nodes)


def _inside(root: Path, rel: str, row: int, column: str) -> Path:
    path = (root / rel).resolve()
    if root.resolve() not in path.parents and path != root.resolve():
        raise CohortError(f"{root / MANIFEST} row {row}: {column} {rel!r} leaves the cohort folder")
    if not path.exists():
        raise CohortError(f"{root / MANIFEST} row {row}: {column} {rel!r} does not exist")
    return path


def read_cohort(root: str | Path, *, require_reference: bool = True) -> CohortFolder:
    """Parse ``cohort.json`` and ``manifest.csv`` (the volumes are read by ``cases()``)."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise CohortError(f"{manifest}: missing")
    name = root.name
    if (root / COHORT_JSON).is_file():
        try:
            name = str(json.loads((root / COHORT_JSON).read_text(encoding="utf-8"))["name"])
        except (ValueError, KeyError) as exc:
            raise CohortError(
                f"{root / COHORT_JSON}: unreadable or without 'name' ({exc})"
            ) from exc
    patients: dict[str, tuple[Path, Path, list[tuple[int, NodeSpec]]]] = {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        needed = [c for c in REQUIRED_COLUMNS if c != "reference" or require_reference]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise CohortError(f"{manifest}: missing column(s) {', '.join(missing)}")
        for row_no, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            pid = row["patient_id"]
            try:
                label = int(row["mask_label"])
                if label < 1:
                    raise ValueError
            except ValueError:
                raise CohortError(
                    f"{manifest} row {row_no}: mask_label {row['mask_label']!r} is not an integer >= 1"
                ) from None
            reference = row.get("reference") or None
            if reference is not None:
                try:
                    reference = REFERENCE.parse(reference)
                except ValueError as exc:
                    raise CohortError(f"{manifest} row {row_no}: reference: {exc}") from None
            elif require_reference:
                raise CohortError(f"{manifest} row {row_no}: reference is empty")
            series = _inside(root, row["series"], row_no, "series")
            mask = _inside(root, row["mask"], row_no, "mask")
            entry = patients.setdefault(pid, (series, mask, []))
            if entry[0] != series or entry[1] != mask:
                raise CohortError(
                    f"{manifest} row {row_no}: patient {pid} has another series or mask file "
                    "on an earlier row (one series and one mask file per patient)"
                )
            if any(n.node_id == row["node_id"] for _, n in entry[2]):
                raise CohortError(f"{manifest} row {row_no}: node_id {row['node_id']!r} repeated")
            entry[2].append((row_no, NodeSpec(row["node_id"], label, reference)))
    if not patients:
        raise CohortError(f"{manifest}: no node rows")
    return CohortFolder(root=root, name=name, patients=patients)
