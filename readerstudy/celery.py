"""Celery application.

Habits taken from grand-challenge.org: late acknowledgement (a task lost with its worker is
redelivered), one queue per kind of resource (and one for health pings, consumed by a worker of
its own), retries only on named transient errors (set per task), and tasks that are idempotent
so a redelivery is harmless.

Every worker also sweeps import jobs (``cohorts.services.import_job_sweep``): once when it is
ready and then every COHORT_IMPORT_SWEEP_INTERVAL_SECONDS, in a background thread, so a job whose
worker was killed is resumed without waiting for the broker's visibility timeout and without a
beat scheduler. The sweep is safe to run in several workers at once.
"""

import logging
import os
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")

app = Celery("readerstudy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
_sweeper_stop = threading.Event()


def _sweep_once() -> None:
    from django.db import connection

    from readerstudy.cohorts.services import import_job_sweep

    try:
        report = import_job_sweep()
    except Exception:  # the next round tries again; a sweep must never stop the worker
        logger.exception("import job sweep failed")
    else:
        if report.resumed or report.failed or report.folders_removed or report.archives_removed:
            logger.info("import job sweep: %s", report)
    finally:
        connection.close()  # this thread's own connection; don't hold it between rounds


def _sweep_periodically(interval: float) -> None:
    while not _sweeper_stop.wait(interval):
        _sweep_once()


@worker_ready.connect
def _start_import_job_sweeper(**kwargs: object) -> None:
    from django.conf import settings

    interval = settings.COHORT_IMPORT_SWEEP_INTERVAL_SECONDS
    _sweeper_stop.clear()
    threading.Thread(target=_sweep_once, name="import-job-sweep-start", daemon=True).start()
    if interval > 0:
        threading.Thread(
            target=_sweep_periodically,
            args=(interval,),
            name="import-job-sweeper",
            daemon=True,
        ).start()


@worker_shutdown.connect
def _stop_import_job_sweeper(**kwargs: object) -> None:
    _sweeper_stop.set()
