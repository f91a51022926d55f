"""Celery tasks for cohorts: thin wrappers that fetch by id and call a service."""

from celery import shared_task
from django.db import OperationalError

from readerstudy.cohorts import services


@shared_task(
    name="readerstudy.cohorts.tasks.import_cohort_archive",
    acks_late=True,
    autoretry_for=(OperationalError,),  # a database that blinked; bad input is never retried
    retry_backoff=True,
    max_retries=3,
)
def import_cohort_archive(job_id: int) -> None:
    services.import_job_run(job_id=job_id)


@shared_task(name="readerstudy.cohorts.tasks.ping")
def ping(marker: str) -> str:
    """Round trip used by the health check and the worker test: records that a worker ran."""
    from readerstudy.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(marker=marker)
    return marker
