"""Reads for model versions, runs and predictions, and the two hooks other apps call.

Who sees model output: coordinators and statisticians (``aimodels.view_prediction``) see every
prediction; a reader sees one only through :func:`prediction_for_reader_item`, i.e. for a case
of their own reading order in an AI-aided arm of an open study that has a model version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import QuerySet

from readerstudy.accounts.models import User
from readerstudy.aimodels.models import (
    Attribution,
    ModelVersion,
    Prediction,
    PredictionRun,
    TrainingRun,
)
from readerstudy.cohorts.models import Cohort
from readerstudy.studies.models import ReaderStudy, ReadingOrderEntry, StudyStatus


def sees_models(user: User) -> bool:
    return user.is_authenticated and user.has_perm("aimodels.view_modelversion")


def sees_predictions(user: User) -> bool:
    return user.is_authenticated and user.has_perm("aimodels.view_prediction")


def model_version_list(*, user: User) -> QuerySet[ModelVersion]:
    if not sees_models(user):
        return ModelVersion.objects.none()
    return ModelVersion.objects.select_related("training_cohort")


def model_version_get(*, user: User, version_id: int) -> ModelVersion | None:
    return model_version_list(user=user).filter(pk=version_id).first()


def training_run_list(*, user: User) -> QuerySet[TrainingRun]:
    if not user.is_authenticated or not user.has_perm("aimodels.view_trainingrun"):
        return TrainingRun.objects.none()
    return TrainingRun.objects.select_related("cohort", "model_version")


def prediction_run_list(*, user: User) -> QuerySet[PredictionRun]:
    if not user.is_authenticated or not user.has_perm("aimodels.view_predictionrun"):
        return PredictionRun.objects.none()
    return PredictionRun.objects.select_related("cohort", "model_version")


def prediction_list(
    *, user: User, version: ModelVersion, cohort: Cohort | None = None
) -> QuerySet[Prediction]:
    """A version's predictions (of one cohort), with node, patient and reference, for staff."""
    if not sees_predictions(user):
        return Prediction.objects.none()
    rows = Prediction.objects.filter(model_version=version).select_related(
        "node__series__patient__cohort", "node__reference"
    )
    if cohort is not None:
        rows = rows.filter(node__series__patient__cohort=cohort)
    return rows.order_by("node__series__patient__pseudonym", "node__label")


def prediction_cohorts(*, version: ModelVersion) -> QuerySet[Cohort]:
    return Cohort.objects.filter(
        patients__series__nodes__predictions__model_version=version
    ).distinct()


def attribution_get(*, version: ModelVersion, node_id: int) -> Attribution | None:
    return Attribution.objects.filter(model_version=version, node_id=node_id).first()


def _auc_row(name: str, scores: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from analysis.roc import auc_confidence_interval

    n_pos, n_neg = int(truth.sum()), int(len(truth) - truth.sum())
    row: dict[str, Any] = {"task": name, "n_positive": n_pos, "n_negative": n_neg}
    if n_pos == 0 or n_neg == 0:
        return {**row, "auc": None, "ci_low": None, "ci_high": None}
    est = auc_confidence_interval(scores, truth)
    return {**row, "auc": est.auc, "ci_low": est.ci[0], "ci_high": est.ci[1]}


def prediction_metrics(
    *, version: ModelVersion, cohort: Cohort, out_of_fold: bool | None = None
) -> list[dict[str, Any]]:
    """ENE (p_ene) and metastasis (1 - p_benign) AUCs with DeLong 95% CIs (``analysis``) of a
    version's predictions on one cohort's nodes with a reference standard."""
    rows = Prediction.objects.filter(
        model_version=version,
        node__series__patient__cohort=cohort,
        node__reference__isnull=False,
    )
    if out_of_fold is not None:
        rows = rows.filter(out_of_fold=out_of_fold)
    values = list(rows.values_list("p_benign", "p_ene", "node__reference__call"))
    if not values:
        return []
    p_benign = np.array([v[0] for v in values])
    p_ene = np.array([v[1] for v in values])
    call = np.array([v[2] for v in values])
    return [
        _auc_row("ENE", p_ene, (call == "ene").astype(int)),
        _auc_row("metastasis", 1.0 - p_benign, (call != "benign").astype(int)),
    ]


def model_card(*, version: ModelVersion) -> dict[str, Any]:
    """What the model card page shows besides the version's own fields."""
    internal = []
    if version.training_cohort is not None:
        internal = prediction_metrics(
            version=version, cohort=version.training_cohort, out_of_fold=True
        )
    external = []
    for cohort in prediction_cohorts(version=version).exclude(pk=version.training_cohort_id):
        external.append(
            {"cohort": cohort, "metrics": prediction_metrics(version=version, cohort=cohort)}
        )
    return {
        "internal_metrics": internal,
        "external": external,
        "files": sorted(version.files.items()),
        "studies": list(version.studies.values_list("name", flat=True)),
    }


def prediction_for_reader_item(*, entry: ReadingOrderEntry) -> dict[str, Any] | None:
    """The model output a reader may see for one entry of their reading order, or None.

    Only for an entry of an arm that shows model output, of an open study with a model version,
    and when that version has a prediction for the node: {"model": label, "probabilities":
    {"benign", "metastasis", "ene"}}. The caller has checked that ``entry`` is the requesting
    reader's own (it comes from their worklist)."""
    arm = entry.arm
    study = arm.study
    if not arm.shows_model_output or study.status != StudyStatus.OPEN:
        return None
    if study.model_version_id is None:
        return None
    prediction = Prediction.objects.filter(
        model_version_id=study.model_version_id, node_id=entry.case.node_id
    ).first()
    if prediction is None:
        return None
    return {"model": study.model_version.label, "probabilities": prediction.probabilities}


def predictions_for_study(*, user: User, study: ReaderStudy) -> dict[int, dict[str, float]]:
    """{node id: probabilities} of the study's model version for the study's nodes, for staff
    dashboards (empty for users who may not see predictions, or without a model version)."""
    if not sees_predictions(user) or study.model_version_id is None:
        return {}
    rows = Prediction.objects.filter(
        model_version_id=study.model_version_id, node__study_cases__study=study
    )
    return {p.node_id: p.probabilities for p in rows}
