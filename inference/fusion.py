"""Decision-level fusion (seed 003's late fusion, "DLRad_DB"): a stacking classifier on the
deep and radiomics models' class probabilities.

The stacker learns ONLY from out-of-fold probabilities: :func:`train_fusion` takes the two
cross-validation results (whose ``oof`` arrays come from models that never saw the node) and
refuses results made with different folds or labels. Its own internal estimate is again out of
fold: for fold k, a stacker fitted on the other folds' OOF rows scores fold k. The final stacker
is fitted on all OOF rows and, at prediction time, is applied to the final deep ensemble's and
radiomics model's probabilities.

Stacker: a class-weighted multinomial logistic regression on the log-probabilities (6 inputs),
``C`` by inner patient-level CV. 003 chose a random forest among three stackers on its training
set; with a few hundred nodes a linear stacker is the steadier choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from .classes import N_CLASSES
from .radiomics import RadiomicsCvResult
from .training import DeepCvResult, TrainError, oof_metrics

__all__ = ["FusionCvResult", "Stacker", "stack_inputs", "train_fusion"]

_EPS = 1e-4


def stack_inputs(deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
    """(N, 6) stacker input: log of the clipped probabilities of both models."""
    if deep_probs.shape != radiomics_probs.shape or deep_probs.shape[1:] != (N_CLASSES,):
        raise TrainError(f"probability arrays {deep_probs.shape} / {radiomics_probs.shape} differ")
    return np.log(np.clip(np.hstack([deep_probs, radiomics_probs]), _EPS, 1.0))


class Stacker:
    """A fitted stacking classifier; probabilities in CLASSES order."""

    def __init__(self, model: LogisticRegression | GridSearchCV) -> None:
        self.model = model

    def predict_proba(self, deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
        X = stack_inputs(deep_probs, radiomics_probs)
        out = np.zeros((len(X), N_CLASSES))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out


#: inverse regularisation strengths the stacker's inner CV chooses from
C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


def _fit_stacker(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, c_grid: tuple[float, ...] = C_GRID
) -> Stacker:
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
        stacker = _fit_stacker(X[~test], labels[~test], patients[~test], seed + k, c_grid)
        oof[test] = stacker.predict_proba(deep.oof[test], radiomics.oof[test])
    final = _fit_stacker(X, labels, patients, seed, c_grid)
    return FusionCvResult(final, deep.folds, oof, labels, time.perf_counter() - t0)
