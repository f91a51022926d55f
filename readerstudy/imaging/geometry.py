"""Reformatted planes through a node and the node's outline, from arrays. No database, no storage.

Voxel order is the series' (slice, row, column), slices ascending along the slice normal.
Reformats put the head at the top: their row 0 is the most superior slice (the last one when the
normal points up, as in every axial CT), so they look as radiologists expect.

Outline coordinates are image coordinates as Cornerstone uses them: x = column, y = row, and
pixel (x, y) covers the square [x, x+1) x [y, y+1), so an outline drawn from these numbers sits
on the pixel edges of the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from skimage.measure import approximate_polygon, find_contours

Plane = Literal["coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("coronal", "sagittal")
Polygon = list[list[float]]


@dataclass(frozen=True)
class SeriesGeometry:
    slice_count: int
    rows: int
    columns: int
    row_spacing: float  # between rows (mm)
    column_spacing: float  # between columns (mm)
    slice_spacing: float
    orientation: tuple[float, ...]  # ImageOrientationPatient: row direction, column direction
    first_position: tuple[float, ...]

    @property
    def row_direction(self) -> np.ndarray:  # along increasing column index
        return np.asarray(self.orientation[:3], dtype=float)

    @property
    def column_direction(self) -> np.ndarray:  # along increasing row index
        return np.asarray(self.orientation[3:], dtype=float)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction, self.column_direction)

    @property
    def rows_descending(self) -> bool:
        """Whether a reformat's row 0 is the last slice (the normal points to the head)."""
        return bool(self.normal[2] >= 0)

    def position(self, slice_index: float, row: float, column: float) -> np.ndarray:
        return (
            np.asarray(self.first_position, dtype=float)
            + column * self.column_spacing * self.row_direction
            + row * self.row_spacing * self.column_direction
            + slice_index * self.slice_spacing * self.normal
        )


@dataclass(frozen=True)
class PlaneGeometry:
    """Where a reformat lies: the voxel row or column it cuts through and its DICOM geometry."""

    plane: Plane
    through: int  # the row (coronal) or column (sagittal) index
    position: list[float]
    orientation: list[float]
    pixel_spacing: tuple[float, float]  # (between rows = slice spacing, between columns)
    thickness: float


def plane_through(series: SeriesGeometry, plane: Plane, centroid: list[float]) -> PlaneGeometry:
    """The coronal (fixed row) or sagittal (fixed column) plane through ``centroid`` (s, r, c)."""
    descending = series.rows_descending
    first_row_slice = series.slice_count - 1 if descending else 0
    down = -series.normal if descending else series.normal
    if plane == "coronal":
        row = int(np.clip(round(centroid[1]), 0, series.rows - 1))
        return PlaneGeometry(
            plane=plane,
            through=row,
            position=series.position(first_row_slice, row, 0).tolist(),
            orientation=[*series.row_direction.tolist(), *down.tolist()],
            pixel_spacing=(series.slice_spacing, series.column_spacing),
            thickness=series.row_spacing,
        )
    column = int(np.clip(round(centroid[2]), 0, series.columns - 1))
    return PlaneGeometry(
        plane=plane,
        through=column,
        position=series.position(first_row_slice, 0, column).tolist(),
        orientation=[*series.column_direction.tolist(), *down.tolist()],
        pixel_spacing=(series.slice_spacing, series.row_spacing),
        thickness=series.column_spacing,
    )


def plane_pixels(
    volume: np.ndarray, geometry: PlaneGeometry, *, rows_descending: bool
) -> np.ndarray:
    """The 2-D cut of a (slice, row, column) array along ``geometry``, rows as in the reformat."""
    if geometry.plane == "coronal":
        cut = volume[:, geometry.through, :]
    else:
        cut = volume[:, :, geometry.through]
    return cut[::-1] if rows_descending else cut


def outline(mask: np.ndarray, *, tolerance: float = 0.25) -> list[Polygon]:
    """Closed polygons around the True pixels of a 2-D mask, as [[x, y], ...] (see module doc)."""
    if not mask.any():
        return []
    padded = np.pad(mask.astype(np.float32), 1)
    polygons = []
    for contour in find_contours(padded, 0.5):
        simplified = approximate_polygon(contour, tolerance=tolerance)
        # -1 undoes the padding, +0.5 moves from pixel centres to Cornerstone's pixel corners.
        points = [[round(float(c) - 0.5, 2), round(float(r) - 0.5, 2)] for r, c in simplified]
        if len(points) > 1 and points[0] == points[-1]:
            points.pop()
        if len(points) >= 3:
            polygons.append(points)
    return polygons


def node_outlines(
    labels: np.ndarray,
    *,
    mask_label: int,
    bbox: list[int],
    planes: dict[Plane, PlaneGeometry],
    rows_descending: bool,
) -> dict:
    """The node's outline on every axial slice it spans and on each reformat."""
    s0, r0, c0, s1, r1, c1 = bbox
    node = labels == mask_label
    slices: dict[str, list[Polygon]] = {}
    for s in range(s0, s1):
        window = node[s, r0:r1, c0:c1]
        polygons = outline(window)
        if polygons:
            slices[str(s)] = [[[x + c0, y + r0] for x, y in polygon] for polygon in polygons]
    result: dict = {"slices": slices}
    for name, geometry in planes.items():
        result[name] = outline(plane_pixels(node, geometry, rows_descending=rows_descending))
    return result
