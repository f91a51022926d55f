"""Celery task: bring a study's cached results up to date (thin: fetch by id, call the service)."""

from celery import shared_task
from django.db import OperationalError

from readerstudy.results import services
from readerstudy.studies.models import ReaderStudy


@shared_task(
    name="readerstudy.results.tasks.results_refresh",
    acks_late=True,
    # Only a lost database connection is worth another try; bad data would fail again.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def results_refresh(study_id: int) -> int | None:
    """Compute and store the study's results unless a snapshot for its current inputs exists
    (idempotent: a second run finds that snapshot). Returns the snapshot id."""
    study = ReaderStudy.objects.filter(pk=study_id).first()
    if study is None:
        return None
    return services.results_current(study=study).pk
