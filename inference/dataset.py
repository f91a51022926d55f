"""Plain records in, model inputs out: the training and prediction API on arrays.

A :class:`PatientCase` is one CT volume (HU, axes slice-row-column), its voxel spacing, an
integer label map of its nodes and the nodes (label, id, reference). :func:`build_node_set`
turns cases into a :class:`NodeSet`: per node its patient, id, class index (-1 = unknown), the
two-stream crops and the radiomics feature row. The web app builds cases from its own storage;
``inference.cohort`` builds them from a cohort folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .classes import class_index
from .crops import CropParams, Crops, extract_crops
from .radiomics import FEATURE_NAMES, RadiomicsParams, node_features

__all__ = ["NodeSet", "NodeSpec", "PatientCase", "build_node_set"]


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    mask_label: int
    #: reference value (``benign``, ``metastasis``, ``ene`` or an alias); None when unknown
    reference: str | None = None


@dataclass
class PatientCase:
    patient_id: str
    volume: np.ndarray  # (slices, rows, cols) HU
    spacing: tuple[float, float, float]  # mm, same axis order
    labels: np.ndarray  # integer label map, same shape
    nodes: Sequence[NodeSpec] = field(default_factory=list)


@dataclass
class NodeSet:
    patients: np.ndarray
    node_ids: np.ndarray
    labels: np.ndarray  # class index, -1 where the reference is unknown
    crops: Crops | None
    features: np.ndarray | None  # (N, len(FEATURE_NAMES))
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """sha256 of everything a model learns from (ids, labels, crops, features)."""
        h = hashlib.sha256()
        for arr in (self.patients, self.node_ids):
            h.update("\x1f".join(arr.tolist()).encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        if self.crops is not None:
            h.update(np.ascontiguousarray(self.crops.size_independent).tobytes())
            h.update(np.ascontiguousarray(self.crops.size_aware).tobytes())
        if self.features is not None:
            h.update(np.ascontiguousarray(self.features, dtype=np.float64).tobytes())
        return h.hexdigest()


def build_node_set(
    cases: Iterable[PatientCase],
    *,
    crop_params: CropParams | None = None,
    radiomics_params: RadiomicsParams | None = None,
    crops: bool = True,
    radiomics: bool = True,
    progress: Callable[[int], None] | None = None,
) -> NodeSet:
    """Crops and/or radiomics features of every node of ``cases`` (consumed one at a time, so
    a generator keeps only one volume in memory)."""
    crop_params = crop_params or CropParams()
    patients: list[str] = []
    node_ids: list[str] = []
    labels: list[int] = []
    crop_parts: list[Crops] = []
    rows: list[list[float]] = []
    for n, case in enumerate(cases, start=1):
        ids = [int(node.mask_label) for node in case.nodes]
        if crops:
            crop_parts.append(
                extract_crops(case.volume, case.spacing, case.labels, ids, crop_params)
            )
        if radiomics:
            lab = np.asarray(case.labels)
            boxes = ndimage.find_objects(lab, max_label=max(ids)) if ids else []
            for node in case.nodes:
                box = boxes[node.mask_label - 1]
                if box is None:
                    raise ValueError(
                        f"patient {case.patient_id} node {node.node_id}: mask label "
                        f"{node.mask_label} has no voxel"
                    )
                values = node_features(
                    case.volume[box], case.spacing, lab[box] == node.mask_label, radiomics_params
                )
                rows.append([values[name] for name in FEATURE_NAMES])
        for node in case.nodes:
            patients.append(case.patient_id)
            node_ids.append(node.node_id)
            labels.append(class_index(node.reference) if node.reference else -1)
        if progress:
            progress(n)
    return NodeSet(
        patients=np.array(patients, dtype=str),
        node_ids=np.array(node_ids, dtype=str),
        labels=np.array(labels, dtype=np.int64),
        crops=Crops.concatenate(crop_parts, crop_params) if crops else None,
        features=np.array(rows, dtype=np.float64).reshape(len(labels), len(FEATURE_NAMES))
        if radiomics
        else None,
    )
