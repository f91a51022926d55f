"""Radiomics features against values computed by hand on tiny phantoms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.radiomics import (
    FEATURE_NAMES,
    RadiomicsParams,
    discretise,
    glcm_features,
    glrlm_features,
    glszm_features,
    intensity_features,
    morphology_features,
    node_features,
    train_radiomics_cv,
)

PARAMS = RadiomicsParams(low=-125.0, high=225.0, bin_width=25.0)


def _hu_of_level(level: int) -> float:
    """A HU value inside bin ``level`` (bins of 25 HU starting at -125)."""
    return -125.0 + 25.0 * (level - 1) + 10.0


# one slice, grey levels [[1, 1, 2], [3, 3, 3]], all six voxels in the ROI
GREY = np.array([[[1, 1, 2], [3, 3, 3]]])


def test_discretisation_uses_fixed_bins_and_clips():
    hu = np.vectorize(_hu_of_level)(GREY).astype(float)
    assert np.array_equal(discretise(hu, np.ones_like(GREY, bool), PARAMS), GREY)
    edge = discretise(np.array([-2000.0, -125.0, -100.0, 224.9, 5000.0]), np.ones(5, bool), PARAMS)
    assert edge.tolist() == [1, 1, 2, 14, 14]


def test_glcm_by_hand():
    # 2.5D merged, distance 1, 4 directions. Unordered neighbour pairs:
    #   horizontal (1,1) (1,2) (3,3) (3,3); vertical (1,3) (1,3) (2,3);
    #   diagonal (1,3) (1,3); anti-diagonal (1,3) (2,3)  -> 11 pairs
    f = glcm_features(GREY, 14)
    assert math.isclose(f["cm_contrast"], (1 + 4 + 4 + 1 + 4 + 4 + 4 + 1) / 11)
    assert math.isclose(f["cm_dissimilarity"], (1 + 2 + 2 + 1 + 2 + 2 + 2 + 1) / 11)
    # symmetric matrix: 22 entries; (1,3)+(3,1) = 10, (3,3) = 4 -> joint max = 5/22
    assert math.isclose(f["cm_joint_max"], 5 / 22)
    # joint average = mean of all 22 grey values taken as i: (1*? ...) computed from the counts
    firsts = [1, 1, 1, 2, 3, 3, 3, 3] + [1, 3, 1, 3, 2, 3] + [1, 3, 1, 3] + [1, 3, 2, 3]
    assert math.isclose(f["cm_joint_avg"], sum(firsts) / 22)


def test_glrlm_by_hand():
    # runs: horizontal (1:2) (2:1) (3:3); the 3 other directions: 6 runs of length 1 each
    f = glrlm_features(GREY, 14)
    n_runs = 3 + 18
    assert math.isclose(f["rlm_sre"], (1 / 4 + 1 + 1 / 9 + 18) / n_runs)
    assert math.isclose(f["rlm_lre"], (4 + 1 + 9 + 18) / n_runs)
    assert math.isclose(f["rlm_r_perc"], n_runs / (6 * 4))


def test_glszm_by_hand():
    # zones: level 1 size 2, level 2 size 1, level 3 size 3
    f = glszm_features(GREY, 14)
    assert math.isclose(f["szm_sze"], (1 / 4 + 1 + 1 / 9) / 3)
    assert math.isclose(f["szm_lze"], (4 + 1 + 9) / 3)
    assert math.isclose(f["szm_z_perc"], 3 / 6)
    assert math.isclose(f["szm_glnu"], 3 / 3)  # one zone per level


def test_intensity_by_hand():
    f = intensity_features(np.array([10.0, 20.0, 30.0, 40.0]))
    assert f["stat_mean"] == 25.0
    assert f["stat_var"] == 125.0  # IBSI: divided by N
    assert f["stat_range"] == 30.0
    assert f["stat_mad"] == 10.0
    assert math.isclose(f["stat_rms"], math.sqrt((100 + 400 + 900 + 1600) / 4))


def test_morphology_by_hand():
    # a 4 x 6 x 10 voxel box with spacing (2, 1, 0.5) mm: 8 x 6 x 5 mm
    m = np.ones((4, 6, 10), bool)
    f = morphology_features(m, (2.0, 1.0, 0.5))
    assert math.isclose(f["morph_vol_approx"], 4 * 6 * 10 * 2 * 1 * 0.5)
    # PCA of voxel centres: variance of n equally spaced centres = (n^2 - 1) / 12 * s^2
    var = sorted([(16 - 1) / 12 * 4, (36 - 1) / 12 * 1, (100 - 1) / 12 * 0.25], reverse=True)
    assert math.isclose(f["morph_pca_maj_axis"], 4 * math.sqrt(var[0]))
    assert math.isclose(f["morph_pca_least_axis"], 4 * math.sqrt(var[2]))
    # the 0.5-level mesh runs through the face voxels' centres and their outer neighbours'
    # midpoints: a box of 8 x 6 x 5 mm with bevelled edges, so a little less than 240 mm^3
    assert 0.8 * 240 < f["morph_volume"] < 240
    assert 0.0 < f["morph_sphericity"] < 1.0


def test_sphere_is_nearly_spherical():
    z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    ball = x**2 + y**2 + z**2 <= 10**2
    f = morphology_features(ball, (1.0, 1.0, 1.0))
    assert f["morph_sphericity"] > 0.9
    assert math.isclose(f["morph_volume"], 4 / 3 * math.pi * 1000, rel_tol=0.05)
    assert math.isclose(f["morph_diam"], 20.0, rel_tol=0.06)


def test_node_features_are_complete_and_named():
    vol = np.full((5, 12, 12), 40.0)
    m = np.zeros(vol.shape, bool)
    m[1:4, 3:9, 3:9] = True
    f = node_features(vol, (3.0, 0.7, 0.7), m)
    assert tuple(f) == FEATURE_NAMES
    assert all(np.isfinite(v) for v in f.values())
    with pytest.raises(ValueError, match="empty"):
        node_features(vol, (3.0, 0.7, 0.7), np.zeros_like(m))


def test_radiomics_classifier_learns_an_easy_signal():
    rng = np.random.default_rng(0)
    n = 90
    labels = np.arange(n) % 3
    patients = np.array([f"P{i // 3}" for i in range(n)])
    X = rng.normal(size=(n, 8))
    X[:, 0] += 2.0 * labels  # one informative feature
    # a one-point grid keeps the test fast; the inner search itself runs all the same
    grid = {"select__k": [2], "classify__C": [1.0]}
    res = train_radiomics_cv(X, labels, patients, n_folds=3, seed=0, grid=grid)
    assert res.oof.shape == (n, 3)
    assert res.metrics["auc_ene"] > 0.8 and res.metrics["auc_metastasis"] > 0.8


def test_correlation_filter_drops_a_redundant_feature_even_with_two_columns():
    from inference.radiomics import CorrelationFilter

    x = np.arange(20, dtype=float)
    two = np.column_stack([x, x**3])  # Spearman rho = 1
    assert CorrelationFilter(0.9).fit(two).transform(two).shape == (20, 1)
    rng = np.random.default_rng(0)
    three = np.column_stack([x, rng.normal(size=20), x**3])
    assert CorrelationFilter(0.9).fit(three).transform(three).shape == (20, 2)


def test_single_voxel_and_single_slice_nodes_have_features():
    vol = np.full((3, 6, 6), 30.0)
    one = np.zeros(vol.shape, bool)
    one[1, 2, 2] = True
    flat = np.zeros(vol.shape, bool)
    flat[1, 1:5, 1:4] = True
    for m in (one, flat):
        f = node_features(vol, (3.0, 0.7, 0.7), m)
        assert tuple(f) == FEATURE_NAMES and np.isfinite(f["morph_volume"])
