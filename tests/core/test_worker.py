"""A task queued from Django really runs on a separate Celery worker process over Redis."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_task_runs_on_a_real_worker(celery_worker_process) -> None:
    from readerstudy.cohorts.tasks import ping
    from readerstudy.core.models import WorkerHeartbeat

    marker = f"ping-{uuid.uuid4().hex}"
    ping.delay(marker)
    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.filter(marker=marker).first(), timeout=90)
    assert heartbeat.marker == marker
    assert celery_worker_process["process"].poll() is None  # the worker is a live separate process
