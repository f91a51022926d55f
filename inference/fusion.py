"""Decision-level fusion (seed 003's late fusion, "DLRad_DB"): a stacking classifier on the
deep and radiomics models' class probabilities.

The stacker learns ONLY from out-of-fold probabilities: :func:`train_fusion` takes the two
cross-validation results (whose ``oof`` arrays come from models that never saw the node) and
refuses results made with different folds or labels. Its own internal estimate is again out of
fold: for fold k, a stacker fitted on the other folds' OOF rows scores fold k. The final stacker
is fitted on all OOF rows and, at prediction time, is applied to the final deep ensemble's and
radiomics model's probabilities.

Stackers (``method``): ``weighted`` (default), a convex combination w p_deep + (1 - w) p_radiomics
with w on a grid of 0, 0.05, ..., 1 minimising the class-balanced log loss (so the single inputs
are candidates too: with few ENE nodes, a free stacker can end up worse than either input);
``logistic``, a class-weighted multinomial logistic regression on the six log-probabilities,
``C`` by inner patient-level CV. 003 chose a random forest among three stackers on its training
set; with a few hundred nodes these constrained stackers are the steadier choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from .classes import N_CLASSES
from .radiomics import RadiomicsCvResult
from .training import DeepCvResult, TrainError, class_weights, oof_metrics

__all__ = ["FusionCvResult", "Stacker", "stack_inputs", "train_fusion"]

_EPS = 1e-4


def stack_inputs(deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
    """(N, 6) stacker input: log of the clipped probabilities of both models."""
    if deep_probs.shape != radiomics_probs.shape or deep_probs.shape[1:] != (N_CLASSES,):
        raise TrainError(f"probability arrays {deep_probs.shape} / {radiomics_probs.shape} differ")
    return np.log(np.clip(np.hstack([deep_probs, radiomics_probs]), _EPS, 1.0))


class Stacker:
    """A fitted stacker; probabilities in CLASSES order.

    ``weighted``: p = w p_deep + (1 - w) p_radiomics, one weight ``w`` in [0, 1] (a stacker
    with non-negative weights summing to one, Breiman 1996); ``logistic``: a multinomial
    logistic regression on the six log-probabilities."""

    def __init__(
        self, model: LogisticRegression | None = None, deep_weight: float | None = None
    ) -> None:
        if (model is None) == (deep_weight is None):
            raise ValueError("a stacker is either a logistic model or a deep weight")
        self.model = model
        self.deep_weight = deep_weight

    @property
    def method(self) -> str:
        return "weighted" if self.model is None else "logistic"

    def predict_proba(self, deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
        return self._from_inputs(stack_inputs(deep_probs, radiomics_probs))

    def _from_inputs(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            assert self.deep_weight is not None
            mixed = self.deep_weight * np.exp(X[:, :N_CLASSES]) + (1.0 - self.deep_weight) * np.exp(
                X[:, N_CLASSES:]
            )
            return mixed / mixed.sum(axis=1, keepdims=True)
        out = np.zeros((len(X), N_CLASSES))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out


#: inverse regularisation strengths the logistic stacker's inner CV chooses from
C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
#: deep-model weights the weighted stacker chooses from
WEIGHT_GRID: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
METHODS = ("weighted", "logistic")


def _weighted_log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Class-balanced log loss (each class counts equally, as the balanced weights of the
    other models)."""
    w = class_weights(y)[y]
    return float(-(w * np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))).sum() / w.sum())


def _fit_stacker(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    seed: int,
    c_grid: tuple[float, ...] = C_GRID,
    method: str = "weighted",
) -> Stacker:
    """Fit a stacker on rows of out-of-fold stacker inputs ``X`` (see :func:`stack_inputs`)."""
    if method == "weighted":
        losses = [
            _weighted_log_loss(Stacker(deep_weight=w)._from_inputs(X), y) for w in WEIGHT_GRID
        ]
        return Stacker(deep_weight=float(WEIGHT_GRID[int(np.argmin(losses))]))
    if method != "logistic":
        raise TrainError(f"unknown fusion method {method!r} (expected one of {METHODS})")
    base = LogisticRegression(
        C=c_grid[0], class_weight="balanced", max_iter=2000, random_state=seed
    )
    enough = len(np.unique(groups)) >= 3 and np.bincount(y, minlength=N_CLASSES).min() >= 3
    if len(c_grid) > 1 and enough:
        search = GridSearchCV(
            base,
            {"C": list(c_grid)},
            scoring="neg_log_loss",
            cv=StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed),
            error_score=np.nan,
        )
        search.fit(X, y, groups=groups)
        return Stacker(search.best_estimator_)
    return Stacker(base.fit(X, y))


@dataclass
class FusionCvResult:
    stacker: Stacker  # fitted on every OOF row: the final stacker
    folds: np.ndarray
    oof: np.ndarray
    labels: np.ndarray
    seconds: float

    @property
    def metrics(self) -> dict[str, float | int | None]:
        return oof_metrics(self.oof, self.labels)


def train_fusion(
    deep: DeepCvResult,
    radiomics: RadiomicsCvResult,
    patients: np.ndarray,
    *,
    seed: int = 0,
    method: str = "weighted",
    c_grid: tuple[float, ...] = C_GRID,
) -> FusionCvResult:
    """Stack the two models' out-of-fold probabilities (never in-sample ones)."""
    t0 = time.perf_counter()
    if not np.array_equal(deep.folds, radiomics.folds):
        raise TrainError("deep and radiomics results were made with different folds")
    if not np.array_equal(deep.labels, radiomics.labels):
        raise TrainError("deep and radiomics results were made on different labels")
    patients = np.asarray(patients).astype(str)
    labels = deep.labels
    X = stack_inputs(deep.oof, radiomics.oof)
    oof = np.zeros((len(labels), N_CLASSES))
    for k in range(int(deep.folds.max()) + 1):
        test = deep.folds == k
        stacker = _fit_stacker(X[~test], labels[~test], patients[~test], seed + k, c_grid, method)
        oof[test] = stacker.predict_proba(deep.oof[test], radiomics.oof[test])
    final = _fit_stacker(X, labels, patients, seed, c_grid, method)
    return FusionCvResult(final, deep.folds, oof, labels, time.perf_counter() - t0)
