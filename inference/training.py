"""Patient-level cross-validation, training with early stopping, and the fold ensemble (001).

* :func:`patient_folds` puts all nodes of a patient in one fold (stratified by class as far as
  the patients allow).
* :func:`train_network` trains one :class:`~inference.network.TwoStreamNet` with a
  class-weighted cross-entropy and early stopping on a validation set.
* :func:`train_deep_cv` runs K folds: for each, an inner patient-level validation split of the
  training part drives early stopping, the held-out fold gets out-of-fold (OOF) probabilities.
  The K fold models together are the final model (:class:`DeepEnsemble`, which averages their
  probabilities), used on other cohorts.

Determinism: for a given seed, data and device type CPU, weights are bit-identical (seeded
initialisation, ``torch.use_deterministic_algorithms``, a seeded generator for data order and
augmentation).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from torch import nn

from .classes import BENIGN, ENE, N_CLASSES
from .crops import Crops
from .network import NetworkParams, TwoStreamNet, pick_device

__all__ = [
    "DeepCvResult",
    "DeepEnsemble",
    "TrainError",
    "TrainParams",
    "class_weights",
    "inner_split",
    "oof_metrics",
    "patient_folds",
    "predict_proba",
    "train_deep_cv",
    "train_network",
]


class TrainError(ValueError):
    """Training input that cannot work (too few patients for the folds, bad labels)."""


@dataclass(frozen=True)
class TrainParams:
    max_epochs: int = 40
    patience: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    #: share of a training fold's patients held out for early stopping
    val_fraction: float = 0.2
    #: random left-right flips during training (the neck is left-right symmetric)
    augment: bool = True

    def to_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainParams:
        return cls(**data)


def _check_labels(labels: np.ndarray, patients: np.ndarray) -> None:
    if labels.ndim != 1 or labels.shape != patients.shape:
        raise TrainError(f"labels {labels.shape} and patients {patients.shape} must be (N,)")
    bad = (labels < 0) | (labels >= N_CLASSES)
    if bad.any():
        raise TrainError(f"labels must be 0..{N_CLASSES - 1}; node {int(np.argmax(bad))} is not")


def patient_folds(
    patients: Sequence[str] | np.ndarray, labels: np.ndarray, n_folds: int, seed: int
) -> np.ndarray:
    """Fold number (0..n_folds-1) of every node; a patient's nodes all share one fold.

    Stratified by node class as far as patients allow (scikit-learn's StratifiedGroupKFold,
    shuffled with ``seed``)."""
    patients = np.asarray(patients).astype(str)
    labels = np.asarray(labels, dtype=np.int64)
    _check_labels(labels, patients)
    n_patients = len(np.unique(patients))
    if n_folds < 2:
        raise TrainError(f"need at least 2 folds, got {n_folds}")
    if n_patients < n_folds:
        raise TrainError(f"{n_patients} patients cannot fill {n_folds} patient-level folds")
    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, patients)):
        folds[test] = k
    return folds


def inner_split(
    patients: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train index, validation index) at patient level; empty validation if too few patients."""
    n_patients = len(np.unique(patients))
    n_splits = max(2, round(1.0 / val_fraction)) if val_fraction > 0 else 0
    if n_splits == 0 or n_patients < max(n_splits, 3):
        return np.arange(len(labels)), np.zeros(0, dtype=np.int64)
    folds = patient_folds(patients, labels, n_splits, seed)
    return np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights N / (K * n_c), normalised to mean 1; absent classes get 1."""
    counts = np.bincount(labels, minlength=N_CLASSES).astype(np.float64)
    w = np.where(counts > 0, len(labels) / (N_CLASSES * np.maximum(counts, 1)), 1.0)
    return w / w.mean()


@contextmanager
def _deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _tensors(crops: Crops, index: np.ndarray, device: torch.device):
    return (
        torch.from_numpy(np.ascontiguousarray(crops.size_independent[index])).to(device),
        torch.from_numpy(np.ascontiguousarray(crops.size_aware[index])).to(device),
    )


@torch.no_grad()
def predict_proba(
    net: TwoStreamNet, crops: Crops, batch_size: int = 64, device: torch.device | None = None
) -> np.ndarray:
    """Class probabilities (N, 3) of one network."""
    device = device or next(net.parameters()).device
    net.eval()
    out = np.zeros((len(crops), N_CLASSES), dtype=np.float64)
    for start in range(0, len(crops), batch_size):
        idx = np.arange(start, min(start + batch_size, len(crops)))
        a, b = _tensors(crops, idx, device)
        out[idx] = torch.softmax(net(a, b), dim=1).double().cpu().numpy()
    return out


@dataclass
class TrainHistory:
    epochs_run: int = 0
    best_epoch: int = 0
    best_val_loss: float | None = None
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def train_network(
    crops: Crops,
    labels: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    *,
    net_params: NetworkParams,
    train_params: TrainParams,
    seed: int,
    device: torch.device | None = None,
) -> tuple[TwoStreamNet, TrainHistory]:
    """Train one network on ``train_index``; early stopping on ``val_index`` (if non-empty).

    Returns the network at its best validation epoch (on the CPU) and its history."""
    device = device or pick_device()
    labels = np.asarray(labels, dtype=np.int64)
    with _deterministic():
        torch.manual_seed(seed)
        net = TwoStreamNet(net_params).to(device)
        gen = torch.Generator().manual_seed(seed)
        weights = torch.tensor(class_weights(labels[train_index]), dtype=torch.float32)
        loss_fn = nn.CrossEntropyLoss(weight=weights.to(device))
        opt = torch.optim.AdamW(
            net.parameters(), lr=train_params.lr, weight_decay=train_params.weight_decay
        )
        y_all = torch.from_numpy(labels).to(device)
        history = TrainHistory()
        best_state = copy.deepcopy(net.state_dict())
        best = math.inf
        since_best = 0
        bs = train_params.batch_size
        for epoch in range(train_params.max_epochs):
            net.train()
            order = train_index[torch.randperm(len(train_index), generator=gen).numpy()]
            total = 0.0
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                a, b = _tensors(crops, idx, device)
                if train_params.augment:
                    flip = (torch.rand(len(idx), generator=gen) < 0.5).to(device)
                    a = torch.where(flip[:, None, None, None], a.flip(-1), a)
                    b = torch.where(flip[:, None, None, None], b.flip(-1), b)
                opt.zero_grad()
                loss = loss_fn(net(a, b), y_all[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            history.train_loss.append(total / max(1, len(order)))
            history.epochs_run = epoch + 1
            if len(val_index):
                net.eval()
                with torch.no_grad():
                    a, b = _tensors(crops, val_index, device)
                    val = float(loss_fn(net(a, b), y_all[val_index]))
                history.val_loss.append(val)
                if val < best - 1e-6:
                    best, since_best = val, 0
                    best_state = copy.deepcopy(net.state_dict())
                    history.best_epoch, history.best_val_loss = epoch + 1, val
                else:
                    since_best += 1
                    if since_best >= train_params.patience:
                        break
            else:
                best_state = copy.deepcopy(net.state_dict())
                history.best_epoch = epoch + 1
        net.load_state_dict(best_state)
    return net.cpu().eval(), history


class DeepEnsemble:
    """The final deep model: the fold networks' probabilities, averaged (001)."""

    def __init__(self, nets: Sequence[TwoStreamNet]) -> None:
        if not nets:
            raise TrainError("an ensemble needs at least one network")
        self.nets = list(nets)

    def to(self, device: torch.device) -> DeepEnsemble:
        for net in self.nets:
            net.to(device)
        return self

    def predict_proba(self, crops: Crops, batch_size: int = 64) -> np.ndarray:
        return np.mean([predict_proba(n, crops, batch_size) for n in self.nets], axis=0)


@dataclass
class DeepCvResult:
    ensemble: DeepEnsemble
    folds: np.ndarray
    oof: np.ndarray  # (N, 3) probabilities, each node from the model that never saw it
    labels: np.ndarray
    histories: list[TrainHistory]
    seconds: float

    @property
    def metrics(self) -> dict[str, float | int | None]:
        return oof_metrics(self.oof, self.labels)


def train_deep_cv(
    crops: Crops,
    labels: np.ndarray,
    patients: Sequence[str] | np.ndarray,
    *,
    n_folds: int = 5,
    seed: int = 0,
    net_params: NetworkParams | None = None,
    train_params: TrainParams | None = None,
    device: torch.device | None = None,
    folds: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DeepCvResult:
    """K-fold patient-level training; OOF probabilities and the fold ensemble."""
    t0 = time.perf_counter()
    labels = np.asarray(labels, dtype=np.int64)
    patients = np.asarray(patients).astype(str)
    _check_labels(labels, patients)
    if len(crops) != len(labels):
        raise TrainError(f"{len(crops)} crops but {len(labels)} labels")
    net_params = net_params or NetworkParams(in_channels=crops.size_aware.shape[1])
    train_params = train_params or TrainParams()
    folds = patient_folds(patients, labels, n_folds, seed) if folds is None else folds
    oof = np.zeros((len(labels), N_CLASSES), dtype=np.float64)
    nets, histories = [], []
    for k in range(int(folds.max()) + 1):
        held_out = np.flatnonzero(folds == k)
        train_all = np.flatnonzero(folds != k)
        tr, va = inner_split(
            patients[train_all], labels[train_all], train_params.val_fraction, seed + 1000 + k
        )
        net, hist = train_network(
            crops,
            labels,
            train_all[tr],
            train_all[va],
            net_params=net_params,
            train_params=train_params,
            seed=seed * 100 + k,
            device=device,
        )
        oof[held_out] = predict_proba(net, crops.subset(held_out))
        nets.append(net)
        histories.append(hist)
        if progress:
            progress(k + 1, int(folds.max()) + 1)
    return DeepCvResult(
        ensemble=DeepEnsemble(nets),
        folds=folds,
        oof=oof,
        labels=labels,
        histories=histories,
        seconds=time.perf_counter() - t0,
    )


def _auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    if truth.min() == truth.max():
        return None
    return float(roc_auc_score(truth, score))


def oof_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | int | None]:
    """AUCs of the two binary tasks (ENE vs rest on p_ene; metastasis vs benign on
    p_meta + p_ene) and 3-class accuracy, as internal (OOF) figures."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return {"n": 0, "auc_ene": None, "auc_metastasis": None, "accuracy": None}
    return {
        "n": int(len(labels)),
        "auc_ene": _auc(labels == ENE, probs[:, ENE]),
        "auc_metastasis": _auc(labels != BENIGN, 1.0 - probs[:, BENIGN]),
        "accuracy": float(np.mean(np.argmax(probs, axis=1) == labels)),
    }
