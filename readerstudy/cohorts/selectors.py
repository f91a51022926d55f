"""Reads for cohorts."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from readerstudy.accounts.models import User
from readerstudy.cohorts.models import Cohort, ImportJob


def cohort_list(*, user: User) -> QuerySet[Cohort]:
    """Cohorts with patient and node counts; empty for users without the view permission."""
    if not user.has_perm("cohorts.view_cohort"):
        return Cohort.objects.none()
    return Cohort.objects.annotate(
        patient_count=Count("patients", distinct=True),
        node_count=Count("patients__series__nodes", distinct=True),
    ).order_by("name")


def import_job_list(*, user: User) -> QuerySet[ImportJob]:
    """Import jobs a user may see: all for those with the permission, else their own."""
    jobs = ImportJob.objects.select_related("cohort", "created_by")
    if user.has_perm("cohorts.view_importjob"):
        return jobs
    return jobs.filter(created_by=user)


def import_job_get(*, user: User, job_id: int) -> ImportJob | None:
    return import_job_list(user=user).filter(pk=job_id).first()
