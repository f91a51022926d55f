"""Node diameters and volume from a binary mask: the one definition the app and the generator use.

Short- and long-axis diameters follow radiological practice (RECIST 1.1 for lymph nodes): both
are measured in the axial plane (the slices of the series). On one slice, the *long axis* is the
largest in-plane diameter of the cross-section, and the *short axis* its extent perpendicular to
the long axis. A node's long and short axes are the largest of those over its slices (the short
axis is the "maximum short-axis diameter" radiologists report, so it may come from another slice
than the long axis).

Voxels count with their whole extent: a cross-section is the union of its pixel squares, so a
one-pixel node is one pixel wide. Diameters are exact for that polygon (convex hull of the pixel
corners; no angular sampling), in millimetres with the row and column spacing applied, so
anisotropic pixels are handled.

The importer stores these values (``readerstudy.cohorts``) and the synthetic generator's realism
check reports them (``synthetic.realism``), so the two always measure the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

__all__ = [
    "AxialDiameters",
    "NodeMeasurements",
    "axial_diameters",
    "measure_node",
    "node_diameters",
]

_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


@dataclass(frozen=True)
class AxialDiameters:
    """Diameters of a node (mm) and the slice index whose short axis is the largest."""

    short_axis_mm: float
    long_axis_mm: float
    short_axis_slice: int


@dataclass(frozen=True)
class NodeMeasurements:
    """What the importer stores about one node's mask."""

    voxel_count: int
    centroid_voxel: tuple[float, float, float]  # (slice, row, column)
    bbox: tuple[int, int, int, int, int, int]  # start (slice, row, col), end exclusive
    short_axis_mm: float
    long_axis_mm: float
    volume_mm3: float


def axial_diameters(
    rows: np.ndarray, cols: np.ndarray, spacing: tuple[float, float]
) -> tuple[float, float]:
    """(long, short) diameters in mm of one axial cross-section, given its pixels' indices.

    ``spacing`` is (row spacing, column spacing) in mm. Raises ValueError for no pixels.
    Where several diameters are equally long (common on a pixel grid: a square's two
    diagonals), the short axis is the largest extent perpendicular to any of them, so the
    result depends neither on where the node lies nor on the order of its pixels.
    """
    if len(rows) == 0:
        raise ValueError("empty cross-section")
    centres = np.stack([np.asarray(cols, float), np.asarray(rows, float)], axis=1)
    centres -= centres.min(axis=0)  # same arithmetic wherever the node lies
    points = (centres[:, None, :] + _CORNERS[None, :, :]).reshape(-1, 2)
    points = np.unique(points, axis=0) * np.array([spacing[1], spacing[0]])  # x = column, y = row
    try:
        hull = points[ConvexHull(points).vertices]
    except QhullError:  # pragma: no cover - pixel squares always span an area
        hull = points
    differences = hull[:, None, :] - hull[None, :, :]
    distances = np.hypot(differences[..., 0], differences[..., 1])
    long_axis = float(distances.max())
    # every pair of hull points as far apart as the longest (to rounding error)
    first, second = np.nonzero(np.triu(distances >= long_axis * (1.0 - 1e-9)))
    directions = (hull[second] - hull[first]) / long_axis
    perpendiculars = np.stack([-directions[:, 1], directions[:, 0]], axis=1)
    projections = hull @ perpendiculars.T  # (hull points, candidate long axes)
    short_axis = float((projections.max(axis=0) - projections.min(axis=0)).max())
    return long_axis, short_axis


def node_diameters(mask: np.ndarray, pixel_spacing: tuple[float, float]) -> AxialDiameters:
    """Short and long axis of a boolean (slice, row, column) mask; see the module docstring.

    ``pixel_spacing`` is (row spacing, column spacing) in mm. Raises ValueError for an empty mask.
    """
    best_long = best_short = 0.0
    best_slice = -1
    for k in np.nonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0]:
        rows, cols = np.nonzero(mask[k])
        long_axis, short_axis = axial_diameters(rows, cols, pixel_spacing)
        best_long = max(best_long, long_axis)
        if short_axis > best_short:
            best_short, best_slice = short_axis, int(k)
    if best_slice < 0:
        raise ValueError("empty mask")
    return AxialDiameters(best_short, best_long, best_slice)


def measure_node(
    mask: np.ndarray, *, voxel_size_zyx: tuple[float, float, float]
) -> NodeMeasurements:
    """Measure a boolean mask of shape (slice, row, column). The mask must not be empty."""
    coords = np.argwhere(mask)
    if coords.size == 0:
        raise ValueError("empty mask")
    start = coords.min(axis=0)
    end = coords.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, end, strict=True))
    diameters = node_diameters(
        np.asarray(mask[box], dtype=bool), (voxel_size_zyx[1], voxel_size_zyx[2])
    )
    centroid = coords.mean(axis=0)
    return NodeMeasurements(
        voxel_count=int(len(coords)),
        centroid_voxel=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        bbox=(int(start[0]), int(start[1]), int(start[2]), int(end[0]), int(end[1]), int(end[2])),
        short_axis_mm=round(diameters.short_axis_mm, 3),
        long_axis_mm=round(diameters.long_axis_mm, 3),
        volume_mm3=round(len(coords) * float(np.prod(voxel_size_zyx)), 3),
    )
