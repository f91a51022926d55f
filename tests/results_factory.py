"""Database-only cohorts for the simulation, results and dashboard tests and benchmarks.

Nodes exist only as rows (no image files: neither simulated reads nor results touch them), built
with bulk_create so a study of thousands of nodes takes a fraction of a second. Reference calls,
sizes and levels follow a seeded draw; "external" cohorts have more small nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from readerstudy.cohorts.models import Cohort, CTSeries, Node, Patient, ReferenceStandard

LEVELS = ("II", "III", "IV", "V", "IB")


def db_cohort(
    *,
    name: str,
    patients: int,
    nodes_per_patient: tuple[int, int] = (1, 5),
    seed: int = 0,
    institution: str = "",
    prevalence: Sequence[float] = (0.4, 0.3, 0.3),
) -> Cohort:
    """A cohort of ``patients`` with 1..5 nodes each, reference standard included."""
    rng = np.random.default_rng(seed)
    external = "external" in f"{name} {institution}".lower()
    cohort = Cohort.objects.create(
        name=name,
        institution=institution,
        content_sha256=hashlib.sha256(f"db-cohort:{name}:{seed}".encode()).hexdigest(),
        is_synthetic=True,
    )
    patient_rows = Patient.objects.bulk_create(
        Patient(cohort=cohort, pseudonym=f"{name[:3].upper()}-{seed}-{i:05d}")
        for i in range(patients)
    )
    series = CTSeries.objects.bulk_create(
        CTSeries(
            patient=patient,
            study_instance_uid=f"2.25.{seed}.{cohort.pk}.{i}",
            series_instance_uid=f"2.25.{seed}.{cohort.pk}.{i}.1",
            rows=256,
            columns=256,
            slice_count=40,
            pixel_spacing_row_mm=0.7,
            pixel_spacing_column_mm=0.7,
            slice_spacing_mm=3.0,
            image_orientation=[1, 0, 0, 0, 1, 0],
            first_position=[0, 0, 0],
            label_map="db-only/none.npz",
        )
        for i, patient in enumerate(patient_rows)
    )
    nodes = []
    calls = []
    low, high = nodes_per_patient
    for s in series:
        # a patient's nodes share the disease: metastatic patients have mostly metastatic nodes
        diseased = rng.random() < 1 - prevalence[0]
        for k in range(int(rng.integers(low, high + 1))):
            if diseased and rng.random() < 0.85:
                call = "ene" if rng.random() < prevalence[2] / (1 - prevalence[0]) else "metastasis"
            else:
                call = "benign"
            short = float(rng.uniform(5, 12) if external else rng.uniform(7, 20))
            nodes.append(
                Node(
                    series=s,
                    label=f"N{k + 1}",
                    mask_label=k + 1,
                    level=LEVELS[int(rng.integers(0, len(LEVELS)))],
                    side="left" if k % 2 else "right",
                    voxel_count=100,
                    centroid_voxel=[1, 1, 1],
                    centroid_mm=[1, 1, 1],
                    bbox=[0, 0, 0, 2, 2, 2],
                    short_axis_mm=round(short, 1),
                    long_axis_mm=round(short * 1.4, 1),
                    volume_mm3=300,
                )
            )
            calls.append(call)
    created = Node.objects.bulk_create(nodes, batch_size=2000)
    ReferenceStandard.objects.bulk_create(
        (
            ReferenceStandard(node=node, call=call, ene_extent_mm=2.5 if call == "ene" else None)
            for node, call in zip(created, calls, strict=True)
        ),
        batch_size=2000,
    )
    return cohort


def db_model_predictions(node_rows: Sequence[tuple], *, label: str, seed: int) -> None:
    """A registered model version's probabilities for every node: softmax of noisy logits that
    favour the reference class (an AUC near 001's DeepENE), stored as a prediction run would.
    ``node_rows``: (node id, reference call, ...) per node."""
    from readerstudy.aimodels.models import ModelKind, ModelVersion, Prediction

    version = ModelVersion.objects.create(
        label=label,
        kind=ModelKind.DEEP,
        bundle_path=label,
        bundle_sha256="0" * 64,
        files={},
        config={"benchmark": True},
        seed=seed,
        n_folds=5,
        code_sha256="0" * 64,
        intended_use="benchmark only",
    )
    rng = np.random.default_rng(seed)
    classes = {"benign": 0, "metastasis": 1, "ene": 2}
    predictions = []
    for node_id, reference, *_ in node_rows:
        logits = rng.normal(0.0, 1.0, 3)
        logits[classes[reference]] += 1.8
        p = np.exp(logits - logits.max())
        p /= p.sum()
        predictions.append(
            Prediction(
                model_version=version,
                node_id=node_id,
                p_benign=float(p[0]),
                p_metastasis=float(p[1]),
                p_ene=float(p[2]),
            )
        )
    Prediction.objects.bulk_create(predictions, batch_size=5000)
