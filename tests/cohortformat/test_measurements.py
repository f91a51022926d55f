"""Node diameters against masks whose answer is known: digitised ellipses and rectangles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cohortformat.measurements import axial_diameters, measure_node, node_diameters


def _ellipse(
    a: float, b: float, theta_deg: float, spacing: tuple[float, float], shift=(0.0, 0.0)
) -> np.ndarray:
    """Pixels (centres) inside an ellipse with semi-axes a, b (mm), rotated by theta."""
    half = max(a, b) + 3.0
    rows = np.arange(-half, half, spacing[0]) + shift[0]
    cols = np.arange(-half, half, spacing[1]) + shift[1]
    y, x = np.meshgrid(rows, cols, indexing="ij")
    t = math.radians(theta_deg)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


@pytest.mark.parametrize(
    ("a", "b", "theta", "spacing"),
    [
        (10.0, 5.0, 0.0, (0.1, 0.1)),  # axis-aligned, fine isotropic pixels
        (10.0, 5.0, 30.0, (0.1, 0.1)),  # rotated
        (10.0, 5.0, 45.0, (0.1, 0.1)),
        (10.0, 5.0, 90.0, (0.2, 0.1)),  # long axis along the rows, anisotropic pixels
        (10.0, 5.0, 30.0, (0.05, 0.12)),  # rotated and anisotropic
        (6.0, 3.0, 17.0, (0.7, 0.7)),  # a node at CT resolution
        (11.0, 11.0, 0.0, (0.1, 0.1)),  # a circle
    ],
)
def test_ellipse_diameters_within_one_pixel(a, b, theta, spacing) -> None:
    """Long ~ 2a and short ~ 2b. Pixels count with their whole square, so the outline can lie up
    to half a pixel diagonal outside the ellipse on each side, and digitisation can lose as
    much: one pixel diagonal in all is the exact bound."""
    mask = _ellipse(a, b, theta, spacing)[None]
    d = node_diameters(mask, spacing)
    pixel = math.hypot(*spacing)
    assert abs(d.long_axis_mm - 2 * a) <= pixel, d
    assert abs(d.short_axis_mm - 2 * b) <= pixel, d
    assert d.short_axis_mm <= d.long_axis_mm and d.short_axis_slice == 0


def test_rectangle_long_axis_is_the_diagonal() -> None:
    """A w x h rectangle: the largest diameter is the diagonal, the extent perpendicular to it
    2wh / diagonal (the definition is the longest diameter, then its perpendicular extent)."""
    rows, cols, spacing = 40, 100, (0.3, 0.1)
    h, w = rows * spacing[0], cols * spacing[1]
    long_axis, short_axis = axial_diameters(
        *np.nonzero(np.ones((rows, cols), bool)), spacing=spacing
    )
    diagonal = math.hypot(h, w)
    assert long_axis == pytest.approx(diagonal, abs=1e-9)
    assert short_axis == pytest.approx(2 * h * w / diagonal, abs=1e-9)


def test_single_pixel_counts_its_whole_extent() -> None:
    long_axis, short_axis = axial_diameters(np.array([3]), np.array([4]), (0.5, 0.8))
    assert long_axis == pytest.approx(math.hypot(0.5, 0.8))
    assert short_axis == pytest.approx(2 * 0.5 * 0.8 / math.hypot(0.5, 0.8))


def test_node_takes_the_largest_slice_values() -> None:
    """Long and short axes are the largest over the slices; the slice of the short axis is
    reported (here the short axis and the long axis come from different slices)."""
    spacing = (0.2, 0.2)
    long_thin = _ellipse(12.0, 3.0, 0.0, spacing)
    round_ = _ellipse(5.0, 5.0, 0.0, spacing)
    mask = np.zeros((4, *long_thin.shape), bool)
    mask[1] = long_thin
    r0 = (long_thin.shape[0] - round_.shape[0]) // 2
    c0 = (long_thin.shape[1] - round_.shape[1]) // 2
    mask[2, r0 : r0 + round_.shape[0], c0 : c0 + round_.shape[1]] = round_
    d = node_diameters(mask, spacing)
    pixel = math.hypot(*spacing)
    assert abs(d.long_axis_mm - 24.0) <= pixel
    assert abs(d.short_axis_mm - 10.0) <= pixel and d.short_axis_slice == 2


def test_measure_node_voxels_box_volume() -> None:
    mask = np.zeros((5, 30, 30), bool)
    mask[1:4, 10:20, 5:25] = True  # 3 slices of 10 x 20 voxels
    m = measure_node(mask, voxel_size_zyx=(3.0, 0.5, 0.5))
    assert m.voxel_count == 600 and m.bbox == (1, 10, 5, 4, 20, 25)
    assert m.centroid_voxel == pytest.approx((2.0, 14.5, 14.5))
    assert m.volume_mm3 == pytest.approx(600 * 0.75)
    assert m.long_axis_mm == pytest.approx(math.hypot(5.0, 10.0), abs=1e-3)
    assert m.short_axis_mm == pytest.approx(2 * 5.0 * 10.0 / math.hypot(5.0, 10.0), abs=1e-3)


def test_translation_does_not_change_diameters() -> None:
    spacing = (0.7, 0.75)
    a = _ellipse(8.0, 4.0, 25.0, spacing)[None]
    b = np.zeros((3, a.shape[1] + 17, a.shape[2] + 9), bool)
    b[2, 17:, 9:] = a[0]
    da, db = node_diameters(a, spacing), node_diameters(b, spacing)
    assert (da.long_axis_mm, da.short_axis_mm) == pytest.approx((db.long_axis_mm, db.short_axis_mm))


def test_empty_mask_is_refused() -> None:
    with pytest.raises(ValueError, match="empty mask"):
        node_diameters(np.zeros((2, 4, 4), bool), (1.0, 1.0))
    with pytest.raises(ValueError, match="empty mask"):
        measure_node(np.zeros((2, 4, 4), bool), voxel_size_zyx=(1.0, 1.0, 1.0))


def test_diameters_do_not_depend_on_position_or_pixel_order() -> None:
    """Small pixel blobs often have several equally long diameters; the short axis must not
    depend on which of them floating-point rounding or the pixel order happens to pick."""
    rng = np.random.default_rng(7)
    spacing = (0.74, 0.74)
    for _ in range(60):
        blob = np.zeros((12, 12), bool)
        blob[3:9, 3:9] = rng.random((6, 6)) < 0.7
        rows, cols = np.nonzero(blob)
        if rows.size < 3:
            continue
        reference = axial_diameters(rows, cols, spacing)
        order = rng.permutation(rows.size)
        assert axial_diameters(rows + 161, cols + 59, spacing) == pytest.approx(reference)
        assert axial_diameters(rows[order], cols[order], spacing) == pytest.approx(reference)
