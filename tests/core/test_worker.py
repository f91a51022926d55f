"""Tasks queued from Django really run on separate Celery worker processes over Redis.

Health pings have a queue and a worker process of their own: an import keeping the import
worker busy does not delay them.
"""

from __future__ import annotations

import io
import os
import time
import uuid
import zipfile
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from readerstudy.accounts.models import Role
from readerstudy.celery import app
from readerstudy.cohorts import services
from readerstudy.cohorts.models import ImportJob, JobStatus
from tests.cohort_factory import write_cohort
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

IMPORT_TASK = "readerstudy.cohorts.tasks.import_cohort_archive"
PING_TASK = "readerstudy.cohorts.tasks.ping"


def test_task_runs_on_a_real_worker(celery_worker_process) -> None:
    from readerstudy.cohorts.tasks import ping
    from readerstudy.core.models import WorkerHeartbeat

    marker = f"ping-{uuid.uuid4().hex}"
    ping.delay(marker)
    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.filter(marker=marker).first(), timeout=90)
    assert heartbeat.marker == marker
    assert celery_worker_process["process"].poll() is None  # the worker is a live separate process


def test_ping_has_its_own_queue_and_imports_theirs() -> None:
    route = app.amqp.router.route
    assert route({}, PING_TASK, (), {})["queue"].name == settings.HEALTH_QUEUE == "health"
    assert route({}, IMPORT_TASK, (), {})["queue"].name == "imports"


def test_late_acknowledgement_settings_reach_the_app_and_the_tasks() -> None:
    """The Django settings are named so that Celery reads them (CELERY_ namespace)."""
    app.loader.import_default_modules()  # registers the tasks, whichever test ran before
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    for name in (IMPORT_TASK, PING_TASK):
        task = app.tasks[name]
        assert (task.acks_late, task.reject_on_worker_lost) == (True, True), name
    if settings.CELERY_BROKER_URL.startswith("redis"):
        options = app.conf.broker_transport_options
        assert options == settings.CELERY_BROKER_TRANSPORT_OPTIONS
        assert options["visibility_timeout"] == settings.BROKER_VISIBILITY_TIMEOUT_SECONDS


def test_a_parallel_test_process_has_its_own_broker_key_space() -> None:
    """Under pytest-xdist every test process's tasks go to its own Celery workers only."""
    process = os.environ.get("PYTEST_XDIST_WORKER")
    if process and settings.CELERY_BROKER_URL.startswith("redis"):
        assert app.conf.broker_transport_options["global_keyprefix"] == f"{process}:"


def test_running_workers_use_these_settings(celery_worker_process: dict[str, Any]) -> None:
    """Each worker process reports the configuration it really runs with."""

    def ours() -> dict[str, dict]:  # the fixture's work worker and health worker
        replies = app.control.inspect(timeout=5).conf(with_defaults=True) or {}
        found = {name: conf for name, conf in replies.items() if name.startswith("test-")}
        return found if len(found) >= 2 else {}

    confs = wait_for(ours, timeout=60)
    for name, conf in confs.items():
        assert conf["task_acks_late"] is True, name
        assert conf["task_reject_on_worker_lost"] is True, name
        assert conf["worker_prefetch_multiplier"] == 1, name
        options = conf["broker_transport_options"]
        assert options["visibility_timeout"] == settings.BROKER_VISIBILITY_TIMEOUT_SECONDS, name
        # Celery masks the value of any setting whose name holds "key": its presence must do.
        expected = set(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        assert set(options) == expected, name


def test_ping_is_answered_while_an_import_keeps_the_import_worker_busy(
    tmp_path, make_user, settings, celery_worker_process: dict[str, Any]
) -> None:
    from readerstudy.cohorts.tasks import ping
    from readerstudy.core.models import WorkerHeartbeat

    settings.MEDIA_ROOT = celery_worker_process["media_root"]
    folder = write_cohort(tmp_path / "cohort", name=f"Busy {uuid.uuid4().hex[:8]}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    # tests/worker_app.py keeps this job unpacking until the release file appears.
    archive = f"fault-slow-unpack-{uuid.uuid4().hex[:8]}.zip"
    job = services.import_job_create(
        user=make_user(Role.COORDINATOR), upload=SimpleUploadedFile(archive, buffer.getvalue())
    )
    release = celery_worker_process["release_dir"] / archive
    try:
        wait_for(
            lambda: ImportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exists(),
            timeout=90,
        )
        marker = f"ping-while-busy-{uuid.uuid4().hex}"
        sent = time.monotonic()
        ping.delay(marker)
        wait_for(lambda: WorkerHeartbeat.objects.filter(marker=marker).exists(), timeout=30)
        answered_after = time.monotonic() - sent
        # The import worker is still busy with the import: the health worker answered.
        assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
        print(f"\nping answered in {answered_after:.2f} s while import job {job.pk} ran")
    finally:
        release.touch()
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).has_ended, timeout=90)
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
