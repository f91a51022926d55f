"""A trained model as a folder, and loading it back with every file's sha256 verified.

::

    DIR/model.json        format, kind, classes, crop / network / training / radiomics params,
                          seed, folds, training data fingerprint, cohort, code and library
                          versions, OOF metrics, and "files": {name: sha256}
    DIR/fold_<k>.pt       (deep) state dict of fold model k; the final model averages them
    DIR/pipeline.pkl      (radiomics) the fitted scikit-learn pipeline
    DIR/stacker.pkl       (fusion) the stacker, with DIR/deep/ and DIR/radiomics/ sub-bundles
    DIR/oof.csv           out-of-fold probabilities of the training nodes (internal evaluation)

:func:`load_model` refuses a bundle whose listed file is missing or whose sha256 differs
(:class:`BundleError` naming the file) before anything is deserialised; pickles and weights are
only read after their checksum matched. Bundles are trusted artefacts: load only bundles your
own training wrote (pickle can run code).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classes import CLASSES
from .crops import CropParams
from .dataset import NodeSet
from .fusion import FusionCvResult, Stacker
from .network import NetworkParams, TwoStreamNet
from .radiomics import FEATURE_NAMES, RadiomicsCvResult, RadiomicsParams, _proba
from .training import DeepCvResult, DeepEnsemble, TrainParams

__all__ = [
    "FORMAT",
    "BundleError",
    "DeepModel",
    "FusionModel",
    "Model",
    "bundle_sha256",
    "RadiomicsModel",
    "code_sha256",
    "library_versions",
    "load_model",
    "read_bundle",
    "save_deep",
    "save_fusion",
    "save_radiomics",
    "write_bundle",
]

FORMAT = "readerstudy-inference-bundle/1"
CONFIG = "model.json"


class BundleError(ValueError):
    """A model folder that must not be used; the message names the file."""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_sha256() -> str:
    """sha256 over this package's source files (name and content, sorted by name)."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    libs = ("torch", "numpy", "scipy", "scikit-learn", "scikit-image", "pydicom")
    return {"python": platform.python_version(), **{lib: version(lib) for lib in libs}}


def write_bundle(out: str | Path, config: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write ``files`` and ``model.json`` (with their sha256) into a new or empty folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out}: exists and is not empty (a model version is never overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, data in sorted(files.items()):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        checksums[name] = _sha256_bytes(data)
    full = {
        "format": FORMAT,
        "classes": list(CLASSES),
        **config,
        "code_sha256": code_sha256(),
        "versions": library_versions(),
        "files": checksums,
    }
    (out / CONFIG).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def bundle_sha256(path: str | Path) -> str:
    """The bundle's identity: sha256 of its ``model.json``, which records every other file's
    sha256 (so it covers the whole folder). A registry stores it and passes it back to
    :func:`load_model` (``expected_sha256``) to refuse an edited configuration too."""
    cfg_path = Path(path) / CONFIG
    if not cfg_path.is_file():
        raise BundleError(f"{cfg_path}: missing (not a model folder)")
    return _sha256_bytes(cfg_path.read_bytes())


def read_bundle(
    path: str | Path, expected_sha256: str | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``model.json`` and the verified bytes of every file it lists."""
    path = Path(path)
    cfg_path = path / CONFIG
    found_id = bundle_sha256(path)
    if expected_sha256 is not None and found_id != expected_sha256:
        raise BundleError(
            f"{cfg_path}: sha256 {found_id} is not the expected {expected_sha256}; "
            "the model configuration was changed, refusing to load this model"
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if config.get("format") != FORMAT:
        raise BundleError(f"{cfg_path}: format {config.get('format')!r}, expected {FORMAT!r}")
    if list(config.get("classes", [])) != list(CLASSES):
        raise BundleError(f"{cfg_path}: class order {config.get('classes')} != {list(CLASSES)}")
    data: dict[str, bytes] = {}
    for name, expected in config.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{file}: listed in {CONFIG} but missing")
        content = file.read_bytes()
        found = _sha256_bytes(content)
        if found != expected:
            raise BundleError(
                f"{file}: sha256 {found} does not match {expected} recorded in {CONFIG}; "
                "the file was changed or corrupted, refusing to load this model"
            )
        data[name] = content
    return config, data


def _oof_csv(nodes: NodeSet, oof: np.ndarray, folds: np.ndarray) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["patient_id", "node_id", "reference", "fold", *(f"p_{c}" for c in CLASSES)])
    for i in range(len(nodes)):
        ref = CLASSES[nodes.labels[i]] if nodes.labels[i] >= 0 else ""
        w.writerow(
            [
                nodes.patients[i],
                nodes.node_ids[i],
                ref,
                int(folds[i]),
                *(f"{p:.6f}" for p in oof[i]),
            ]
        )
    return buf.getvalue().encode()


def _state_bytes(net: TwoStreamNet) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buf)
    return buf.getvalue()


def _common(
    kind: str, nodes: NodeSet, seed: int, folds: np.ndarray, cohort: str | None, metrics: dict
) -> dict:
    return {
        "kind": kind,
        "seed": seed,
        "n_folds": int(folds.max()) + 1,
        "training": {
            "cohort": cohort,
            "nodes": len(nodes),
            "patients": len(np.unique(nodes.patients)),
            "class_counts": {c: int((nodes.labels == i).sum()) for i, c in enumerate(CLASSES)},
            "data_sha256": nodes.fingerprint(),
        },
        "oof_metrics": metrics,
    }


def save_deep(
    out: str | Path,
    result: DeepCvResult,
    nodes: NodeSet,
    *,
    crop_params: CropParams,
    train_params: TrainParams,
    seed: int,
    cohort: str | None = None,
) -> Path:
    net_params = result.ensemble.nets[0].params
    files = {f"fold_{k}.pt": _state_bytes(net) for k, net in enumerate(result.ensemble.nets)}
    files["oof.csv"] = _oof_csv(nodes, result.oof, result.folds)
    config = {
        **_common("deep", nodes, seed, result.folds, cohort, result.metrics),
        "crop": crop_params.to_dict(),
        "network": net_params.to_dict(),
        "train": train_params.to_dict(),
        "train_seconds": round(result.seconds, 3),
        "epochs": [h.epochs_run for h in result.histories],
        "best_epochs": [h.best_epoch for h in result.histories],
    }
    return write_bundle(out, config, files)


def save_radiomics(
    out: str | Path,
    result: RadiomicsCvResult,
    nodes: NodeSet,
    *,
    radiomics_params: RadiomicsParams,
    seed: int,
    cohort: str | None = None,
) -> Path:
    files = {
        "pipeline.pkl": pickle.dumps(result.model, protocol=5),
        "oof.csv": _oof_csv(nodes, result.oof, result.folds),
    }
    config = {
        **_common("radiomics", nodes, seed, result.folds, cohort, result.metrics),
        "radiomics": radiomics_params.to_dict(),
        "feature_names": list(FEATURE_NAMES),
        "best_params": {
            "select__k": result.model.get_params()["select__k"],
            "classify__C": result.model.get_params()["classify__C"],
        },
        "train_seconds": round(result.seconds, 3),
    }
    return write_bundle(out, config, files)


def save_fusion(
    out: str | Path,
    result: FusionCvResult,
    nodes: NodeSet,
    *,
    deep_dir: str | Path,
    radiomics_dir: str | Path,
    seed: int,
    cohort: str | None = None,
) -> Path:
    """Fusion bundle: the stacker plus copies of the two (already saved) input bundles."""
    files: dict[str, bytes] = {
        "stacker.pkl": pickle.dumps(result.stacker, protocol=5),
        "oof.csv": _oof_csv(nodes, result.oof, result.folds),
    }
    for prefix, src in (("deep", Path(deep_dir)), ("radiomics", Path(radiomics_dir))):
        read_bundle(src)  # copy only verified bundles
        for file in sorted(p for p in src.rglob("*") if p.is_file()):
            files[f"{prefix}/{file.relative_to(src).as_posix()}"] = file.read_bytes()
    config = {
        **_common("fusion", nodes, seed, result.folds, cohort, result.metrics),
        "inputs": ["deep", "radiomics"],
        "stacker": {
            "method": result.stacker.method,
            "deep_weight": result.stacker.deep_weight,
            "pooling": result.stacker.pooling,
        },
        "train_seconds": round(result.seconds, 3),
    }
    return write_bundle(out, config, files)


@dataclass
class DeepModel:
    config: dict[str, Any]
    ensemble: DeepEnsemble
    crop_params: CropParams
    needs_crops = True
    needs_features = False

    def predict_proba(self, nodes: NodeSet, batch_size: int = 64) -> np.ndarray:
        if nodes.crops is None:
            raise ValueError("the deep model needs crops")
        return self.ensemble.predict_proba(nodes.crops, batch_size)


@dataclass
class RadiomicsModel:
    config: dict[str, Any]
    pipeline: Any
    radiomics_params: RadiomicsParams
    needs_crops = False
    needs_features = True

    def predict_proba(self, nodes: NodeSet, batch_size: int = 64) -> np.ndarray:
        if nodes.features is None:
            raise ValueError("the radiomics model needs features")
        if tuple(nodes.feature_names) != tuple(self.config["feature_names"]):
            raise ValueError("feature names differ from the ones the model was trained on")
        return _proba(self.pipeline, nodes.features)


@dataclass
class FusionModel:
    config: dict[str, Any]
    deep: DeepModel
    radiomics: RadiomicsModel
    stacker: Stacker
    needs_crops = True
    needs_features = True

    @property
    def crop_params(self) -> CropParams:
        return self.deep.crop_params

    @property
    def radiomics_params(self) -> RadiomicsParams:
        return self.radiomics.radiomics_params

    def predict_proba(self, nodes: NodeSet, batch_size: int = 64) -> np.ndarray:
        return self.stacker.predict_proba(
            self.deep.predict_proba(nodes, batch_size), self.radiomics.predict_proba(nodes)
        )


Model = DeepModel | RadiomicsModel | FusionModel


def load_model(
    path: str | Path,
    device: torch.device | str | None = None,
    *,
    expected_sha256: str | None = None,
) -> Model:
    """Load a bundle (every listed file verified first; ``model.json`` too when
    ``expected_sha256``, see :func:`bundle_sha256`, is given); networks go to ``device``."""
    path = Path(path)
    config, data = read_bundle(path, expected_sha256)
    kind = config.get("kind")
    if kind == "deep":
        params = NetworkParams.from_dict(config["network"])
        nets = []
        for k in range(int(config["n_folds"])):
            name = f"fold_{k}.pt"
            if name not in data:
                raise BundleError(f"{path / name}: not listed in {CONFIG}")
            net = TwoStreamNet(params)
            state = torch.load(io.BytesIO(data[name]), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            nets.append(net.eval())
        ensemble = DeepEnsemble(nets)
        if device is not None:
            ensemble.to(torch.device(device))
        return DeepModel(config, ensemble, CropParams.from_dict(config["crop"]))
    if kind == "radiomics":
        if "pipeline.pkl" not in data:
            raise BundleError(f"{path / 'pipeline.pkl'}: not listed in {CONFIG}")
        pipeline = pickle.loads(data["pipeline.pkl"])
        return RadiomicsModel(config, pipeline, RadiomicsParams.from_dict(config["radiomics"]))
    if kind == "fusion":
        deep = load_model(path / "deep", device)
        radiomics = load_model(path / "radiomics", device)
        if not isinstance(deep, DeepModel) or not isinstance(radiomics, RadiomicsModel):
            raise BundleError(f"{path}: fusion inputs are not a deep and a radiomics model")
        if "stacker.pkl" not in data:
            raise BundleError(f"{path / 'stacker.pkl'}: not listed in {CONFIG}")
        return FusionModel(config, deep, radiomics, pickle.loads(data["stacker.pkl"]))
    raise BundleError(f"{path / CONFIG}: unknown kind {kind!r}")
