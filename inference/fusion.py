"""Decision-level fusion (seed 003's late fusion, "DLRad_DB"): a stacking classifier on the
deep and radiomics models' class probabilities.

The stacker learns ONLY from out-of-fold probabilities: :func:`train_fusion` takes the two
cross-validation results (whose ``oof`` arrays come from models that never saw the node) and
refuses results made with different folds or labels. Its own internal estimate is again out of
fold: for fold k, a stacker fitted on the other folds' OOF rows scores fold k. The final stacker
is fitted on all OOF rows and, at prediction time, is applied to the final deep ensemble's and
radiomics model's probabilities.

Stackers (``method``):

``weighted`` (default): one weight w in [0, 1] on the deep model, pooled in log space
(``pooling="log"``, the default)::

    p(c) = p_deep(c) ** w * p_radiomics(c) ** (1 - w) / Z    (Z: sum over the 3 classes)

the weighted logarithmic opinion pool (weighted geometric mean of the two distributions,
renormalised; Genest & Zidek 1986, "Combining probability distributions: a critique and an
annotated bibliography", Statistical Science 1(1); Heskes 1998, "Selecting weighting factors in
logarithmic opinion pools", NIPS 10). Unlike the linear pool w p_deep + (1 - w) p_radiomics
(``pooling="linear"``, the rule of bundles written before ``pooling`` existed), a confident
"no" of either model pulls the fused probability down, and the log-linear pool is what a
logistic model on the two log-probabilities with tied, summing-to-one coefficients gives.

w is chosen on a grid (0, 0.05, ..., 1) by the one-standard-error rule (Breiman, Friedman,
Olshen & Stone 1984, "Classification and Regression Trees", ch. 3; Hastie, Tibshirani &
Friedman, "The Elements of Statistical Learning", 2nd ed. 2009, §7.10), with equal weights as
the simple model: let w* minimise the class-balanced log loss L(w) on the OOF rows; the chosen
w is the grid weight closest to 0.5 with L(w) - L(w*) <= SE(w), where SE(w) is the standard
error of that loss difference, paired over the same rows and clustered by patient (nodes of a
patient are not independent; the usual sandwich / ratio-estimator variance of a weighted mean
of per-patient sums). So the weight moves away from 0.5 only as far as the data show a real
gain. Shrinking toward equal weights follows the "forecast combination puzzle": in small
samples a simple average of forecasts is hard to beat by estimated weights, whose estimation
noise costs more than it gains (Smith & Wallis 2009, Oxford Bulletin of Economics and
Statistics 71(3); Claeskens, Magnus, Vasnev & Wang 2016, International Journal of Forecasting
32(3)). A clearly useless input still gets weight 0 (every weight nearer 0.5 is significantly
worse), and inputs of equal quality get 0.5.

``logistic``: a class-weighted multinomial logistic regression on the six log-probabilities,
``C`` by inner patient-level CV.

003 chose a random forest among three stackers on its training set; with a few hundred nodes
these constrained stackers are the steadier choice.

Evidence for the default (synthetic cohorts: internal, 30 patients, seeds 1, 3, 5 x training
seeds 1, 2, scored out of fold and on external cohorts of seeds 2, 4, 6; ENE and metastasis AUC,
48 comparisons): fused AUC >= the better input's in 8 of 12 internal OOF and 14 of 36 external
comparisons (the former linear pool with the loss-minimising weight: 5 of 12 and 5 of 36); the
new rule's AUC beat the former's in 35 of 48, by 0.004 on average. Externally the inputs'
ranking often flips from the internal one, and no weight learnt on internal rows can promise
the better input there: fused >= the worse input in 30 of 36 (nearer the better in 24). A
linear pool with the same one-SE weight stays between its inputs more often (35 of 36
external) but reached the better input internally in only 3 of 12; the log pool's price is
that one model's confident error under shift drags the fused probability down (all 6 of its
external results below both inputs were ENE ones). Fixed equal weights did as well as the
one-SE rule on average (within 0.001 AUC), as the combination puzzle predicts; the rule is kept
because it still drops an input that is clearly useless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from .classes import N_CLASSES
from .radiomics import RadiomicsCvResult
from .training import DeepCvResult, TrainError, class_weights, oof_metrics

__all__ = [
    "FusionCvResult",
    "Stacker",
    "one_se_weight",
    "paired_clustered_se",
    "stack_inputs",
    "train_fusion",
]

_EPS = 1e-4

#: how the ``weighted`` stacker pools the two distributions: ``log`` (weighted geometric mean,
#: the default) or ``linear`` (weighted arithmetic mean, the rule of older bundles)
POOLINGS = ("log", "linear")


def stack_inputs(deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
    """(N, 6) stacker input: log of the clipped probabilities of both models."""
    if deep_probs.shape != radiomics_probs.shape or deep_probs.shape[1:] != (N_CLASSES,):
        raise TrainError(f"probability arrays {deep_probs.shape} / {radiomics_probs.shape} differ")
    return np.log(np.clip(np.hstack([deep_probs, radiomics_probs]), _EPS, 1.0))


def _pool(X: np.ndarray, deep_weight: float, pooling: str) -> np.ndarray:
    """Pooled probabilities of stacker inputs ``X`` (see :func:`stack_inputs`)."""
    log_deep, log_rad = X[:, :N_CLASSES], X[:, N_CLASSES:]
    if pooling == "log":
        z = deep_weight * log_deep + (1.0 - deep_weight) * log_rad
        mixed = np.exp(z - z.max(axis=1, keepdims=True))
    elif pooling == "linear":
        mixed = deep_weight * np.exp(log_deep) + (1.0 - deep_weight) * np.exp(log_rad)
    else:
        raise TrainError(f"unknown pooling {pooling!r} (expected one of {POOLINGS})")
    return mixed / mixed.sum(axis=1, keepdims=True)


class Stacker:
    """A fitted stacker; probabilities in CLASSES order.

    ``weighted``: one weight ``deep_weight`` = w in [0, 1] (non-negative weights summing to one,
    as Breiman's 1996 stacked regressions) and a ``pooling``: ``log``, p ∝ p_deep^w
    p_radiomics^(1-w) (logarithmic opinion pool), or ``linear``, p = w p_deep + (1 - w)
    p_radiomics. Stackers unpickled from bundles written before ``pooling`` existed have no such
    attribute and get ``linear``, the rule they were fitted with. ``logistic``: a multinomial
    logistic regression on the six log-probabilities (``pooling`` is None)."""

    def __init__(
        self,
        model: LogisticRegression | None = None,
        deep_weight: float | None = None,
        pooling: str = "log",
    ) -> None:
        if (model is None) == (deep_weight is None):
            raise ValueError("a stacker is either a logistic model or a deep weight")
        if model is None and pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (expected one of {POOLINGS})")
        self.model = model
        self.deep_weight = deep_weight
        self.pooling: str | None = pooling if model is None else None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # bundles written before log pooling: their weighted stackers pooled linearly
        state = dict(state)
        state.setdefault("pooling", "linear" if state.get("model") is None else None)
        self.__dict__.update(state)

    @property
    def method(self) -> str:
        return "weighted" if self.model is None else "logistic"

    def predict_proba(self, deep_probs: np.ndarray, radiomics_probs: np.ndarray) -> np.ndarray:
        return self._from_inputs(stack_inputs(deep_probs, radiomics_probs))

    def _from_inputs(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            assert self.deep_weight is not None and self.pooling is not None
            return _pool(X, self.deep_weight, self.pooling)
        out = np.zeros((len(X), N_CLASSES))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out


#: inverse regularisation strengths the logistic stacker's inner CV chooses from
C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
#: deep-model weights the weighted stacker chooses from
WEIGHT_GRID: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
#: the weight the one-SE rule shrinks toward: the simple average of the two models
EQUAL_WEIGHT = 0.5
METHODS = ("weighted", "logistic")


def _row_log_losses(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log loss of the true class (probabilities clipped at ``_EPS``)."""
    return -np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))


def paired_clustered_se(diff: np.ndarray, row_weights: np.ndarray, groups: np.ndarray) -> float:
    """Standard error of the weighted mean ``sum(a d) / sum(a)`` of per-row differences ``d``
    with rows clustered by ``groups`` (patients): per cluster g, T_g = sum(a d), M_g = sum(a);
    with D the weighted mean, SE^2 = G / (G - 1) * sum_g (T_g - D M_g)^2 / (sum a)^2 (the
    linearised variance of a ratio estimator, i.e. the cluster-robust sandwich). 0 with fewer
    than two clusters."""
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(inv.max()) + 1 if len(inv) else 0
    if n_groups < 2:
        return 0.0
    a = np.asarray(row_weights, dtype=np.float64)
    ad = a * np.asarray(diff, dtype=np.float64)
    total = a.sum()
    mean = ad.sum() / total
    resid = np.bincount(inv, ad, n_groups) - mean * np.bincount(inv, a, n_groups)
    return float(np.sqrt(n_groups / (n_groups - 1) * (resid**2).sum()) / total)


def one_se_weight(
    row_losses: np.ndarray,
    row_weights: np.ndarray,
    groups: np.ndarray,
    grid: tuple[float, ...] = WEIGHT_GRID,
    target: float = EQUAL_WEIGHT,
) -> float:
    """The one-standard-error choice among ``grid``: ``row_losses[g, i]`` is row i's loss with
    weight ``grid[g]``; L(g) its ``row_weights``-weighted mean. With g* = argmin L, the eligible
    weights are those with L(g) - L(g*) <= SE of the paired difference row_losses[g] -
    row_losses[g*] (clustered by ``groups``, :func:`paired_clustered_se`); the one closest to
    ``target`` is returned (ties: the lower loss)."""
    losses = np.asarray(row_losses, dtype=np.float64)
    a = np.asarray(row_weights, dtype=np.float64)
    if losses.shape != (len(grid), len(a)):
        raise ValueError(f"row losses {losses.shape} do not match {len(grid)} weights x {len(a)}")
    mean = losses @ a / a.sum()
    best = int(np.argmin(mean))
    eligible = [
        g
        for g in range(len(grid))
        if mean[g] - mean[best] <= paired_clustered_se(losses[g] - losses[best], a, groups) + 1e-12
    ]
    chosen = min(eligible, key=lambda g: (abs(grid[g] - target), mean[g]))
    return float(grid[chosen])


def _fit_stacker(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    seed: int,
    c_grid: tuple[float, ...] = C_GRID,
    method: str = "weighted",
    pooling: str = "log",
) -> Stacker:
    """Fit a stacker on rows of out-of-fold stacker inputs ``X`` (see :func:`stack_inputs`)."""
    if method == "weighted":
        losses = np.stack([_row_log_losses(_pool(X, w, pooling), y) for w in WEIGHT_GRID])
        weight = one_se_weight(losses, class_weights(y)[y], groups)
        return Stacker(deep_weight=weight, pooling=pooling)
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
    pooling: str = "log",
) -> FusionCvResult:
    """Stack the two models' out-of-fold probabilities (never in-sample ones). ``pooling``
    (``log`` or ``linear``) applies to the ``weighted`` method only."""
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
        stacker = _fit_stacker(
            X[~test], labels[~test], patients[~test], seed + k, c_grid, method, pooling
        )
        oof[test] = stacker.predict_proba(deep.oof[test], radiomics.oof[test])
    final = _fit_stacker(X, labels, patients, seed, c_grid, method, pooling)
    return FusionCvResult(final, deep.folds, oof, labels, time.perf_counter() - t0)
