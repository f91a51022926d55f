from __future__ import annotations

import numpy as np
import pytest

from inference.crops import (
    AIR_HU,
    CropError,
    CropParams,
    extract_crops,
    extract_node_crops,
    window_hu,
)

from .phantoms import ellipsoid

SHAPE = (9, 60, 50)
ANISO = (3.0, 0.5, 1.0)  # rows twice as fine as columns


def _mask_centroid(image: np.ndarray) -> np.ndarray:
    return np.array(np.nonzero(image > 0.5)).mean(axis=1)


def test_shapes_and_channels():
    params = CropParams(grid=24, context_slices=2)
    vol = np.zeros(SHAPE, np.float32)
    labels = np.zeros(SHAPE, np.int16)
    labels |= ellipsoid(SHAPE, ANISO, (12.0, 12.0, 15.0), (4, 4, 4)).astype(np.int16)
    labels[ellipsoid(SHAPE, ANISO, (12.0, 20.0, 35.0), (4, 4, 4))] = 2
    crops = extract_crops(vol, ANISO, labels, [1, 2], params)
    assert crops.size_independent.shape == (2, 6, 24, 24)
    assert crops.size_aware.shape == (2, 6, 24, 24)
    assert crops.size_aware.dtype == np.float32
    # the mask channel holds only its own node
    assert crops.size_aware[0, -1].sum() > 0 and crops.size_aware[1, -1].sum() > 0
    assert len(crops.subset([1])) == 1


def test_centroid_lands_at_crop_centre_under_anisotropic_spacing():
    params = CropParams(grid=32, fov_mm=40.0)
    centre = (12.0, 13.3, 21.7)  # off the voxel grid
    mask = ellipsoid(SHAPE, ANISO, centre, (5.0, 6.0, 6.0))
    crops = extract_node_crops(np.zeros(SHAPE, np.float32), ANISO, mask, params)
    mid = (params.grid - 1) / 2
    for stream in (crops.size_aware, crops.size_independent):
        cy, cx = _mask_centroid(stream[0, -1])
        assert abs(cy - mid) <= 0.6 and abs(cx - mid) <= 0.6


def test_size_aware_field_of_view_is_in_millimetres():
    params = CropParams(grid=32, fov_mm=40.0)
    mask = np.zeros(SHAPE, bool)
    # a 10 mm x 10 mm square: 20 rows (0.5 mm) x 10 columns (1 mm), 3 slices
    mask[3:6, 20:40, 20:30] = True
    crops = extract_node_crops(np.zeros(SHAPE, np.float32), ANISO, mask, params)
    m = crops.size_aware[0, -1] > 0.5
    expected_px = 10.0 / 40.0 * 32  # = 8 pixels on both axes despite the 2:1 voxel shape
    rows_hit = np.flatnonzero(m.any(axis=1))
    cols_hit = np.flatnonzero(m.any(axis=0))
    assert abs(len(rows_hit) - expected_px) <= 1
    assert abs(len(cols_hit) - expected_px) <= 1


def test_size_independent_box_fills_the_grid_with_the_margin():
    params = CropParams(grid=32, margin_mm=5.0)
    for side_mm in (6.0, 20.0):
        mask = np.zeros(SHAPE, bool)
        rows, cols = int(side_mm / ANISO[1]), int(side_mm / ANISO[2])
        mask[4, 10 : 10 + rows, 10 : 10 + cols] = True
        crops = extract_node_crops(np.zeros(SHAPE, np.float32), ANISO, mask, params)
        m = crops.size_independent[0, -1] > 0.5
        expected_px = side_mm / (side_mm + 10.0) * 32
        assert abs(m.any(axis=1).sum() - expected_px) <= 1
        assert abs(m.any(axis=0).sum() - expected_px) <= 1


def test_window_scaling():
    assert window_hu(np.array([-1000.0, -125.0, 50.0, 225.0, 900.0]), -125, 225).tolist() == [
        0.0,
        0.0,
        0.5,
        1.0,
        1.0,
    ]


def test_node_at_the_volume_border_is_padded_with_air():
    params = CropParams(grid=16, fov_mm=30.0, context_slices=1)
    vol = np.full(SHAPE, 50.0, np.float32)  # soft tissue everywhere -> 0.5 in the window
    mask = np.zeros(SHAPE, bool)
    mask[0, 0:4, 0:3] = True  # corner node on the first slice
    crops = extract_node_crops(vol, ANISO, mask, params)
    ct = crops.size_aware[0, :3]
    assert np.all(ct[0] == 0.0)  # slice -1 does not exist: air
    assert np.isclose(ct[1].max(), 0.5)  # inside the volume: tissue
    assert ct[1, 0, 0] == 0.0  # upper-left corner lies outside: air
    assert AIR_HU < -125


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(CropError, match="empty"):
        extract_node_crops(np.zeros(SHAPE), ANISO, np.zeros(SHAPE, bool))
    with pytest.raises(CropError, match="shape"):
        extract_node_crops(np.zeros(SHAPE), ANISO, np.ones((2, 2, 2), bool))
    with pytest.raises(CropError, match="spacing"):
        extract_node_crops(np.zeros(SHAPE), (0.0, 1.0, 1.0), np.ones(SHAPE, bool))
    with pytest.raises(CropError, match="label 3"):
        extract_crops(np.zeros(SHAPE), ANISO, np.ones(SHAPE, np.int16), [3])
