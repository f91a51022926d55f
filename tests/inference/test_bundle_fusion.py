from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from inference import fusion as fusion_module
from inference.bundle import (
    BundleError,
    DeepModel,
    FusionModel,
    RadiomicsModel,
    bundle_sha256,
    load_model,
    save_deep,
    save_fusion,
    save_radiomics,
)
from inference.crops import CropParams
from inference.dataset import NodeSpec, PatientCase, build_node_set
from inference.network import NetworkParams
from inference.radiomics import RadiomicsCvResult, RadiomicsParams, train_radiomics_cv
from inference.training import DeepCvResult, TrainError, TrainParams, train_deep_cv

from .phantoms import easy_cohort

CROPS = CropParams(grid=16, fov_mm=40.0, margin_mm=2.0)
NET = NetworkParams(in_channels=4, width=4, depth=2, hidden=8, dropout=0.0)
TRAIN = TrainParams(max_epochs=2, batch_size=8)
GRID = {"select__k": [4], "classify__C": [1.0]}


@pytest.fixture(scope="module")
def nodes():
    cases = [
        PatientCase(
            pid,
            vol,
            sp,
            lab,
            [NodeSpec(f"N{k}", k, ("benign", "metastasis", "ene")[c]) for k, c in spec],
        )
        for pid, vol, sp, lab, spec in easy_cohort(6, seed=5)
    ]
    return build_node_set(cases, crop_params=CROPS)


def _deep(nodes, seed=3) -> DeepCvResult:
    return train_deep_cv(
        nodes.crops,
        nodes.labels,
        nodes.patients,
        n_folds=2,
        seed=seed,
        net_params=NET,
        train_params=TRAIN,
        device=torch.device("cpu"),
    )


def test_deep_bundle_round_trip_and_identical_weights(nodes, tmp_path):
    a = save_deep(
        tmp_path / "a", _deep(nodes), nodes, crop_params=CROPS, train_params=TRAIN, seed=3
    )
    b = save_deep(
        tmp_path / "b", _deep(nodes), nodes, crop_params=CROPS, train_params=TRAIN, seed=3
    )
    cfg_a = json.loads((a / "model.json").read_text())
    cfg_b = json.loads((b / "model.json").read_text())
    assert cfg_a["files"] == cfg_b["files"]  # same seed + data on CPU: byte-identical weights
    assert cfg_a["training"]["data_sha256"] == nodes.fingerprint()
    assert cfg_a["classes"] == ["benign", "metastasis", "ene"] and cfg_a["seed"] == 3
    assert {"torch", "numpy", "scikit-learn"} <= set(cfg_a["versions"])
    model = load_model(a)
    assert isinstance(model, DeepModel) and model.crop_params == CROPS
    p = model.predict_proba(nodes)
    assert p.shape == (len(nodes), 3) and np.allclose(p.sum(axis=1), 1.0)
    with pytest.raises(BundleError, match="not empty"):
        save_deep(a, _deep(nodes), nodes, crop_params=CROPS, train_params=TRAIN, seed=3)


def test_a_changed_file_is_refused_with_its_name(nodes, tmp_path):
    out = save_deep(
        tmp_path / "m", _deep(nodes), nodes, crop_params=CROPS, train_params=TRAIN, seed=3
    )
    weights = out / "fold_1.pt"
    data = bytearray(weights.read_bytes())
    data[-20] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"fold_1\.pt: sha256 .* does not match"):
        load_model(out)
    weights.unlink()
    with pytest.raises(BundleError, match=r"fold_1\.pt: listed in model.json but missing"):
        load_model(out)


def test_an_edited_configuration_is_refused_against_the_recorded_identity(nodes, tmp_path):
    out = save_deep(
        tmp_path / "m", _deep(nodes), nodes, crop_params=CROPS, train_params=TRAIN, seed=3
    )
    identity = bundle_sha256(out)
    assert isinstance(load_model(out, expected_sha256=identity), DeepModel)
    cfg = json.loads((out / "model.json").read_text())
    cfg["crop"]["fov_mm"] = 60.0  # weights intact, crops would silently differ
    (out / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match=r"model\.json: sha256 .* is not the expected"):
        load_model(out, expected_sha256=identity)


def test_radiomics_and_fusion_bundles(nodes, tmp_path):
    deep = _deep(nodes)
    rad = train_radiomics_cv(
        nodes.features, nodes.labels, nodes.patients, seed=3, folds=deep.folds, grid=GRID
    )
    fused = fusion_module.train_fusion(deep, rad, nodes.patients, seed=3, c_grid=(1.0,))
    d = save_deep(tmp_path / "d", deep, nodes, crop_params=CROPS, train_params=TRAIN, seed=3)
    r = save_radiomics(tmp_path / "r", rad, nodes, radiomics_params=RadiomicsParams(), seed=3)
    f = save_fusion(tmp_path / "f", fused, nodes, deep_dir=d, radiomics_dir=r, seed=3)
    assert isinstance(load_model(r), RadiomicsModel)
    model = load_model(f)
    assert isinstance(model, FusionModel)
    p = model.predict_proba(nodes)
    assert p.shape == (len(nodes), 3) and np.allclose(p.sum(axis=1), 1.0)
    # the stacker comes back as fitted: method, weight and pooling, hence the same output
    assert (model.stacker.method, model.stacker.deep_weight, model.stacker.pooling) == (
        "weighted",
        fused.stacker.deep_weight,
        "log",
    )
    expected = fused.stacker.predict_proba(
        deep.ensemble.predict_proba(nodes.crops), rad.predict_proba(nodes.features)
    )
    assert np.allclose(p, expected)
    cfg = json.loads((f / "model.json").read_text())
    assert cfg["stacker"]["method"] == "weighted"
    assert cfg["stacker"]["deep_weight"] == fused.stacker.deep_weight
    # a tampered sub-bundle file is refused by the fusion bundle's own checksums
    (f / "radiomics" / "pipeline.pkl").write_bytes(b"not a pipeline")
    with pytest.raises(BundleError, match=r"radiomics/pipeline\.pkl: sha256"):
        load_model(f)


def test_a_fusion_bundle_written_before_pooling_existed_loads_with_linear_pooling(nodes, tmp_path):
    """An old bundle: same layout, its stacker.pkl pickled by the former Stacker (attributes
    ``model`` and ``deep_weight`` only), its sha256 in model.json."""
    from .test_fusion_rule import OLD_WEIGHTED_PICKLE

    deep = _deep(nodes)
    rad = train_radiomics_cv(
        nodes.features, nodes.labels, nodes.patients, seed=3, folds=deep.folds, grid=GRID
    )
    fused = fusion_module.train_fusion(deep, rad, nodes.patients, seed=3)
    d = save_deep(tmp_path / "d", deep, nodes, crop_params=CROPS, train_params=TRAIN, seed=3)
    r = save_radiomics(tmp_path / "r", rad, nodes, radiomics_params=RadiomicsParams(), seed=3)
    f = save_fusion(tmp_path / "f", fused, nodes, deep_dir=d, radiomics_dir=r, seed=3)
    (f / "stacker.pkl").write_bytes(OLD_WEIGHTED_PICKLE)
    cfg = json.loads((f / "model.json").read_text())
    cfg["files"]["stacker.pkl"] = hashlib.sha256(OLD_WEIGHTED_PICKLE).hexdigest()
    cfg["stacker"] = {"method": "weighted", "deep_weight": 0.25}
    (f / "model.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    model = load_model(f)
    assert isinstance(model, FusionModel)
    assert (model.stacker.deep_weight, model.stacker.pooling) == (0.25, "linear")
    # the former rule: linear pool of the probabilities clipped at 1e-4, renormalised
    p_deep = np.clip(deep.ensemble.predict_proba(nodes.crops), 1e-4, 1.0)
    p_rad = np.clip(rad.predict_proba(nodes.features), 1e-4, 1.0)
    mixed = 0.25 * p_deep + 0.75 * p_rad
    assert np.allclose(model.predict_proba(nodes), mixed / mixed.sum(axis=1, keepdims=True))


def _fake_results(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    patients = np.array([f"P{i // 2}" for i in range(n)])
    folds = (np.arange(n) // 2) % 4
    noise = rng.dirichlet(np.ones(3), size=n)  # deep OOF: no signal
    informative = np.full((n, 3), 0.1)
    informative[np.arange(n), labels] = 0.8
    informative = 0.5 * informative + 0.5 * rng.dirichlet(np.ones(3), size=n)
    deep = DeepCvResult(None, folds, noise, labels, [], 0.0)  # type: ignore[arg-type]
    rad = RadiomicsCvResult(None, folds, informative, labels, 0.0)  # type: ignore[arg-type]
    return deep, rad, patients


def test_fusion_learns_from_out_of_fold_probabilities_only(monkeypatch):
    deep, rad, patients = _fake_results()
    seen = []
    real_fit = fusion_module._fit_stacker

    def spy(X, y, groups, *args):
        seen.append(X.copy())
        return real_fit(X, y, groups, *args)

    monkeypatch.setattr(fusion_module, "_fit_stacker", spy)
    result = fusion_module.train_fusion(deep, rad, patients, seed=0, c_grid=(1.0,))
    oof_inputs = fusion_module.stack_inputs(deep.oof, rad.oof)
    # every stacker (4 folds + the final one) was fitted on rows of the OOF inputs only
    assert len(seen) == 5
    for X in seen[:-1]:
        assert all(any(np.array_equal(row, r) for r in oof_inputs) for row in X[:5])
    assert np.array_equal(seen[-1], oof_inputs)
    # and its own estimate is out of fold and follows the informative input
    assert result.metrics["auc_ene"] > 0.9
    assert result.stacker.method == "weighted" and result.stacker.deep_weight == 0.0
    with pytest.raises(TrainError, match="different folds"):
        fusion_module.train_fusion(
            deep,
            RadiomicsCvResult(None, (deep.folds + 1) % 4, rad.oof, rad.labels, 0.0),
            patients,  # type: ignore[arg-type]
        )


def test_logistic_stacker_and_unknown_method():
    deep, rad, patients = _fake_results(seed=1)
    result = fusion_module.train_fusion(
        deep, rad, patients, seed=0, method="logistic", c_grid=(1.0,)
    )
    assert result.stacker.method == "logistic"
    assert result.metrics["auc_ene"] > 0.9
    with pytest.raises(TrainError, match="unknown fusion method 'mean'"):
        fusion_module.train_fusion(deep, rad, patients, method="mean")
