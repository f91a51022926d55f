"""Two-stream 2.5D crops of lymph nodes (seed 001's input design), numpy + scipy only.

Every node gives two stacks of ``grid x grid`` images, each with the same channels:

* ``2 * context_slices + 1`` axial slices around the node's centroid slice (2.5D), in the
  soft-tissue window HU ``window`` scaled to [0, 1];
* the node's own mask on the centroid slice (1 inside, 0 outside; other nodes are 0).

Stream ``size_independent``: the node's in-plane bounding box (over all its slices) plus
``margin_mm`` on each side, made square in millimetres (so the node's shape is not distorted)
and resampled to the grid: every node fills the crop whatever its size (shape, texture,
margin). Stream ``size_aware``: a fixed ``fov_mm x fov_mm`` field of view centred on the
centroid, resampled to the grid: size and surroundings are kept in physical units.

Geometry: voxel ``i`` of an axis has its centre at index ``i``; crop pixel ``j`` of ``grid``
covers ``[j, j + 1) * width / grid`` mm from the crop's edge, so its centre is
``(j + 0.5 - grid / 2) * width / grid`` mm from the crop centre, which therefore lies at pixel
coordinate ``(grid - 1) / 2``. In-plane sampling is bilinear for CT and nearest-neighbour for
the label map; slices are taken whole (no interpolation across slices, whose thickness is
often 3-5 mm). Anything outside the volume reads as air (``AIR_HU``), i.e. 0 after windowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "AIR_HU",
    "CropError",
    "CropParams",
    "Crops",
    "NodeGeometry",
    "extract_crops",
    "extract_node_crops",
    "node_geometries",
    "window_hu",
]

AIR_HU = -1000.0


class CropError(ValueError):
    """Bad crop input (shape, spacing, empty mask), with the node it concerns."""


@dataclass(frozen=True)
class CropParams:
    """How crops are made; stored in every model bundle so prediction crops like training."""

    grid: int = 32
    context_slices: int = 1
    margin_mm: float = 3.0
    fov_mm: float = 48.0
    window_low: float = -125.0
    window_high: float = 225.0

    def __post_init__(self) -> None:
        if self.grid < 4 or self.context_slices < 0 or self.fov_mm <= 0 or self.margin_mm < 0:
            raise CropError(f"invalid crop parameters {self}")
        if self.window_high <= self.window_low:
            raise CropError("window_high must exceed window_low")

    @property
    def channels(self) -> int:
        """CT slices plus the mask channel."""
        return 2 * self.context_slices + 2

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CropParams:
        return cls(**data)


@dataclass(frozen=True)
class NodeGeometry:
    """Where a node is, in voxel indices (slice, row, column)."""

    centroid: tuple[float, float, float]
    #: inclusive first and last voxel of the bounding box on each axis
    bbox_first: tuple[int, int, int]
    bbox_last: tuple[int, int, int]
    voxels: int


@dataclass(frozen=True)
class Crops:
    """Crops of N nodes: two float32 arrays of shape (N, channels, grid, grid)."""

    size_independent: np.ndarray
    size_aware: np.ndarray

    def __len__(self) -> int:
        return int(self.size_independent.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> Crops:
        idx = np.asarray(index)
        return Crops(self.size_independent[idx], self.size_aware[idx])

    @staticmethod
    def concatenate(parts: Sequence[Crops], params: CropParams) -> Crops:
        if not parts:
            empty = np.zeros((0, params.channels, params.grid, params.grid), np.float32)
            return Crops(empty, empty.copy())
        return Crops(
            np.concatenate([p.size_independent for p in parts]),
            np.concatenate([p.size_aware for p in parts]),
        )


def window_hu(hu: np.ndarray, low: float, high: float) -> np.ndarray:
    """HU -> [0, 1] linearly between ``low`` and ``high``, clipped (float32)."""
    out = (np.asarray(hu, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def _check_inputs(volume: np.ndarray, spacing: Sequence[float], labels: np.ndarray) -> None:
    if volume.ndim != 3:
        raise CropError(f"volume must be 3-D (slices, rows, cols), got shape {volume.shape}")
    if labels.shape != volume.shape:
        raise CropError(f"mask shape {labels.shape} differs from volume shape {volume.shape}")
    if len(spacing) != 3 or not all(float(s) > 0 for s in spacing):
        raise CropError(f"spacing must be three positive mm values, got {tuple(spacing)}")


def node_geometries(labels: np.ndarray, label_ids: Sequence[int]) -> list[NodeGeometry]:
    """Geometry of each node of an integer label map, in one pass over the volume."""
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    ids = [int(i) for i in label_ids]
    if not ids:
        return []
    objects = ndimage.find_objects(labels, max_label=max(ids))
    out = []
    for node_id in ids:
        box = objects[node_id - 1] if node_id >= 1 else None
        if box is None:
            raise CropError(f"mask label {node_id}: no voxel")
        inside = np.nonzero(labels[box] == node_id)
        offsets = np.array([s.start for s in box], dtype=np.float64)
        centroid = tuple(float(np.mean(ax)) + o for ax, o in zip(inside, offsets, strict=True))
        out.append(
            NodeGeometry(
                centroid=(centroid[0], centroid[1], centroid[2]),
                bbox_first=(box[0].start, box[1].start, box[2].start),
                bbox_last=(box[0].stop - 1, box[1].stop - 1, box[2].stop - 1),
                voxels=int(inside[0].size),
            )
        )
    return out


def _sampling_grid(
    centres_rc: np.ndarray, widths_mm: np.ndarray, spacing_rc: np.ndarray, grid: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (N, grid) of the pixel centres of N square crops."""
    unit = (np.arange(grid, dtype=np.float64) + 0.5) / grid - 0.5  # (grid,) in crop widths
    offsets_mm = widths_mm[:, None] * unit[None, :]  # (N, grid)
    rows = centres_rc[:, 0:1] + offsets_mm / spacing_rc[0]
    cols = centres_rc[:, 1:2] + offsets_mm / spacing_rc[1]
    return rows, cols


def _sample(
    volume: np.ndarray,
    labels: np.ndarray,
    label_ids: np.ndarray,
    slices: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    params: CropParams,
) -> np.ndarray:
    """(N, channels, grid, grid) crops at the given slice indices (N, k) and pixel grids."""
    n, k = slices.shape
    g = params.grid
    shape = (n, k, g, g)
    zz = np.broadcast_to(slices[:, :, None, None], shape).astype(np.float64)
    yy = np.broadcast_to(rows[:, None, :, None], shape)
    xx = np.broadcast_to(cols[:, None, None, :], shape)
    # order=1 needs no spline prefilter, so the cost scales with the crop, not the volume
    ct = ndimage.map_coordinates(
        volume, np.stack([zz, yy, xx]), order=1, mode="constant", cval=AIR_HU, output=np.float32
    )
    centre = k // 2
    lab = ndimage.map_coordinates(
        labels,
        np.stack([zz[:, centre], yy[:, centre], xx[:, centre]]),
        order=0,
        mode="constant",
        cval=0,
    )
    mask = (lab == label_ids[:, None, None]).astype(np.float32)
    out = np.empty((n, k + 1, g, g), dtype=np.float32)
    out[:, :k] = window_hu(ct, params.window_low, params.window_high)
    out[:, k] = mask
    return out


def extract_crops(
    volume: np.ndarray,
    spacing: Sequence[float],
    labels: np.ndarray,
    label_ids: Sequence[int],
    params: CropParams | None = None,
) -> Crops:
    """Crops of the nodes ``label_ids`` of one CT volume.

    ``volume``: (slices, rows, cols) in HU; ``spacing``: (slice, row, column) spacing in mm;
    ``labels``: integer label map (or boolean mask, label 1) of the same shape.
    """
    params = params or CropParams()
    volume = np.asarray(volume)
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    _check_inputs(volume, spacing, labels)
    if not np.issubdtype(volume.dtype, np.floating):
        volume = volume.astype(np.float32)
    geoms = node_geometries(labels, label_ids)
    if not geoms:
        return Crops.concatenate([], params)
    sp = np.array([float(s) for s in spacing], dtype=np.float64)
    centroid = np.array([g.centroid for g in geoms])  # (N, 3)
    first = np.array([g.bbox_first for g in geoms], dtype=np.float64)
    last = np.array([g.bbox_last for g in geoms], dtype=np.float64)
    offsets = np.arange(-params.context_slices, params.context_slices + 1)
    slices = np.rint(centroid[:, 0:1]) + offsets[None, :]  # (N, k)
    ids = np.array([int(i) for i in label_ids])

    # size-independent: bounding box + margin, square in mm, centred on the box centre
    extent_mm = (last[:, 1:] - first[:, 1:] + 1.0) * sp[1:]
    width_box = extent_mm.max(axis=1) + 2.0 * params.margin_mm
    rows_b, cols_b = _sampling_grid(
        (first[:, 1:] + last[:, 1:]) / 2.0, width_box, sp[1:], params.grid
    )
    # size-aware: fixed field of view around the centroid
    width_fov = np.full(len(geoms), params.fov_mm)
    rows_f, cols_f = _sampling_grid(centroid[:, 1:], width_fov, sp[1:], params.grid)

    return Crops(
        size_independent=_sample(volume, labels, ids, slices, rows_b, cols_b, params),
        size_aware=_sample(volume, labels, ids, slices, rows_f, cols_f, params),
    )


def extract_node_crops(
    volume: np.ndarray,
    spacing: Sequence[float],
    mask: np.ndarray,
    params: CropParams | None = None,
) -> Crops:
    """Crops of one node given as a boolean mask (a batch of one)."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise CropError(f"mask must be boolean, got {mask.dtype}")
    if not mask.any():
        raise CropError("node mask is empty")
    return extract_crops(volume, spacing, mask.astype(np.uint8), [1], params)
