from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.crops import CropParams, Crops, extract_crops
from inference.network import NetworkParams, TwoStreamNet
from inference.training import (
    TrainError,
    TrainParams,
    class_weights,
    patient_folds,
    train_deep_cv,
    train_network,
)

from .phantoms import easy_cohort

TINY_NET = NetworkParams(in_channels=4, width=4, depth=2, hidden=16, dropout=0.0)
CROPS = CropParams(grid=16, fov_mm=40.0, margin_mm=2.0)


def _node_set(n_patients: int, seed: int):
    parts, labels, patients = [], [], []
    for pid, vol, spacing, lab, nodes in easy_cohort(n_patients, seed):
        parts.append(extract_crops(vol, spacing, lab, [k for k, _ in nodes], CROPS))
        labels += [c for _, c in nodes]
        patients += [pid] * len(nodes)
    return Crops.concatenate(parts, CROPS), np.array(labels), np.array(patients)


def test_network_output_shape():
    net = TwoStreamNet(TINY_NET).eval()
    x = torch.zeros(5, 4, 16, 16)
    assert net(x, x).shape == (5, 3)


def test_no_patient_in_two_folds_and_every_fold_used():
    rng = np.random.default_rng(0)
    patients = np.repeat([f"P{i}" for i in range(23)], rng.integers(1, 6, size=23))
    labels = rng.integers(0, 3, size=len(patients))
    folds = patient_folds(patients, labels, 5, seed=3)
    for p in np.unique(patients):
        assert len(set(folds[patients == p])) == 1
    assert set(folds) == set(range(5))
    assert np.array_equal(folds, patient_folds(patients, labels, 5, seed=3))
    with pytest.raises(TrainError, match="3 patients cannot fill 5"):
        patient_folds(["a", "b", "c"], np.array([0, 1, 2]), 5, seed=0)


def test_class_weights_favour_the_rare_class():
    w = class_weights(np.array([0] * 8 + [1] * 3 + [2]))
    assert w[2] > w[1] > w[0]
    assert np.isclose(w.mean(), 1.0)


def test_same_seed_same_weights_on_cpu():
    crops, labels, patients = _node_set(6, seed=1)
    params = TrainParams(max_epochs=2, batch_size=8)
    idx = np.arange(len(labels))
    runs = [
        train_network(
            crops,
            labels,
            idx[:12],
            idx[12:],
            net_params=TINY_NET,
            train_params=params,
            seed=7,
            device=torch.device("cpu"),
        )[0].state_dict()
        for _ in range(2)
    ]
    other = train_network(
        crops,
        labels,
        idx[:12],
        idx[12:],
        net_params=TINY_NET,
        train_params=params,
        seed=8,
        device=torch.device("cpu"),
    )[0].state_dict()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], other[k]) for k in runs[0] if k.endswith("weight"))


def test_tiny_model_beats_chance_on_held_out_patients():
    """Easy phantoms (see phantoms.easy_cohort): out-of-fold ENE-vs-rest and metastasis-vs-
    benign AUCs must both exceed 0.75 (chance is 0.5)."""
    crops, labels, patients = _node_set(20, seed=2)
    result = train_deep_cv(
        crops,
        labels,
        patients,
        n_folds=3,
        seed=0,
        net_params=TINY_NET,
        train_params=TrainParams(max_epochs=15, patience=4, batch_size=16, lr=5e-3),
        device=torch.device("cpu"),
    )
    m = result.metrics
    assert result.oof.shape == (60, 3) and np.allclose(result.oof.sum(axis=1), 1.0)
    assert m["auc_ene"] > 0.75 and m["auc_metastasis"] > 0.75, m
    assert len(result.ensemble.nets) == 3
