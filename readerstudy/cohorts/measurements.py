"""Node measurements from a binary mask and the voxel spacing.

Short- and long-axis diameters follow radiological practice (and RECIST 1.1 for lymph nodes):
both are measured in the axial plane; the long axis is the largest in-plane diameter and the
short axis the largest diameter perpendicular to it, taken on the slice where it is largest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError


@dataclass(frozen=True)
class NodeMeasurements:
    voxel_count: int
    centroid_voxel: tuple[float, float, float]  # (slice, row, column)
    bbox: tuple[int, int, int, int, int, int]  # start (slice, row, col), end exclusive
    short_axis_mm: float
    long_axis_mm: float
    volume_mm3: float


def _outline_points(rows: np.ndarray, cols: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Corners of every voxel (in mm, x = column, y = row), so diameters span whole voxels."""
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float) - 0.5
    centres = np.stack([cols, rows], axis=1).astype(float)
    points = (centres[:, None, :] + corners[None, :, :]).reshape(-1, 2)
    return points * np.array([spacing[1], spacing[0]])


def axial_diameters(
    rows: np.ndarray, cols: np.ndarray, spacing: tuple[float, float]
) -> tuple[float, float]:
    """(long, short) diameters in mm of one axial cross-section given its voxel indices."""
    points = _outline_points(rows, cols, spacing)
    try:
        hull = points[ConvexHull(points).vertices]
    except QhullError:
        hull = points
    differences = hull[:, None, :] - hull[None, :, :]
    distances = np.hypot(differences[..., 0], differences[..., 1])
    i, j = np.unravel_index(np.argmax(distances), distances.shape)
    long_axis = float(distances[i, j])
    direction = (hull[j] - hull[i]) / long_axis
    perpendicular = np.array([-direction[1], direction[0]])
    projection = hull @ perpendicular
    short_axis = float(projection.max() - projection.min())
    return long_axis, short_axis


def measure_node(
    mask: np.ndarray, *, voxel_size_zyx: tuple[float, float, float]
) -> NodeMeasurements:
    """Measure a boolean mask of shape (slice, row, column). The mask must not be empty."""
    coords = np.argwhere(mask)
    if coords.size == 0:
        raise ValueError("empty mask")
    start = coords.min(axis=0)
    end = coords.max(axis=0) + 1
    best_long = best_short = 0.0
    in_plane = (voxel_size_zyx[1], voxel_size_zyx[2])
    for z in np.unique(coords[:, 0]):
        on_slice = coords[coords[:, 0] == z]
        long_axis, short_axis = axial_diameters(on_slice[:, 1], on_slice[:, 2], in_plane)
        best_long = max(best_long, long_axis)
        best_short = max(best_short, short_axis)
    voxel_volume = float(np.prod(voxel_size_zyx))
    centroid = coords.mean(axis=0)
    return NodeMeasurements(
        voxel_count=int(len(coords)),
        centroid_voxel=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        bbox=(int(start[0]), int(start[1]), int(start[2]), int(end[0]), int(end[1]), int(end[2])),
        short_axis_mm=round(best_short, 3),
        long_axis_mm=round(best_long, 3),
        volume_mm3=round(len(coords) * voxel_volume, 3),
    )
