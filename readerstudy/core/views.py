"""Home page (a role-aware start page) and the health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from readerstudy.accounts.models import Role
from readerstudy.cohorts.selectors import cohort_list, import_job_list
from readerstudy.studies.permissions import sees_every_study
from readerstudy.studies.selectors import reading_worklist, study_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    is_reader = user.has_role(Role.READER)
    context = {
        "is_reader": is_reader,
        "is_coordinator": user.has_role(Role.COORDINATOR) or user.is_superuser,
        "is_statistician": user.has_role(Role.STATISTICIAN),
        # A reader's assigned, open studies with their progress and Start/Resume.
        "worklist": reading_worklist(reader=user) if is_reader else [],
        # Readers find their studies under their assignments above.
        "studies": study_list(user=user) if sees_every_study(user) else [],
        "cohorts": cohort_list(user=user),
        "jobs": import_job_list(user=user)[:5] if user.has_perm("cohorts.view_importjob") else [],
    }
    return render(request, "home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
