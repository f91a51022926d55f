"""Celery tasks for models: thin wrappers that fetch by id and call a service.

Named ``readerstudy.aimodels.tasks.*``, which settings.CELERY_TASK_ROUTES sends to the
``inference`` queue (GPU workers on other machines may consume it: docker/compose.yaml).
"""

from celery import Task, shared_task
from django.conf import settings

from readerstudy.aimodels import services


def _retry(task: Task, run_id: int, exc: Exception) -> None:
    if isinstance(exc, services.ModelRunTransientError):
        raise task.retry(
            args=(run_id,),
            kwargs={"retry_of_attempt": exc.attempt},
            countdown=exc.retry_in_seconds,
            exc=exc,
        ) from exc
    # The database was unreachable before an attempt began: just try again.
    raise task.retry(
        countdown=settings.MODEL_RUN_RETRY_DELAY_SECONDS,
        max_retries=settings.MODEL_RUN_MAX_ATTEMPTS,
        exc=exc,
    ) from exc


@shared_task(
    bind=True,
    name="readerstudy.aimodels.tasks.train_model",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the run counts its attempts (MODEL_RUN_MAX_ATTEMPTS)
)
def train_model(self: Task, run_id: int, retry_of_attempt: int | None = None) -> None:
    try:
        ready = services.training_run_inputs_ready(run_id=run_id)
        if ready is None:  # a fusion run whose input runs are still under way
            raise self.retry(countdown=settings.MODEL_RUN_RETRY_DELAY_SECONDS)
        if ready:
            services.training_run_execute(run_id=run_id, retry_of_attempt=retry_of_attempt)
    except (services.ModelRunTransientError, *services.TRANSIENT_ERRORS) as exc:
        _retry(self, run_id, exc)


@shared_task(
    bind=True,
    name="readerstudy.aimodels.tasks.predict_cohort",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def predict_cohort(self: Task, run_id: int, retry_of_attempt: int | None = None) -> None:
    try:
        services.prediction_run_execute(run_id=run_id, retry_of_attempt=retry_of_attempt)
    except (services.ModelRunTransientError, *services.TRANSIENT_ERRORS) as exc:
        _retry(self, run_id, exc)


@shared_task(
    bind=True,
    name="readerstudy.aimodels.tasks.compute_attribution",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
)
def compute_attribution(self: Task, attribution_id: int) -> None:
    try:
        services.attribution_compute(attribution_id=attribution_id)
    except services.TRANSIENT_ERRORS as exc:
        raise self.retry(countdown=settings.MODEL_RUN_RETRY_DELAY_SECONDS, exc=exc) from exc
