"""Cohort pages for coordinators: list, zip upload, import job progress. Thin: services do the work."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy.cohorts import selectors, services
from readerstudy.cohorts.errors import CohortImportError


class UploadForm(forms.Form):
    archive = forms.FileField(
        help_text="a .zip of one cohort folder (see the import format)",
        widget=forms.FileInput(attrs={"accept": ".zip,application/zip"}),
    )


@login_required
@permission_required("cohorts.view_cohort", raise_exception=True)
def cohort_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "cohorts/list.html",
        {
            "cohorts": selectors.cohort_list(user=request.user),
            "jobs": selectors.import_job_list(user=request.user)[:20],
        },
    )


@login_required
@permission_required("cohorts.add_importjob", raise_exception=True)
def cohort_upload_view(request: HttpRequest) -> HttpResponse:
    # Bound on every POST, also one without fields: "no file chosen" is an error, not a blank form.
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        try:
            job = services.import_job_create(user=request.user, upload=form.cleaned_data["archive"])
        except CohortImportError as exc:
            form.add_error("archive", str(exc))
        else:
            messages.info(request, f"Upload received; import job {job.pk} is queued.")
            return redirect("cohorts:job", job_id=job.pk)
    return render(
        request,
        "cohorts/upload.html",
        {"form": form, "max_bytes": settings.COHORT_UPLOAD_MAX_BYTES},
    )


@login_required
def import_job_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.import_job_get(user=request.user, job_id=job_id)
    if job is None:
        raise Http404("no such import job")
    return render(request, "cohorts/job.html", {"job": job})


class ImportJobStatusApi(APIView):
    """GET the status and progress of one import job (polled by the job page)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ImportJobStatus"

        id = serializers.IntegerField()
        status = serializers.CharField()
        attempts = serializers.IntegerField()
        progress = serializers.IntegerField()
        stage = serializers.CharField()
        error = serializers.CharField()
        archive_name = serializers.CharField()
        cohort = serializers.CharField(source="cohort.name", default=None)
        created_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request, job_id: int) -> Response:
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        if job is None:
            raise Http404("no such import job")
        return Response(self.OutputSerializer(job).data)
