"""Radiomics baseline: IBSI-defined features of a node and a scikit-learn classifier.

Features (names follow the IBSI reference manual's feature families and tags, as MIRP writes
them; definitions in Zwanenburg et al., Radiology 2020 / arXiv:1612.07003):

* ``stat_*`` intensity statistics of the node's HU values (no discretisation);
* ``morph_*`` morphology: mesh volume and surface area (marching cubes at the 0.5 level of the
  mask, with the voxel spacing), approximate (voxel-count) volume, surface-to-volume ratio,
  sphericity, PCA axis lengths (4 sqrt(eigenvalue)), elongation, flatness, maximum 3D diameter;
* ``cm_*`` grey level co-occurrence (GLCM), ``rlm_*`` run length (GLRLM), ``szm_*`` size zone
  (GLSZM) features, computed "2.5D merged": one matrix from every slice and the four in-plane
  directions (distance 1; zones 8-connected in-plane), as fits 3-5 mm CT slices.

Texture discretisation: fixed bin size ``bin_width`` HU from ``low`` (IBSI FBS). Deviation from
IBSI, stated here so nobody is surprised: HU values outside [``low``, ``high``] are clipped into
the first / last bin instead of being removed (re-segmentation), so that no node's texture ROI
is ever empty; no isotropic resampling is done.

:func:`train_radiomics_cv` / :func:`fit_radiomics`: z-scoring, a greedy correlation filter
(|Spearman| >= 0.9, as 003), univariate selection of ``k`` features, and a class-weighted
multinomial logistic regression; ``k`` and ``C`` by inner patient-level cross-validation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage, stats
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .classes import N_CLASSES
from .training import TrainError, patient_folds

__all__ = [
    "FEATURE_NAMES",
    "CorrelationFilter",
    "RadiomicsCvResult",
    "RadiomicsParams",
    "fit_radiomics",
    "glcm_features",
    "glrlm_features",
    "glszm_features",
    "intensity_features",
    "morphology_features",
    "node_features",
    "train_radiomics_cv",
]


@dataclass(frozen=True)
class RadiomicsParams:
    low: float = -125.0
    high: float = 225.0
    bin_width: float = 25.0

    @property
    def levels(self) -> int:
        return int(math.ceil((self.high - self.low) / self.bin_width))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RadiomicsParams:
        return cls(**data)


# ------------------------------------------------------------------ intensity statistics


def intensity_features(hu: np.ndarray) -> dict[str, float]:
    """IBSI intensity statistics of the ROI's HU values (1-D array)."""
    x = np.asarray(hu, dtype=np.float64)
    mean = x.mean()
    var = x.var()  # IBSI: 1/N
    sd = math.sqrt(var)
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    return {
        "stat_mean": float(mean),
        "stat_var": float(var),
        "stat_skew": float(((x - mean) ** 3).mean() / sd**3) if sd > 0 else 0.0,
        "stat_kurt": float(((x - mean) ** 4).mean() / var**2 - 3.0) if var > 0 else 0.0,
        "stat_median": float(np.median(x)),
        "stat_min": float(x.min()),
        "stat_p10": float(p10),
        "stat_p90": float(p90),
        "stat_max": float(x.max()),
        "stat_iqr": float(p75 - p25),
        "stat_range": float(x.max() - x.min()),
        "stat_mad": float(np.abs(x - mean).mean()),
        "stat_energy": float((x**2).sum()),
        "stat_rms": float(math.sqrt((x**2).mean())),
    }


# ------------------------------------------------------------------ morphology


def _mesh_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


def morphology_features(mask: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """IBSI morphology of a boolean mask with (slice, row, col) spacing in mm."""
    from skimage.measure import marching_cubes, mesh_surface_area

    sp = np.array([float(s) for s in spacing])
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    n_vox = int(m.sum())
    verts, faces, _, _ = marching_cubes(m.astype(np.float32), level=0.5, spacing=tuple(sp))
    volume = _mesh_volume(verts, faces)
    area = float(mesh_surface_area(verts, faces))
    coords = np.argwhere(m) * sp
    lam = (
        np.sort(np.linalg.eigvalsh(np.cov(coords.T, bias=True)))[::-1] if n_vox > 1 else np.zeros(3)
    )
    lam = np.clip(lam, 0.0, None)
    try:
        hull = verts[ConvexHull(verts).vertices]
    except Exception:  # flat or tiny meshes: every vertex
        hull = verts
    diameter = float(pdist(hull).max()) if len(hull) > 1 else 0.0
    return {
        "morph_volume": volume,
        "morph_vol_approx": float(n_vox * sp.prod()),
        "morph_area_mesh": area,
        "morph_av": area / volume if volume > 0 else 0.0,
        "morph_sphericity": (36.0 * math.pi * volume**2) ** (1.0 / 3.0) / area if area > 0 else 0.0,
        "morph_pca_maj_axis": float(4.0 * math.sqrt(lam[0])),
        "morph_pca_min_axis": float(4.0 * math.sqrt(lam[1])),
        "morph_pca_least_axis": float(4.0 * math.sqrt(lam[2])),
        "morph_pca_elongation": float(math.sqrt(lam[1] / lam[0])) if lam[0] > 0 else 0.0,
        "morph_pca_flatness": float(math.sqrt(lam[2] / lam[0])) if lam[0] > 0 else 0.0,
        "morph_diam": diameter,
    }


# ------------------------------------------------------------------ texture

#: in-plane directions (row step, column step) of the 2.5D texture matrices
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))


def discretise(hu: np.ndarray, mask: np.ndarray, params: RadiomicsParams) -> np.ndarray:
    """Grey levels 1..levels inside the mask (fixed bin size), 0 outside."""
    clipped = np.clip(np.asarray(hu, dtype=np.float64), params.low, params.high - 1e-9)
    grey = np.floor((clipped - params.low) / params.bin_width).astype(np.int64) + 1
    return np.where(mask, np.minimum(grey, params.levels), 0)


def _shift_pairs(grey: np.ndarray, dr: int, dc: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey levels of voxel pairs (r, c) -> (r + dr, c + dc) in every slice, both in the ROI."""
    _, rows, cols = grey.shape
    r0, r1 = max(0, -dr), rows - max(0, dr)
    c0, c1 = max(0, -dc), cols - max(0, dc)
    a = grey[:, r0:r1, c0:c1]
    b = grey[:, r0 + dr : r1 + dr, c0 + dc : c1 + dc]
    keep = (a > 0) & (b > 0)
    return a[keep], b[keep]


def glcm(grey: np.ndarray, levels: int) -> np.ndarray:
    """Merged symmetric co-occurrence counts (levels x levels) over slices and directions."""
    counts = np.zeros(levels * levels, dtype=np.float64)
    for dr, dc in _DIRECTIONS:
        a, b = _shift_pairs(grey, dr, dc)
        counts += np.bincount((a - 1) * levels + (b - 1), minlength=levels * levels)
        counts += np.bincount((b - 1) * levels + (a - 1), minlength=levels * levels)
    return counts.reshape(levels, levels)


def glcm_features(grey: np.ndarray, levels: int) -> dict[str, float]:
    counts = glcm(grey, levels)
    total = counts.sum()
    names = (
        "cm_joint_max",
        "cm_joint_avg",
        "cm_joint_var",
        "cm_joint_entr",
        "cm_diff_avg",
        "cm_contrast",
        "cm_dissimilarity",
        "cm_inv_diff",
        "cm_inv_diff_mom",
        "cm_energy",
        "cm_corr",
    )
    if total == 0:
        return dict.fromkeys(names, float("nan"))
    p = counts / total
    i, j = np.indices(p.shape) + 1
    mu = (i * p).sum()
    var = (((i - mu) ** 2) * p).sum()
    nz = p[p > 0]
    diff = np.abs(i - j)
    values = (
        p.max(),
        mu,
        var,
        -(nz * np.log2(nz)).sum(),
        (diff * p).sum(),
        ((diff**2) * p).sum(),
        (diff * p).sum(),
        (p / (1.0 + diff)).sum(),
        (p / (1.0 + diff**2)).sum(),
        (p**2).sum(),
        (((i - mu) * (j - mu) * p).sum() / var) if var > 0 else 1.0,  # symmetric: mu_i = mu_j
    )
    return {n: float(v) for n, v in zip(names, values, strict=True)}


def _lines(grey: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """The image rearranged so that direction (dr, dc) runs along the last axis (0 = gap)."""
    s, rows, cols = grey.shape
    if (dr, dc) == (0, 1):
        return grey
    if (dr, dc) == (1, 0):
        return np.swapaxes(grey, 1, 2)
    # diagonals: shear row r by r (or by rows-1-r), then they become columns
    sheared = np.zeros((s, rows, cols + rows), dtype=grey.dtype)
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    shift = r if dc == 1 else (rows - 1 - r)
    sheared[:, r, c + shift] = grey
    return np.swapaxes(sheared, 1, 2)


def glrlm(grey: np.ndarray, levels: int) -> tuple[np.ndarray, int]:
    """Merged run length counts (levels x max run) over slices and directions, and the number
    of run-able voxels (ROI voxels x directions)."""
    runs_g: list[np.ndarray] = []
    runs_len: list[np.ndarray] = []
    for dr, dc in _DIRECTIONS:
        lines = _lines(grey, dr, dc)
        flat = np.concatenate(
            [
                lines.reshape(-1, lines.shape[-1]),
                np.zeros((lines.shape[0] * lines.shape[1], 1), lines.dtype),
            ],
            axis=1,
        ).ravel()
        change = np.flatnonzero(np.diff(flat)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(flat)]])
        values = flat[starts]
        keep = values > 0
        runs_g.append(values[keep])
        runs_len.append((ends - starts)[keep])
    g = np.concatenate(runs_g)
    length = np.concatenate(runs_len)
    max_len = int(length.max()) if len(length) else 1
    matrix = np.zeros((levels, max_len), dtype=np.float64)
    np.add.at(matrix, (g - 1, length - 1), 1.0)
    return matrix, int((grey > 0).sum()) * len(_DIRECTIONS)


def _size_matrix_features(
    matrix: np.ndarray, n_voxels: int, prefix: str, unit: str
) -> dict[str, float]:
    """Emphasis / non-uniformity / percentage features shared by GLRLM and GLSZM."""
    total = matrix.sum()
    keys = (
        f"{prefix}_s{unit}e",
        f"{prefix}_l{unit}e",
        f"{prefix}_glnu",
        f"{prefix}_{'rl' if unit == 'r' else 'zs'}nu",
        f"{prefix}_{unit}_perc",
    )
    if total == 0:
        return dict.fromkeys(keys, float("nan"))
    size = np.arange(1, matrix.shape[1] + 1, dtype=np.float64)[None, :]
    values = (
        (matrix / size**2).sum() / total,
        (matrix * size**2).sum() / total,
        (matrix.sum(axis=1) ** 2).sum() / total,
        (matrix.sum(axis=0) ** 2).sum() / total,
        total / n_voxels,
    )
    return {k: float(v) for k, v in zip(keys, values, strict=True)}


def glrlm_features(grey: np.ndarray, levels: int) -> dict[str, float]:
    matrix, n_voxels = glrlm(grey, levels)
    return _size_matrix_features(matrix, n_voxels, "rlm", "r")


def glszm(grey: np.ndarray, levels: int) -> np.ndarray:
    """Size zone counts (levels x max zone size), zones 8-connected within each slice."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # in-plane 8-connectivity, no connection across slices
    sizes_by_level: list[tuple[int, np.ndarray]] = []
    for level in range(1, levels + 1):
        lab, n = ndimage.label(grey == level, structure=structure)
        if n:
            sizes_by_level.append((level, np.bincount(lab.ravel())[1:]))
    max_size = max((int(s.max()) for _, s in sizes_by_level), default=1)
    matrix = np.zeros((levels, max_size), dtype=np.float64)
    for level, sizes in sizes_by_level:
        matrix[level - 1] += np.bincount(sizes - 1, minlength=max_size)
    return matrix


def glszm_features(grey: np.ndarray, levels: int) -> dict[str, float]:
    return _size_matrix_features(glszm(grey, levels), int((grey > 0).sum()), "szm", "z")


# ------------------------------------------------------------------ one node


def node_features(
    volume: np.ndarray,
    spacing: Sequence[float],
    mask: np.ndarray,
    params: RadiomicsParams | None = None,
) -> dict[str, float]:
    """Every feature of one node (boolean ``mask`` on the (slice, row, col) ``volume``)."""
    params = params or RadiomicsParams()
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("node mask is empty")
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    sub_mask = mask[box]
    sub_hu = np.asarray(volume)[box]
    grey = discretise(sub_hu, sub_mask, params)
    return {
        **intensity_features(sub_hu[sub_mask]),
        **morphology_features(sub_mask, spacing),
        **glcm_features(grey, params.levels),
        **glrlm_features(grey, params.levels),
        **glszm_features(grey, params.levels),
    }


def _feature_names() -> tuple[str, ...]:
    vol = np.zeros((3, 4, 4), np.float32)
    m = np.zeros((3, 4, 4), bool)
    m[1, 1:3, 1:3] = True
    m[0, 1, 1] = True
    return tuple(node_features(vol, (1.0, 1.0, 1.0), m))


#: every feature name, in the column order of feature matrices
FEATURE_NAMES: tuple[str, ...] = _feature_names()


# ------------------------------------------------------------------ classifier


class CorrelationFilter(TransformerMixin, BaseEstimator):
    """Greedy removal of redundant features (003): while a pair has |Spearman rho| >=
    ``threshold``, drop the feature with the highest mean |rho| to the others."""

    def __init__(self, threshold: float = 0.9) -> None:
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: object = None) -> CorrelationFilter:
        X = np.asarray(X, dtype=np.float64)
        keep = list(range(X.shape[1]))
        if X.shape[1] > 1 and X.shape[0] > 2:
            rho = np.abs(np.asarray(stats.spearmanr(X).statistic, dtype=np.float64))
            if rho.ndim == 0:  # scipy returns a scalar for exactly two columns
                rho = np.array([[1.0, float(rho)], [float(rho), 1.0]])
            rho = np.nan_to_num(rho, nan=0.0)  # constant columns
            np.fill_diagonal(rho, 0.0)
            while len(keep) > 1:
                sub = rho[np.ix_(keep, keep)]
                if sub.max() < self.threshold:
                    break
                keep.pop(int(np.argmax(sub.mean(axis=1))))
        self.keep_ = np.array(keep, dtype=np.int64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)[:, self.keep_]


def _pipeline(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("variance", VarianceThreshold()),
            ("scale", StandardScaler()),
            ("decorrelate", CorrelationFilter(0.9)),
            ("select", SelectKBest(f_classif)),
            (
                "classify",
                LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed),
            ),
        ]
    )


GRID: dict[str, list] = {"select__k": [3, 6, 12], "classify__C": [0.1, 1.0, 10.0]}


def fit_radiomics(
    features: np.ndarray,
    labels: np.ndarray,
    patients: np.ndarray,
    seed: int,
    inner_folds: int = 3,
    grid: dict[str, list] | None = None,
) -> Pipeline:
    """Fit the pipeline; ``k`` and ``C`` chosen by inner patient-level CV (log loss)."""
    labels = np.asarray(labels, dtype=np.int64)
    patients = np.asarray(patients).astype(str)
    n_patients = len(np.unique(patients))
    n_features = features.shape[1]
    grid = dict(grid or GRID)
    grid["select__k"] = [k for k in grid["select__k"] if k == "all" or k <= n_features] or ["all"]
    if n_patients < inner_folds or min(np.bincount(labels, minlength=N_CLASSES)) == 0:
        pipe = _pipeline(seed).set_params(select__k=grid["select__k"][0], classify__C=1.0)
        return pipe.fit(features, labels)
    search = GridSearchCV(
        _pipeline(seed),
        grid,
        scoring="neg_log_loss",
        cv=StratifiedGroupKFold(n_splits=inner_folds, shuffle=True, random_state=seed),
        error_score=np.nan,
        n_jobs=1,
    )
    search.fit(features, labels, groups=patients)
    best: Pipeline = search.best_estimator_
    return best


def _proba(pipe: Pipeline, features: np.ndarray) -> np.ndarray:
    """Probabilities in CLASSES order even if a class was absent from the training data."""
    out = np.zeros((len(features), N_CLASSES))
    out[:, pipe.classes_] = pipe.predict_proba(features)
    return out


@dataclass
class RadiomicsCvResult:
    model: Pipeline  # fitted on all nodes: the final model
    folds: np.ndarray
    oof: np.ndarray
    labels: np.ndarray
    seconds: float

    @property
    def metrics(self) -> dict[str, float | int | None]:
        from .training import oof_metrics

        return oof_metrics(self.oof, self.labels)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return _proba(self.model, features)


def train_radiomics_cv(
    features: np.ndarray,
    labels: np.ndarray,
    patients: Sequence[str] | np.ndarray,
    *,
    n_folds: int = 5,
    seed: int = 0,
    folds: np.ndarray | None = None,
    grid: dict[str, list] | None = None,
) -> RadiomicsCvResult:
    """Out-of-fold probabilities with patient-level folds (the same as the deep model's for the
    same seed and data) and a final pipeline fitted on all nodes."""
    t0 = time.perf_counter()
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    patients = np.asarray(patients).astype(str)
    if features.shape[0] != len(labels):
        raise TrainError(f"{features.shape[0]} feature rows but {len(labels)} labels")
    folds = patient_folds(patients, labels, n_folds, seed) if folds is None else folds
    oof = np.zeros((len(labels), N_CLASSES))
    for k in range(int(folds.max()) + 1):
        test = folds == k
        pipe = fit_radiomics(features[~test], labels[~test], patients[~test], seed + k, grid=grid)
        oof[test] = _proba(pipe, features[test])
    final = fit_radiomics(features, labels, patients, seed, grid=grid)
    return RadiomicsCvResult(final, folds, oof, labels, time.perf_counter() - t0)
