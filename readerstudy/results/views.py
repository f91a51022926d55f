"""Results pages, downloads and API. Everything here is for users who see a study in full
(``results.permissions.may_see_results``); readers get 403 on every route."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.data import TASKS
from readerstudy.reporting.methods import methods_paragraphs, software_versions
from readerstudy.reporting.pdf import report_curves, report_pdf
from readerstudy.results import dashboard, exports, selectors, services
from readerstudy.results.models import ResultSnapshot
from readerstudy.results.permissions import may_see_results
from readerstudy.studies.models import ReaderStudy


def _study_for_results(request: HttpRequest | Request, study_id: int) -> ReaderStudy:
    if not may_see_results(request.user):
        raise PermissionDenied("results are for coordinators and statisticians")
    study = ReaderStudy.objects.filter(pk=study_id).first()
    if study is None:
        raise Http404("no such study")
    return study


def _refresh_later(study: ReaderStudy) -> None:
    from readerstudy.results.tasks import results_refresh

    transaction.on_commit(lambda: results_refresh.delay(study.pk))


class _Echo:
    """A file-like object whose write returns the line: csv.writer feeds a streaming response."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(
    rows: Iterator[tuple[Any, ...]], header: tuple[str, ...], *, batch: int = 2000
) -> Iterator[str]:
    """CSV text in blocks of ``batch`` rows (one block per write keeps the server's per-chunk
    overhead small; memory stays one block)."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    block = [writer.writerow(header)]
    for row in rows:
        block.append(writer.writerow(exports.csv_cells(row)))
        if len(block) >= batch:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def _attachment(response: HttpResponse | StreamingHttpResponse, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def reads_csv_view(request: HttpRequest, study_id: int) -> StreamingHttpResponse:
    """Every read as a tidy CSV row (reader x node x arm), streamed with flat memory."""
    study = _study_for_results(request, study_id)
    response = StreamingHttpResponse(
        _csv_lines(selectors.read_rows(study=study), selectors.READ_COLUMNS),
        content_type="text/csv; charset=utf-8",
    )
    return _attachment(response, f"study-{study.pk}-reads.csv")


@login_required
def data_dictionary_view(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_for_results(request, study_id)
    response = HttpResponse(
        exports.data_dictionary_markdown(study=study), content_type="text/markdown; charset=utf-8"
    )
    return _attachment(response, f"study-{study.pk}-reads-dictionary.md")


@login_required
def analysis_json_view(request: HttpRequest, study_id: int) -> JsonResponse:
    """The analysis of the current reads (computed now if the cached one is stale)."""
    study = _study_for_results(request, study_id)
    snapshot = services.results_current(study=study)
    response = JsonResponse(_snapshot_document(snapshot), json_dumps_params={"indent": 1})
    return _attachment(response, f"study-{study.pk}-analysis.json")


@login_required
def report_pdf_view(request: HttpRequest, study_id: int) -> HttpResponse:
    """The PDF report (methods, figures, 001's tables) of the current reads, cached per
    fingerprint: the same numbers as the dashboard and the analysis JSON."""
    study = _study_for_results(request, study_id)
    snapshot = services.results_current(study=study)
    key = f"results:pdf:{snapshot.fingerprint}"
    pdf = cache.get(key)
    if pdf is None:
        view = dashboard.snapshot_report_view(snapshot)
        if view is None:
            raise Http404("no results to report yet")
        node_level = snapshot.results["node_level"]
        pdf = report_pdf(
            view,
            title=f"Reader study: {study.name}",
            computed_at=snapshot.computed_at,
            n_reads=snapshot.n_reads,
            methods=methods_paragraphs(node_level, versions=software_versions()),
            curves=report_curves(node_level),
        )
        cache.set(key, pdf, 24 * 3600)
    response = HttpResponse(pdf, content_type="application/pdf")
    return _attachment(response, f"study-{study.pk}-report.pdf")


def _task_of(request: HttpRequest) -> str:
    task = request.GET.get("task", "ene")
    if task not in TASKS:
        raise ValueError(f"task {task!r}: choose one of {', '.join(TASKS)}")
    return task


@login_required
def imrmc_view(request: HttpRequest, study_id: int) -> HttpResponse:
    """iMRMC input file (.imrmc; also read by RJafroc's DfReadDataFile(format = "iMRMC"))."""
    study = _study_for_results(request, study_id)
    try:
        task = _task_of(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(
        exports.imrmc_text(study=study, task=task), content_type="text/plain; charset=utf-8"
    )
    return _attachment(response, f"study-{study.pk}-{task}.imrmc")


@login_required
def mrmcaov_view(request: HttpRequest, study_id: int) -> HttpResponse:
    """Long CSV for R MRMCaov (reader, treatment, case, truth, rating)."""
    study = _study_for_results(request, study_id)
    try:
        task = _task_of(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(
        exports.mrmcaov_csv(study=study, task=task), content_type="text/csv; charset=utf-8"
    )
    return _attachment(response, f"study-{study.pk}-{task}-mrmcaov.csv")


@login_required
def dashboard_view(request: HttpRequest, study_id: int) -> HttpResponse:
    """The cached results (never computed in the request: a stale one is shown while a worker
    brings it up to date)."""
    study = _study_for_results(request, study_id)
    snapshot, up_to_date = services.results_latest(study=study)
    if not up_to_date:
        _refresh_later(study)
    context = {
        "study": study,
        "snapshot": snapshot,
        "up_to_date": up_to_date,
        "tasks": TASKS,
        "body": dashboard.snapshot_html(snapshot) if snapshot else None,
    }
    return render(request, "results/dashboard.html", context)


def _snapshot_document(snapshot: ResultSnapshot) -> dict[str, Any]:
    return {
        "computed_at": snapshot.computed_at.isoformat(),
        "fingerprint": snapshot.fingerprint,
        "n_reads": snapshot.n_reads,
        "seconds": snapshot.seconds,
        "results": snapshot.results,
    }


class StudyResultsApi(APIView):
    """GET the cached results of a study: ``status`` ready (up to date), stale (a refresh is
    queued; the old results come along) or pending (none yet; a computation is queued)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ready", "stale", "pending"])
        computed_at = serializers.DateTimeField(allow_null=True)
        fingerprint = serializers.CharField(allow_null=True)
        n_reads = serializers.IntegerField(allow_null=True)
        results = serializers.JSONField(allow_null=True)

        class Meta:
            ref_name = "StudyResults"

    @extend_schema(tags=["results"], responses=OutputSerializer)
    def get(self, request: Request, study_id: int) -> Response:
        study = _study_for_results(request, study_id)
        snapshot, up_to_date = services.results_latest(study=study)
        if not up_to_date:
            _refresh_later(study)
        data = {
            "status": "ready" if up_to_date else ("stale" if snapshot else "pending"),
            "computed_at": snapshot.computed_at if snapshot else None,
            "fingerprint": snapshot.fingerprint if snapshot else None,
            "n_reads": snapshot.n_reads if snapshot else None,
            "results": snapshot.results if snapshot else None,
        }
        return Response(self.OutputSerializer(data).data)
