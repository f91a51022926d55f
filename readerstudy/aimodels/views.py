"""Model pages for coordinators and statisticians: model cards, runs with live progress, start
and cancel forms, predictions as CSV, integrated-gradients overlays. Readers get 403 everywhere
here. Thin: services and selectors do the work."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from readerstudy.aimodels import selectors, services
from readerstudy.aimodels.models import (
    ModelKind,
    ModelVersion,
    PredictionRun,
    RunStatus,
    TrainingRun,
)
from readerstudy.cohorts.models import Cohort, Node

VIEW = "aimodels.view_modelversion"


def _version(request: HttpRequest, version_id: int) -> ModelVersion:
    version = selectors.model_version_get(user=request.user, version_id=version_id)
    if version is None:
        raise Http404("no such model version")
    return version


@login_required
@permission_required(VIEW, raise_exception=True)
def model_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "aimodels/list.html",
        {"versions": selectors.model_version_list(user=request.user)},
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def model_card_view(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    return render(
        request,
        "aimodels/card.html",
        {"version": version, **selectors.model_card(version=version)},
    )


@login_required
@permission_required("aimodels.view_prediction", raise_exception=True)
def predictions_csv_view(request: HttpRequest, version_id: int, cohort_id: int) -> HttpResponse:
    version = _version(request, version_id)
    cohort = get_object_or_404(Cohort, pk=cohort_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="predictions-{version.label}-cohort{cohort.pk}.csv"'
    )
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(
        [
            "model_version",
            "cohort",
            "patient",
            "node",
            "node_id",
            "reference",
            "p_benign",
            "p_metastasis",
            "p_ene",
            "out_of_fold",
            "fold",
        ]
    )
    for p in selectors.prediction_list(user=request.user, version=version, cohort=cohort):
        reference = getattr(p.node, "reference", None)
        writer.writerow(
            [
                version.label,
                cohort.name,
                p.node.series.patient.pseudonym,
                p.node.label,
                p.node_id,
                reference.call if reference else "",
                f"{p.p_benign:.6f}",
                f"{p.p_metastasis:.6f}",
                f"{p.p_ene:.6f}",
                int(p.out_of_fold),
                "" if p.fold is None else p.fold,
            ]
        )
    return response


@login_required
@permission_required("aimodels.view_attribution", raise_exception=True)
def attribution_view(request: HttpRequest, version_id: int, node_id: int) -> HttpResponse:
    version = _version(request, version_id)
    node = get_object_or_404(Node.objects.select_related("series__patient"), pk=node_id)
    if request.method == "POST":
        if not request.user.has_perm("aimodels.add_attribution"):
            return HttpResponse(status=403)
        try:
            services.attribution_request(model_version=version, node=node)
        except services.ModelRunError as exc:
            messages.error(request, str(exc))
        return redirect("aimodels:attribution", version_id=version.pk, node_id=node.pk)
    return render(
        request,
        "aimodels/attribution.html",
        {
            "version": version,
            "node": node,
            "attribution": selectors.attribution_get(version=version, node_id=node.pk),
            "prediction": version.predictions.filter(node=node).first(),
        },
    )


@login_required
@permission_required("aimodels.view_attribution", raise_exception=True)
def attribution_png_view(request: HttpRequest, version_id: int, node_id: int) -> FileResponse:
    version = _version(request, version_id)
    item = selectors.attribution_get(version=version, node_id=node_id)
    if item is None or item.status != RunStatus.SUCCEEDED or not item.image:
        raise Http404("not computed yet")
    return FileResponse(item.image.open("rb"), content_type="image/png")


@login_required
@permission_required("aimodels.view_trainingrun", raise_exception=True)
def run_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "aimodels/runs.html",
        {
            "training_runs": selectors.training_run_list(user=request.user)[:50],
            "prediction_runs": selectors.prediction_run_list(user=request.user)[:50],
        },
    )


def _run_json(run: TrainingRun | PredictionRun, kind: str) -> dict:
    return {
        "id": run.pk,
        "type": kind,
        "status": run.status,
        "status_display": run.get_status_display(),
        "progress": round(run.progress, 4),
        "stage": run.stage,
        "eta_seconds": None if run.eta_seconds is None else round(run.eta_seconds),
        "error": run.error,
        "attempts": run.attempts,
        "cancel_requested": run.cancel_requested,
        "model_version": run.model_version.label if run.model_version else None,
    }


@login_required
@permission_required("aimodels.view_trainingrun", raise_exception=True)
def run_status_view(request: HttpRequest) -> JsonResponse:
    """Status of the latest runs, polled by static/js/model_runs.js."""
    return JsonResponse(
        {
            "runs": [
                _run_json(r, "training")
                for r in selectors.training_run_list(user=request.user)[:50]
            ]
            + [
                _run_json(r, "prediction")
                for r in selectors.prediction_run_list(user=request.user)[:50]
            ]
        }
    )


class TrainForm(forms.Form):
    cohort = forms.ModelChoiceField(queryset=Cohort.objects.all())
    kind = forms.ChoiceField(choices=ModelKind.choices)
    folds = forms.IntegerField(min_value=2, max_value=20, initial=5)
    seed = forms.IntegerField(min_value=0, initial=1)
    epochs = forms.IntegerField(min_value=1, max_value=500, required=False)
    deep_input = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(kind=ModelKind.DEEP), required=False
    )
    radiomics_input = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(kind=ModelKind.RADIOMICS), required=False
    )
    predict_cohorts = forms.ModelMultipleChoiceField(
        queryset=Cohort.objects.all(), required=False, help_text="predicted once trained"
    )
    intended_use = forms.CharField(widget=forms.Textarea, required=False)


@login_required
@permission_required("aimodels.add_trainingrun", raise_exception=True)
def train_view(request: HttpRequest) -> HttpResponse:
    form = TrainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = services.training_run_create(
                cohort=data["cohort"],
                kind=data["kind"],
                n_folds=data["folds"],
                seed=data["seed"],
                options={"epochs": data["epochs"]},
                deep_input=data["deep_input"],
                radiomics_input=data["radiomics_input"],
                predict_cohorts=list(data["predict_cohorts"]),
                intended_use=data["intended_use"],
                user=request.user,
            )
        except services.ModelRunError as exc:
            form.add_error(None, str(exc))
        else:
            messages.info(request, f"Training run {run.pk} is queued.")
            return redirect("aimodels:runs")
    return render(request, "aimodels/start.html", {"form": form, "title": "Train a model"})


class PredictForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.all())
    cohort = forms.ModelChoiceField(queryset=Cohort.objects.all())


@login_required
@permission_required("aimodels.add_predictionrun", raise_exception=True)
def predict_view(request: HttpRequest) -> HttpResponse:
    form = PredictForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = services.prediction_run_create(
            model_version=form.cleaned_data["model_version"],
            cohort=form.cleaned_data["cohort"],
            user=request.user,
        )
        messages.info(request, f"Prediction run {run.pk} is queued.")
        return redirect("aimodels:runs")
    return render(request, "aimodels/start.html", {"form": form, "title": "Predict a cohort"})


def _cancel(request: HttpRequest, run: TrainingRun | PredictionRun) -> HttpResponse:
    try:
        run = services.run_cancel(run=run)
    except ValidationError as exc:  # pragma: no cover - run_cancel raises none today
        messages.error(request, str(exc))
    else:
        messages.info(request, f"{run}: cancellation requested.")
    return redirect("aimodels:runs")


@login_required
@permission_required("aimodels.change_trainingrun", raise_exception=True)
@require_POST
def training_cancel_view(request: HttpRequest, training_run_id: int) -> HttpResponse:
    return _cancel(request, get_object_or_404(TrainingRun, pk=training_run_id))


@login_required
@permission_required("aimodels.change_predictionrun", raise_exception=True)
@require_POST
def prediction_cancel_view(request: HttpRequest, prediction_run_id: int) -> HttpResponse:
    return _cancel(request, get_object_or_404(PredictionRun, pk=prediction_run_id))
