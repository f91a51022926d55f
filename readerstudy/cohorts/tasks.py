"""Celery tasks for cohorts: thin wrappers that fetch by id and call a service."""

from celery import Task, shared_task
from django.conf import settings

from readerstudy.cohorts import services


@shared_task(
    bind=True,
    name="readerstudy.cohorts.tasks.import_cohort_archive",
    acks_late=True,
    reject_on_worker_lost=True,
    # The job counts its attempts (COHORT_IMPORT_MAX_ATTEMPTS) and ends itself after the last.
    max_retries=None,
)
def import_cohort_archive(self: Task, job_id: int, retry_of_attempt: int | None = None) -> None:
    try:
        services.import_job_run(job_id=job_id, retry_of_attempt=retry_of_attempt)
    except services.ImportJobTransientError as exc:
        # Only a named transient error (the database went away) is retried; bad input never.
        raise self.retry(
            args=(job_id,),
            kwargs={"retry_of_attempt": exc.attempt},
            countdown=exc.retry_in_seconds,
            exc=exc,
        ) from exc
    except services.TRANSIENT_ERRORS as exc:
        # The database was unreachable before an attempt could begin (or record its end):
        # nothing to put back, just try again; the job's status decides what that does.
        raise self.retry(
            countdown=settings.COHORT_IMPORT_RETRY_DELAY_SECONDS,
            max_retries=settings.COHORT_IMPORT_MAX_ATTEMPTS,
            exc=exc,
        ) from exc


@shared_task(name="readerstudy.cohorts.tasks.ping")
def ping(marker: str) -> str:
    """Round trip used by the health check and the worker test: records that a worker ran.

    Routed to the health queue (settings.CELERY_TASK_ROUTES), which a worker of its own
    consumes, so a long import never delays it.
    """
    from readerstudy.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(marker=marker)
    return marker
